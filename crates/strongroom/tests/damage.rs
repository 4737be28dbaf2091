//! Torn and damaged journal files (P10), through the real binary: a torn or bit-flipped tail in
//! one mirror is repaired on open with nothing acknowledged lost; damage in the middle of a sealed
//! segment is reported by `verify` with the segment and offset, refused by `serve`, and fixed by
//! `repair`; a read-only mirror makes writes fail closed.

mod common;

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Client, Immutable, Layout, Server};

/// Small segments so a few hundred writes span several of them.
const SMALL_SEGMENTS: (&str, &str) = ("STRONGROOM_SEGMENT_BYTES", "65536");

fn segments(mirror_journal: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(mirror_journal)
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    out.sort();
    out
}

fn flip_byte(path: &Path, offset: u64) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open segment");
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).expect("seek");
    f.read_exact(&mut b).expect("read");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    f.write_all(&[b[0] ^ 0x5a]).expect("write");
    f.sync_all().expect("sync");
}

fn create_tenants(client: &Client, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| {
            let body =
                format!(r#"{{"name":"tenant {i} with a name long enough to fill segments"}}"#);
            let r = client.request("POST", "/api/v1/admin/tenants", Some(&body));
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()["id"].as_str().expect("id").to_owned()
        })
        .collect()
}

fn listed(client: &Client) -> BTreeSet<String> {
    let page = client
        .request("GET", "/api/v1/admin/tenants?limit=500", None)
        .json();
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

fn start(layout: &Layout, token: &Option<String>) -> (Server, Client) {
    let server = layout.serve_with(&[SMALL_SEGMENTS]);
    let mut client = Client::new(layout, &server);
    if token.is_some() {
        client.token = token.clone();
    }
    (server, client)
}

#[test]
fn torn_or_flipped_tail_of_one_mirror_is_repaired_on_open() {
    let layout = Layout::new();
    let (server, client) = start(&layout, &None);
    let token = client.token.clone();
    let mut acked = create_tenants(&client, 30);
    assert_eq!(server.stop(), 0);

    // Mirror b loses its last 7 bytes (a torn write).
    let last_b = segments(&layout.mirror.join("journal"))
        .pop()
        .expect("segment");
    let len = std::fs::metadata(&last_b).expect("meta").len();
    OpenOptions::new()
        .write(true)
        .open(&last_b)
        .expect("open")
        .set_len(len - 7)
        .expect("truncate");
    let (server, client) = start(&layout, &token);
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains("torn") || l.contains("copied")),
        "open must say what it repaired: {:?}",
        server.stdout
    );
    assert!(
        acked.is_subset(&listed(&client)),
        "acknowledged writes lost after a torn tail"
    );
    acked.extend(create_tenants(&client, 10));
    assert_eq!(server.stop(), 0);
    let (code, out, _) = layout.run(&["verify"]);
    assert_eq!(code, 0, "{out}");

    // Mirror a gets a flipped byte in its last frame.
    let last_a = segments(&layout.data.join("journal"))
        .pop()
        .expect("segment");
    let len = std::fs::metadata(&last_a).expect("meta").len();
    flip_byte(&last_a, len - 3);
    let (server, client) = start(&layout, &token);
    assert!(
        acked.is_subset(&listed(&client)),
        "acknowledged writes lost after a flipped tail byte"
    );
    assert_eq!(server.stop(), 0);
    let (code, out, _) = layout.run(&["verify"]);
    assert_eq!(code, 0, "mirrors must be identical again:\n{out}");
}

#[test]
fn damage_inside_a_sealed_segment_is_reported_refused_and_repaired() {
    let layout = Layout::new();
    let (server, client) = start(&layout, &None);
    let token = client.token.clone();
    let acked = create_tenants(&client, 320);
    assert_eq!(server.stop(), 0);
    let segs = segments(&layout.data.join("journal"));
    assert!(segs.len() >= 2, "expected several segments, got {segs:?}");
    let sealed = &segs[0];
    let len = std::fs::metadata(sealed).expect("meta").len();
    let damaged_at = len / 2;
    flip_byte(sealed, damaged_at);

    let (code, out, _) = layout.run(&["verify"]);
    assert_ne!(code, 0, "verify must fail:\n{out}");
    let name = sealed
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let line = out
        .lines()
        .find(|l| l.contains(&name) && l.contains("offset"))
        .unwrap_or_else(|| panic!("verify must name {name} and an offset:\n{out}"));
    let offset: u64 = line
        .split("offset ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {line:?}"));
    assert!(
        offset <= damaged_at && damaged_at - offset < 2048,
        "reported offset {offset} is not the frame holding byte {damaged_at}: {line}"
    );

    let mut args = vec!["serve".to_owned()];
    args.extend(layout.args());
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let refused = Command::new(common::BIN)
        .args(&args)
        .env_clear()
        .output()
        .expect("serve");
    assert_ne!(refused.status.code(), Some(0));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("repair"),
        "serve must refuse and point to repair: {err}"
    );
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("listening on"));

    let (code, out, err) = layout.run(&["repair"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = layout.run(&["verify"]);
    assert_eq!(code, 0, "after repair:\n{out}");
    let (_server, client) = start(&layout, &token);
    assert!(
        acked.is_subset(&listed(&client)),
        "acknowledged writes lost after repair"
    );
}

/// A small tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mkdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mounting a tmpfs at {} failed: the test needs root",
            dir.display()
        );
        Tmpfs(dir.to_owned())
    }

    /// Fills the filesystem to the last byte.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).expect("filler");
        let block = vec![0u8; 64 * 1024];
        for _ in 0..1024 {
            if f.write_all(&block).is_err() {
                break;
            }
        }
        let _ = f.sync_all();
        for _ in 0..64 * 1024 {
            if f.write_all(&[0]).is_err() {
                return;
            }
        }
        panic!("the tmpfs did not fill up");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes are refused with 503 naming the mirror; reads and the refused changes stay as they were.
fn assert_fails_closed(layout: &Layout, client: &Client, id: &str) {
    let r = client.request("POST", &format!("/api/v1/admin/tenants/{id}/suspend"), None);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text().contains(&layout.mirror.display().to_string()),
        "must name the mirror: {}",
        r.text()
    );
    let r = client.request(
        "POST",
        "/api/v1/admin/tenants",
        Some(r#"{"name":"refused"}"#),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    let shown = client.request("GET", &format!("/api/v1/admin/tenants/{id}"), None);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["status"], "active");
    assert_eq!(listed(client).len(), 3, "the refused create left nothing");
    assert_eq!(client.request("GET", "/readyz", None).status, 503);
}

#[test]
fn a_read_only_mirror_fails_writes_closed() {
    let layout = Layout::new();
    let (server, client) = start(&layout, &None);
    let id = create_tenants(&client, 3).into_iter().next().expect("id");
    let frozen = Immutable::set(&layout.mirror);
    assert_fails_closed(&layout, &client, &id);
    drop(server);
    drop(frozen);
}

#[test]
fn a_full_mirror_disk_fails_writes_closed() {
    let layout = Layout::new();
    let fs = Tmpfs::mount(&layout.mirror);
    let (server, client) = start(&layout, &None);
    let id = create_tenants(&client, 3).into_iter().next().expect("id");
    fs.fill();
    // Small appends may still fit in pages already allocated; write until the disk refuses.
    let mut last_acked = "active";
    let mut refused = None;
    for i in 0..2000 {
        let (verb, status) = if i % 2 == 0 {
            ("suspend", "suspended")
        } else {
            ("resume", "active")
        };
        let r = client.request("POST", &format!("/api/v1/admin/tenants/{id}/{verb}"), None);
        match r.status {
            200 => last_acked = status,
            503 => {
                refused = Some(r.text());
                break;
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    let refused = refused.expect("a full disk must refuse writes within 2000 appends");
    assert!(
        refused.contains(&layout.mirror.display().to_string()),
        "must name the mirror: {refused}"
    );
    let shown = client.request("GET", &format!("/api/v1/admin/tenants/{id}"), None);
    assert_eq!(shown.status, 200, "reads go on");
    assert_eq!(
        shown.json()["status"],
        last_acked,
        "state is the last acknowledged write"
    );
    let r = client.request(
        "POST",
        "/api/v1/admin/tenants",
        Some(r#"{"name":"refused"}"#),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(listed(&client).len(), 3);
    assert_eq!(client.request("GET", "/readyz", None).status, 503);
    drop(server);
}

#[test]
fn a_failed_audit_location_keeps_the_change_refuses_later_writes_and_the_event_comes_back() {
    let layout = Layout::new();
    let (server, client) = start(&layout, &None);
    let token = client.token.clone();
    let id = create_tenants(&client, 1).into_iter().next().expect("id");
    let audit_b = layout.mirror.join("audit");
    let frozen = Immutable::set(&audit_b);
    // The change is durable in the journal (its audit event travels in its entry): acknowledged.
    let r = client.request("POST", &format!("/api/v1/admin/tenants/{id}/suspend"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    // From now on writes are refused, naming the audit location that failed.
    let r = client.request("POST", &format!("/api/v1/admin/tenants/{id}/resume"), None);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text().contains(&audit_b.display().to_string()) && r.text().contains("audit log"),
        "names the audit location: {}",
        r.text()
    );
    let ready = client.request("GET", "/readyz", None);
    assert_eq!(ready.status, 503);
    assert!(ready.text().contains("audit log"), "{}", ready.text());
    drop(server);
    drop(frozen);
    // Restarted: the event the audit log lacked is written from the journal, marked recovered.
    let (server, mut client) = start(&layout, &token);
    client.token = token;
    let r = client.request("GET", "/api/v1/admin/audit?action=tenant.suspended", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.json()["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["details"]["recovered"], true);
    let shown = client.request("GET", &format!("/api/v1/admin/tenants/{id}"), None);
    assert_eq!(shown.json()["status"], "suspended");
    drop(server);
}

#[test]
fn a_keyring_copy_that_can_not_be_written_refuses_every_later_write() {
    let layout = Layout::new();
    let (server, client) = start(&layout, &None);
    let id = create_tenants(&client, 1).into_iter().next().expect("id");
    let keyring_b = layout.mirror.join("keyring");
    let frozen = Immutable::set(&keyring_b);
    // A new tenant needs a new key in both keyring copies: refused, naming the copy.
    let r = client.request(
        "POST",
        "/api/v1/admin/tenants",
        Some(r#"{"name":"Refused"}"#),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text().contains(&keyring_b.display().to_string()),
        "names the keyring copy: {}",
        r.text()
    );
    // The copies may now differ: every later write is refused too, even one that needs no key.
    let r = client.request("POST", &format!("/api/v1/admin/tenants/{id}/suspend"), None);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("keyring"), "{}", r.text());
    let ready = client.request("GET", "/readyz", None);
    assert_eq!(ready.status, 503);
    assert!(ready.text().contains("keyring"), "{}", ready.text());
    assert_eq!(
        listed(&client).len(),
        1,
        "reads go on; the refused tenant is not there"
    );
    drop(server);
    drop(frozen);
}
