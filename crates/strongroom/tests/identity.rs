//! Identity through the real binary: an owner invited by the system administrator logs in,
//! enrols TOTP and makes an API token; afterwards no password, session or API token secret, TOTP
//! secret or recovery code, nor a record field or an attachment's content or name, is in any
//! file or in the server's log (canary test, P2–P4, P9). Also the
//! offline `admin create` and `access-review` commands.

mod common;
#[path = "common/tenant.rs"]
mod tenant;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Client, Layout, contains, files_under};
use serde_json::json;
use tenant::{base32_decode, post};

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

#[test]
fn no_credential_reaches_a_file_or_the_log() {
    let layout = Layout::new();
    let mut server = layout.serve();
    let root = Client::new(&layout, &server);
    let tenant = post(
        &root,
        "/api/v1/admin/tenants",
        json!({ "name": "Canary Corp" }),
    )["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let invitation = post(
        &root,
        &format!("/api/v1/admin/tenants/{tenant}/invitations"),
        json!({ "email": "owner@canary.test" }),
    );
    let invite_secret = invitation["token"].as_str().expect("token").to_owned();
    let password = "PASSWORD-CANARY-7f3e9a1c long enough";
    let mut anon = root.clone();
    anon.token = None;
    post(
        &anon,
        "/api/v1/invitations/accept",
        json!({ "token": invite_secret, "password": password }),
    );
    let login = post(
        &anon,
        "/api/v1/auth/login",
        json!({ "tenant": tenant, "email": "owner@canary.test", "password": password }),
    );
    assert_eq!(login["status"], "mfa_enrollment_required");
    let session = login["token"].as_str().expect("session").to_owned();
    let mut owner = root.clone();
    owner.token = Some(session.clone());
    let enrol = post(
        &owner,
        "/api/v1/me/mfa/totp",
        json!({ "password": password }),
    );
    let totp_b32 = enrol["secret"].as_str().expect("secret").to_owned();
    let secret = credentials::TotpSecret::from_bytes(base32_decode(&totp_b32)).expect("totp");
    let code = credentials::totp::code_at(&secret, now_secs());
    let codes = post(
        &owner,
        "/api/v1/me/mfa/totp/confirm",
        json!({ "code": code }),
    );
    let recovery: Vec<String> = codes["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("c").to_owned())
        .collect();
    let token = post(
        &owner,
        "/api/v1/me/tokens",
        json!({ "scopes": [{ "collection": "notes", "actions": ["read"] }], "expires_in_days": 30, "label": "LABEL-CANARY-51b2" }),
    );
    let api_secret = token["secret"].as_str().expect("secret").to_owned();
    // Tenant data: a record and an attachment whose content and name are canaries.
    let collection = json!({ "name": "notes", "schema": { "fields": [
        { "name": "title", "type": "text", "indexed": true }
    ]}});
    post(
        &owner,
        &format!("/api/v1/tenants/{tenant}/collections"),
        collection,
    );
    let record = post(
        &owner,
        &format!("/api/v1/tenants/{tenant}/records/notes"),
        json!({ "title": "RECORD-CANARY-0c41d2" }),
    );
    let record = record["id"].as_str().expect("record id").to_owned();
    let file = r#"{"note":"ATTACHMENT-CANARY-93be77 inside an uploaded file"}"#;
    let r = owner.request(
        "POST",
        &format!("/api/v1/tenants/{tenant}/records/notes/{record}/attachments?name=FILENAME-CANARY-5d.json"),
        Some(file),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let attachment = r.json()["id"].as_str().expect("attachment id").to_owned();
    let download = owner.request(
        "GET",
        &format!("/api/v1/tenants/{tenant}/records/notes/{record}/attachments/{attachment}"),
        None,
    );
    assert_eq!(download.text(), file, "the file comes back as uploaded");
    let log = server.drain_stderr().join("\n");
    assert_eq!(server.stop(), 0);

    let totp_hex: String = secret.expose().iter().map(|b| format!("{b:02x}")).collect();
    let mut canaries: Vec<(String, Vec<u8>)> = vec![
        ("password".into(), password.as_bytes().to_vec()),
        ("session secret".into(), session.as_bytes().to_vec()),
        (
            "invitation secret".into(),
            invite_secret.as_bytes().to_vec(),
        ),
        ("API token secret".into(), api_secret.as_bytes().to_vec()),
        ("token label".into(), b"LABEL-CANARY-51b2".to_vec()),
        ("TOTP secret (base32)".into(), totp_b32.as_bytes().to_vec()),
        ("TOTP secret (hex)".into(), totp_hex.as_bytes().to_vec()),
        ("TOTP secret (raw)".into(), secret.expose().to_vec()),
        ("owner email".into(), b"owner@canary.test".to_vec()),
        ("record field".into(), b"RECORD-CANARY-0c41d2".to_vec()),
        (
            "attachment content".into(),
            b"ATTACHMENT-CANARY-93be77".to_vec(),
        ),
        ("attachment name".into(), b"FILENAME-CANARY-5d".to_vec()),
    ];
    for (i, c) in recovery.iter().enumerate() {
        canaries.push((format!("recovery code {i}"), c.as_bytes().to_vec()));
    }
    let roots = [
        layout.data.clone(),
        layout.mirror.clone(),
        layout.key_file.parent().expect("keys").to_owned(),
    ];
    for root in &roots {
        for file in files_under(root) {
            let bytes = std::fs::read(&file).expect("read");
            for (what, canary) in &canaries {
                assert!(
                    !contains(&bytes, canary),
                    "{what} found in plain form in {}",
                    file.display()
                );
            }
        }
    }
    for (what, canary) in &canaries {
        assert!(
            !contains(log.as_bytes(), canary),
            "{what} found in the server log"
        );
    }
}

#[test]
fn offline_admin_create_and_access_review() {
    let layout = Layout::new();
    let server = layout.serve();
    let root = Client::new(&layout, &server);
    let tenant = post(
        &root,
        "/api/v1/admin/tenants",
        json!({ "name": "Review Ltd" }),
    )["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let invitation = post(
        &root,
        &format!("/api/v1/admin/tenants/{tenant}/invitations"),
        json!({ "email": "ann@review.test" }),
    );
    let mut anon = root.clone();
    anon.token = None;
    post(
        &anon,
        "/api/v1/invitations/accept",
        json!({ "token": invitation["token"], "password": "a reviewable passphrase 1" }),
    );
    assert_eq!(server.stop(), 0);

    let mut args = vec![
        "admin".to_owned(),
        "create".to_owned(),
        "--email".to_owned(),
        "sysop@strongroom.test".to_owned(),
    ];
    args.extend(layout.args());
    let mut child = Command::new(common::BIN)
        .args(&args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"the system operator's passphrase\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("system_admin"));

    let (code, out, err) = layout.run(&["access-review", "--tenant", &tenant]);
    assert_eq!(code, 0, "{err}");
    let review: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(review["users"][0]["email"], "ann@review.test");
    assert_eq!(review["users"][0]["role"], "owner");
    assert!(err.contains("1 users"), "{err}");

    // The new system administrator can log in (and must enrol a second factor).
    let server = layout.serve();
    let mut anon = Client::new(&layout, &server);
    anon.token = None;
    let login = post(
        &anon,
        "/api/v1/auth/login",
        json!({ "email": "sysop@strongroom.test", "password": "the system operator's passphrase" }),
    );
    assert_eq!(login["status"], "mfa_enrollment_required");
}
