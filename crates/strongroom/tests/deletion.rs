//! Tenant deletion end to end through the real binary (P15, issue 7): a tenant with a canary
//! in its records is backed up to two local destinations; a system administrator requests its
//! deletion over HTTPS (the tenant is suspended); offline, `tenants delete-now` is refused
//! inside the grace period and carries it out with `--skip-grace`, writing a receipt that
//! `receipt verify` accepts with the published key (`audit pubkey`) and refuses once altered.
//! Afterwards no file under the data directory, the mirror, the keyring copies or either
//! destination holds any wrapped key of the tenant or the canary, and restoring each
//! destination to a moment before the deletion gives the tenant as `shredded`.

mod common;
#[path = "common/tenant.rs"]
mod tenant;

use std::path::PathBuf;

use common::{Client, Layout, contains, files_under, restore_bare, tenant_statuses, wrapped_keys};
use serde_json::{Value, json};
use tenant::{Tenant, post};

const DESTINATIONS: [&str; 2] = ["eu-local", "us-local"];

fn write_config(layout: &Layout) -> String {
    let dir = layout.root.path();
    let mut settings = String::from(
        "[backup]\nallowed_jurisdictions = [\"EU\"]\n# Only the run at start comes from the schedule.\n\
         ship_every_minutes = 1440\nfull_every_hours = 168\n",
    );
    for name in DESTINATIONS {
        settings.push_str(&format!(
            "\n[[backup.destinations]]\nname = \"{name}\"\nkind = \"local\"\npath = \"{}\"\n\
             region = \"{name}-1\"\njurisdiction = \"EU\"\n",
            dir.join(name).display()
        ));
    }
    let path = dir.join("strongroom.toml");
    std::fs::write(&path, settings).expect("config");
    path.display().to_string()
}

/// Runs `strongroom SUB… --config CONFIG` with the layout's locations.
fn offline(layout: &Layout, config: &str, sub: &[&str]) -> (i32, String, String) {
    let mut args = sub.to_vec();
    args.extend(["--config", config]);
    layout.run(&args)
}

/// Runs `strongroom ARGS…` as they are (a command that needs no storage).
fn bare(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(common::BIN)
        .args(args)
        .env_clear()
        .output()
        .expect("run strongroom");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[test]
fn a_deleted_tenant_is_unreadable_everywhere_and_its_receipt_verifies() {
    let layout = Layout::new();
    let config = write_config(&layout);
    let server = layout.serve_with(&[("STRONGROOM_CONFIG", &config)]);
    let admin = Client::new(&layout, &server);
    let canary = format!(
        "DELETION-CANARY-{:016x}",
        common::Rng::new(common::seed("DELETION_CANARY_SEED")).next_u64()
    );
    let doomed = Tenant::create(&admin);
    doomed.add_notes([format!("{canary} in a record"), "plain".to_owned()]);
    let kept = Tenant::create(&admin);
    kept.add_notes(["kept".to_owned()]);
    let r = admin.request("POST", "/api/v1/admin/backups", Some(r#"{"run":"full"}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    let before_deletion = now_ms();
    let keys = wrapped_keys(&layout.data.join("keyring"), &doomed.id);
    assert_eq!(keys.len(), 2, "a data key and an index key");
    for name in DESTINATIONS {
        let dest = layout.root.path().join(name);
        assert!(
            files_under(&dest)
                .iter()
                .any(|f| std::fs::read(f).is_ok_and(|b| contains(&b, keys[0].as_bytes()))),
            "{name} holds the tenant's key before the deletion"
        );
    }

    // The request suspends the tenant: its owner is refused from now on.
    let requested = post(
        &admin,
        &format!("/api/v1/admin/tenants/{}/deletion", doomed.id),
        json!({ "grace_days": 7 }),
    );
    assert_eq!(requested["deletion"]["status"], "pending");
    let r = doomed.owner.request("GET", "/api/v1/me", None);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(server.stop(), 0, "a clean stop");

    // Offline: refused inside the grace period, done with --skip-grace.
    let (code, _, err) = offline(&layout, &config, &["tenants", "delete-now", &doomed.id]);
    assert_ne!(code, 0);
    assert!(err.contains("grace period"), "{err}");
    let receipt_file = layout.root.path().join("receipt.json");
    let receipt_arg = receipt_file.display().to_string();
    let (code, out, err) = offline(
        &layout,
        &config,
        &[
            "tenants",
            "delete-now",
            &doomed.id,
            "--skip-grace",
            "--receipt",
            &receipt_arg,
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let receipt: Value = serde_json::from_str(&out).expect("the receipt is printed");
    assert_eq!(receipt["document"]["tenant"], doomed.id.as_str());
    assert_eq!(receipt["document"]["grace_skipped"], true);
    let places = receipt["document"]["places"].as_array().expect("places");
    for name in DESTINATIONS {
        assert!(
            places
                .iter()
                .any(|p| p["location"] == name && p["at"].is_i64() && p["pending"].is_null()),
            "{name} shredded: {places:?}"
        );
    }

    // The receipt verifies with the published key, and not once altered.
    let (code, pubkey, _) = layout.run(&["audit", "pubkey"]);
    assert_eq!(code, 0);
    let pubkey = pubkey.trim().to_owned();
    let (code, out, err) = bare(&["receipt", "verify", &receipt_arg, "--public-key", &pubkey]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let text = std::fs::read_to_string(&receipt_file).expect("receipt");
    let altered = layout.root.path().join("altered.json");
    std::fs::write(
        &altered,
        text.replacen("\"grace_skipped\":true", "\"grace_skipped\":false", 1),
    )
    .expect("write");
    let (code, _, err) = bare(&[
        "receipt",
        "verify",
        &altered.display().to_string(),
        "--public-key",
        &pubkey,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does NOT verify"), "{err}");

    // No file anywhere holds a key of the tenant or its canary.
    let everything: Vec<PathBuf> = files_under(layout.root.path());
    assert!(everything.len() > 20, "{} files scanned", everything.len());
    for file in &everything {
        let bytes = std::fs::read(file).expect("read");
        assert!(
            !contains(&bytes, canary.as_bytes()),
            "canary in {}",
            file.display()
        );
        for key in &keys {
            assert!(
                !contains(&bytes, key.as_bytes()),
                "a wrapped key of the deleted tenant in {}",
                file.display()
            );
        }
    }

    // Each destination, restored to a moment before the deletion, gives the tenant shredded;
    // the other tenant is whole.
    for name in DESTINATIONS {
        let restored = restore_bare(&layout, &config, name, before_deletion);
        let statuses = tenant_statuses(&restored);
        assert_eq!(
            statuses.get(&doomed.id).map(String::as_str),
            Some("shredded"),
            "{statuses:?}"
        );
        assert_eq!(
            statuses.get(&kept.id).map(String::as_str),
            Some("active"),
            "{statuses:?}"
        );
        for file in files_under(restored.root.path()) {
            let bytes = std::fs::read(&file).expect("read");
            assert!(!contains(&bytes, canary.as_bytes()));
            assert!(!contains(&bytes, keys[0].as_bytes()));
        }
    }
}
