//! The audit trail of the real binary: the signing key made at first start (0600, beside the
//! master key, refused when others can read it), `config.loaded` at every start, offline
//! commands recorded as the system, `audit pubkey`, and `audit verify` on a copy of a stopped
//! server's files: intact → exit 0; one flipped byte or the wrong key → exit 1 with the position.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Client, Layout};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn events(client: &Client, query: &str) -> Vec<serde_json::Value> {
    let r = client.request("GET", &format!("/api/v1/admin/audit?{query}"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["events"].as_array().expect("events").clone()
}

#[test]
fn a_stopped_servers_trail_verifies_with_the_public_key_alone_and_any_edit_is_caught() {
    let layout = Layout::new();
    let server = layout.serve();
    let client = Client::new(&layout, &server);
    let key_file = layout.key_file.with_file_name("audit-signing.key");
    let mode = std::fs::metadata(&key_file)
        .expect("the signing key is created at first start")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains("created the audit signing key")),
        "{:?}",
        server.stdout
    );
    let loaded = events(&client, "action=config.loaded");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0]["actor"]["kind"], "system");
    assert_eq!(
        loaded[0]["details"]["sha256"].as_str().map(str::len),
        Some(64)
    );
    let r = client.request("POST", "/api/v1/admin/tenants", Some(r#"{"name":"Acme"}"#));
    assert_eq!(r.status, 201, "{}", r.text());
    let token = server.token.clone();
    assert_eq!(server.stop(), 0);

    // Offline: a command's acts are the system's.
    let (code, out, err) = layout.run(&["tenants", "create", "Offline Co"]);
    assert_eq!(code, 0, "{err}");
    let offline: serde_json::Value = serde_json::from_str(out.trim()).expect("json");

    let (code, pubkey, err) = layout.run(&["audit", "pubkey"]);
    assert_eq!(code, 0, "{err}");
    let pubkey = pubkey.trim().to_owned();
    assert_eq!(pubkey.len(), 44, "base64 of 32 bytes: {pubkey}");
    assert!(err.contains("fingerprint"), "{err}");

    let copy = tempfile::tempdir().expect("tempdir");
    let audit_copy = copy.path().join("audit");
    copy_dir(&layout.data.join("audit"), &audit_copy);
    let audit_arg = audit_copy.display().to_string();
    let (code, out, err) = layout.run(&["audit", "verify", &audit_arg, "--pubkey", &pubkey]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: "), "{out}");

    // The wrong public key: every signature fails.
    let mut other = pubkey.clone().into_bytes();
    other[3] = if other[3] == b'A' { b'B' } else { b'A' };
    let other = String::from_utf8(other).expect("ascii");
    let (code, out, _) = layout.run(&["audit", "verify", &audit_arg, "--pubkey", &other]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at"), "{out}");

    // One flipped byte in the middle of the first segment.
    let segment = std::fs::read_dir(&audit_copy)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .min()
        .expect("a segment");
    let mut bytes = std::fs::read(&segment).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&segment, &bytes).expect("write");
    let (code, out, _) = layout.run(&["audit", "verify", &audit_arg, "--pubkey", &pubkey]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at"), "{out}");

    // Restarted: the offline act is in the trail, by the system; two starts recorded.
    let server = layout.serve();
    let mut client = Client::new(&layout, &server);
    client.token = token;
    let created = events(&client, "action=tenant.created");
    let by_cli = created
        .iter()
        .find(|e| e["resource"]["id"] == offline["id"])
        .expect("the offline tenant's creation");
    assert_eq!(by_cli["actor"]["kind"], "system");
    assert_eq!(by_cli["details"]["name"], "Offline Co");
    assert_eq!(events(&client, "action=config.loaded").len(), 2);
    assert_eq!(server.stop(), 0);

    // A signing key others can read is refused, naming the file.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, _, err) = layout.run(&["tenants", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("audit-signing.key"), "{err}");
}
