//! Backups through the real binary (issue 6, P12, P13): a served instance backs up to a local
//! directory and to an S3 server (moto, started by the test, behind a proxy the test switches
//! down and up). With the S3 side down a shipping run still reaches the local directory, and the
//! S3 destination's failure is in the status, in the audit trail (`backup.failed`) and in one
//! signed webhook alert (`backup_failed`); once it is back, the next run catches it up. Every
//! backup event kind is read back through the API; `/metrics` has each destination's age.
//! Offline, `backup verify` and `backup list` pass, and a restore from either destination gives
//! the last entries shipped (journal and audit log) and the state digest of the live data
//! directory. A canary in tenant data is in no file of the local destination.
//!
//! Needs `$TEST_S3_PYTHON` with `moto[server]` (`scripts/test` installs it and sets it).

#[path = "backup/api.rs"]
mod api;
#[path = "backup/cli.rs"]
mod cli;
mod common;
#[path = "backup/s3.rs"]
mod s3;
#[path = "common/tenant.rs"]
mod tenant;
#[path = "common/webhook.rs"]
mod webhook;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use api::{Tenant, events, has, run, seq, status};
use cli::{after, offline, restore};
use common::{Client, Layout, contains, files_under};
use serde_json::Value;

const SECRET: &str = "a webhook secret of thirty-two bytes!";
const LOCAL: &str = "local-eu-central";
const S3: &str = "s3-eu-west";
const BUCKET: &str = "strongroom-backups";
/// Upper bound for any one wait of this test.
const WAIT: Duration = Duration::from_secs(30);

/// `[backup]` with a local and an S3 destination (endpoint: the proxy), and `[alerts]` to the
/// webhook receiver; returns the configuration file.
fn write_config(layout: &Layout, proxy: u16, hook: u16) -> String {
    let dir = layout.root.path();
    let private = |name: &str, text: &str| {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create a private file");
        file.write_all(text.as_bytes()).expect("write");
        path
    };
    let credentials = private(
        "s3-credentials.json",
        r#"{"access_key_id":"testing","secret_access_key":"testing"}"#,
    );
    let secret = private("webhook.secret", SECRET);
    let settings = format!(
        r#"[backup]
allowed_jurisdictions = ["EU"]
# Only the run at start comes from the schedule; the test asks for every other.
ship_every_minutes = 1440
full_every_hours = 168

[[backup.destinations]]
name = "{LOCAL}"
kind = "local"
path = "{local}"
region = "eu-central-1"
jurisdiction = "EU"

[[backup.destinations]]
name = "{S3}"
kind = "s3"
bucket = "{BUCKET}"
prefix = "e2e"
endpoint = "http://127.0.0.1:{proxy}"
region = "{region}"
jurisdiction = "EU"
credentials_file = "{credentials}"

[alerts]
webhook_url = "http://127.0.0.1:{hook}/hook"
webhook_secret_file = "{secret}"
retry_first_secs = 1
"#,
        local = local_dir(layout).display(),
        region = s3::REGION,
        credentials = credentials.display(),
        secret = secret.display(),
    );
    let path = dir.join("strongroom.toml");
    std::fs::write(&path, settings).expect("config");
    path.display().to_string()
}

fn local_dir(layout: &Layout) -> PathBuf {
    layout.root.path().join("backups-local")
}

#[test]
fn backups_reach_a_directory_and_s3_and_a_destination_that_was_down_catches_up() {
    let started = Instant::now();
    let moto = s3::Moto::start();
    moto.create_bucket(BUCKET);
    let proxy = s3::Proxy::start(moto.port);
    let layout = Layout::new();
    let (hook, deliveries) = webhook::receiver(SECRET);
    let config = write_config(&layout, proxy.port, hook);
    let out = offline(&layout, &config, &["config", "check"]);
    assert!(out.contains("configuration ok"), "{out}");

    let server = layout.serve_with(&[("STRONGROOM_CONFIG", &config)]);
    let admin = Client::new(&layout, &server);
    the_run_at_start_ends(&admin);
    let canary = format!(
        "BACKUP-CANARY-{:016x}",
        common::Rng::new(common::seed("BACKUP_CANARY_SEED")).next_u64()
    );
    // a. A tenant, a collection and records, one holding the canary.
    let tenant = Tenant::create(&admin);
    tenant.add_notes((0..5).map(|i| format!("note {i}")));
    tenant.add_notes([format!("{canary} in a record")]);
    let full_to = full_backup(&admin);
    let down_to = ship_with_s3_down(&admin, &proxy, &tenant, full_to);
    let mut others = Vec::new();
    failure_alerted_and_recorded(&admin, &deliveries, &mut others, full_to, down_to);
    let (last_to, family) = s3_catches_up(&admin, &proxy, down_to);
    ages_in_metrics(&admin);

    assert_eq!(server.stop(), 0, "a clean stop");
    others.extend(deliveries.try_iter().map(|(valid, body)| {
        assert!(valid, "the signature verifies: {body}");
        serde_json::from_str::<Value>(&body).expect("alert json")
    }));
    assert!(
        others.iter().all(|a| a["rule"] == "disk_low"),
        "one backup_failed alert, and none else but the machine's own disk_low: {others:?}"
    );
    offline_checks_and_restores(&layout, &config, last_to, &family);
    no_canary_at_the_local_destination(&layout, &canary);
    a_deletion_reaches_s3(&layout, &config, &tenant.id);
    drop(proxy);
    drop(moto);
    println!(
        "backup end to end: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The schedule's run at start (a full backup to each destination: both hold none) ends well.
fn the_run_at_start_ends(admin: &Client) {
    api::until("the run at start to end at both destinations", || {
        let s = status(admin);
        match s.values().all(|d| !d["last_success_at"].is_null()) {
            true => Ok(()),
            false if s.values().any(|d| !d["last_error"].is_null()) => {
                panic!("the run at start failed: {s:?}")
            }
            false => Err(format!("{s:?}")),
        }
    });
}

/// b. A full backup to both destinations: one sealed set, at the same position.
fn full_backup(admin: &Client) -> u64 {
    let full = run(admin, "full");
    for (name, o) in &full {
        assert_eq!(o["ok"], true, "{name}: {o}");
        assert_eq!(o["kind"], "full", "{name}: {o}");
    }
    let full_to = seq(&full[LOCAL]["journal_to"]);
    assert_eq!(full[S3]["journal_to"], full_to, "{full:?}");
    assert_eq!(full[S3]["set"], full[LOCAL]["set"], "{full:?}");
    let s = status(admin);
    assert_eq!(seq(&s[LOCAL]["journal_to"]), full_to, "{s:?}");
    assert_eq!(seq(&s[S3]["journal_to"]), full_to, "{s:?}");
    full_to
}

/// c. S3 down: shipping goes on at the local destination; the S3 one fails, on its own.
fn ship_with_s3_down(admin: &Client, proxy: &s3::Proxy, tenant: &Tenant, full_to: u64) -> u64 {
    proxy.down();
    tenant.add_notes((5..8).map(|i| format!("note {i}")));
    let shipped = run(admin, "ship");
    let local = &shipped[LOCAL];
    assert_eq!(local["ok"], true, "{shipped:?}");
    assert_eq!(local["kind"], "increment", "{shipped:?}");
    let down_to = seq(&local["journal_to"]);
    assert!(down_to > full_to, "{down_to} > {full_to}: {shipped:?}");
    let failed = &shipped[S3];
    assert_eq!(failed["ok"], false, "{shipped:?}");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(S3),
        "the error names the destination: {failed}"
    );
    let s = status(admin);
    assert!(s[S3]["last_error"].is_string(), "{s:?}");
    assert_eq!(seq(&s[S3]["journal_to"]), full_to, "{s:?}");
    assert!(s[LOCAL]["last_error"].is_null(), "{s:?}");
    assert_eq!(seq(&s[LOCAL]["journal_to"]), down_to, "{s:?}");
    down_to
}

/// d. One signed alert naming the S3 destination; the failure in the trail, with the other
/// backup events.
fn failure_alerted_and_recorded(
    admin: &Client,
    deliveries: &mpsc::Receiver<webhook::Delivery>,
    others: &mut Vec<Value>,
    full_to: u64,
    down_to: u64,
) {
    let alert = api::next_alert(deliveries, "backup_failed", others);
    assert_eq!(alert["group_by"], "resource", "{alert}");
    assert_eq!(alert["group"], format!("destination:{S3}"), "{alert}");
    assert_eq!(alert["count"], 1, "{alert}");
    let trail = events(admin, "backup.failed");
    let failure = trail
        .iter()
        .find(|e| e["resource"]["kind"] == "destination" && e["resource"]["id"] == S3)
        .unwrap_or_else(|| panic!("no backup.failed on destination {S3}: {trail:?}"));
    assert_eq!(failure["outcome"], "failure", "{failure}");
    assert!(failure["reason"].is_string(), "{failure}");
    assert!(
        alert["event_ids"]
            .as_array()
            .is_some_and(|ids| ids.contains(&failure["id"])),
        "the alert counts the recorded failure: {alert} {failure}"
    );
    assert!(
        trail.iter().all(|e| e["resource"]["id"] == S3),
        "only the S3 destination failed: {trail:?}"
    );
    let family = events(admin, "backup.*");
    for name in [LOCAL, S3] {
        assert!(
            has(&family, "backup.completed", name, full_to),
            "{name}: {family:?}"
        );
    }
    assert!(has(&family, "backup.shipped", LOCAL, down_to), "{family:?}");
    assert!(
        family.iter().any(|e| e["id"] == failure["id"]),
        "{family:?}"
    );
}

/// e. S3 back: the next run catches it up. Returns the last entry shipped and the backup
/// events.
fn s3_catches_up(admin: &Client, proxy: &s3::Proxy, down_to: u64) -> (u64, Vec<Value>) {
    proxy.up();
    let caught_up = run(admin, "ship");
    for (name, o) in &caught_up {
        assert_eq!(o["ok"], true, "{name}: {caught_up:?}");
    }
    assert_eq!(caught_up[S3]["kind"], "increment", "{caught_up:?}");
    let s = status(admin);
    let last_to = seq(&s[LOCAL]["journal_to"]);
    assert!(last_to >= down_to, "{s:?}");
    assert_eq!(seq(&s[S3]["journal_to"]), last_to, "caught up: {s:?}");
    assert!(s[S3]["last_error"].is_null(), "cleared: {s:?}");
    let family = events(admin, "backup.*");
    assert!(has(&family, "backup.shipped", S3, last_to), "{family:?}");
    (last_to, family)
}

/// f. Each destination's age.
fn ages_in_metrics(admin: &Client) {
    let r = admin.request("GET", "/metrics", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let metrics = r.text();
    for name in [LOCAL, S3] {
        let series = format!("strongroom_backup_age_seconds{{destination=\"{name}\"}} ");
        assert!(
            metrics.lines().any(|l| l.starts_with(&series)),
            "no {series}in /metrics:\n{metrics}"
        );
    }
}

/// g. Offline: every set checks, and a restore from either destination gives what the server
/// shipped last, then the live state.
fn offline_checks_and_restores(layout: &Layout, config: &str, last_to: u64, family: &[Value]) {
    let out = offline(layout, config, &["backup", "verify"]);
    for name in [LOCAL, S3] {
        assert!(out.contains(&format!("{name}: ok: ")), "{name}:\n{out}");
    }
    let out = offline(layout, config, &["backup", "list"]);
    for name in [LOCAL, S3] {
        assert!(out.contains(&format!("{name} (")), "{name}:\n{out}");
    }
    let shipped_audit = api::audit_reach(family);
    let from_local = restore(layout, config, LOCAL, "restored-local");
    let from_s3 = restore(layout, config, S3, "restored-s3");
    for (name, restored) in [(LOCAL, &from_local), (S3, &from_s3)] {
        assert_eq!(restored.journal, last_to, "{name}: the last entry shipped");
        // Every set counts, those shipped when only the audit log had moved too.
        assert_eq!(
            Some(&restored.audit),
            shipped_audit.get(name),
            "{name}: the last audit entry shipped ({shipped_audit:?})"
        );
    }
    assert_eq!(from_local.digest, from_s3.digest, "the same state at both");
    let live = offline(layout, config, &["state", "digest"]);
    let live = live.trim();
    if from_local.digest == live {
        println!("the live state is the one shipped last (journal entry {last_to})");
        return;
    }
    // Entries written after the last run (the digest holds the journal position): ship them
    // offline, then both destinations must give the live state.
    let out = offline(layout, config, &["backup", "now", "--ship"]);
    for name in [LOCAL, S3] {
        let line = after(&out, &format!("{name}: "));
        assert!(line.starts_with("increment "), "{name}:\n{out}");
    }
    let again_local = restore(layout, config, LOCAL, "restored-local-2");
    let again_s3 = restore(layout, config, S3, "restored-s3-2");
    assert!(again_local.journal > last_to, "{again_local:?}: {out}");
    assert_eq!(again_local.journal, again_s3.journal);
    assert_eq!(again_local.digest, again_s3.digest);
    assert_eq!(
        again_local.digest, live,
        "the live digest, after the offline ship"
    );
    println!(
        "entries {}..={} written after the last run, shipped offline",
        last_to + 1,
        again_local.journal
    );
}

/// h. No canary in plain form at the local destination.
fn no_canary_at_the_local_destination(layout: &Layout, canary: &str) {
    let files = files_under(&local_dir(layout));
    let bytes: usize = files
        .iter()
        .map(|file| {
            let bytes = std::fs::read(file).expect("read");
            assert!(
                !contains(&bytes, canary.as_bytes()),
                "canary in plain form in {}",
                file.display()
            );
            bytes.len()
        })
        .sum();
    assert!(
        bytes > 10_000,
        "{bytes} bytes in {} files: the destination is not what the test expects",
        files.len()
    );
}

/// i. A tenant deletion reaches S3 as it reaches the directory (issue 7): the receipt names both
/// destinations as shredded, and the data restored from S3 to a moment before the deletion has
/// the tenant as `shredded`, its keys in no keyring copy.
fn a_deletion_reaches_s3(layout: &Layout, config: &str, tenant: &str) {
    let keys = common::wrapped_keys(&layout.data.join("keyring"), tenant);
    assert_eq!(keys.len(), 2, "a data key and an index key");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let out = offline(
        layout,
        config,
        &["tenants", "delete-now", tenant, "--skip-grace"],
    );
    let receipt: Value = serde_json::from_str(&out).expect("the receipt is printed");
    let places = receipt["document"]["places"].as_array().expect("places");
    for name in [LOCAL, S3] {
        let place = places
            .iter()
            .find(|p| p["location"] == name)
            .unwrap_or_else(|| panic!("{name} not in {places:?}"));
        assert!(
            place["at"].is_i64() && place["pending"].is_null(),
            "{place}"
        );
        assert!(place["copies_removed"].as_u64() >= Some(1), "{place}");
    }
    let restored = common::restore_bare(layout, config, S3, before);
    let statuses = common::tenant_statuses(&restored);
    assert_eq!(
        statuses.get(tenant).map(String::as_str),
        Some("shredded"),
        "{statuses:?}"
    );
    for key in &keys {
        for file in files_under(restored.root.path()) {
            let bytes = std::fs::read(&file).expect("read");
            assert!(!contains(&bytes, key.as_bytes()), "{}", file.display());
        }
    }
}
