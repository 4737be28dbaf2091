//! A tenant made over HTTP for the end-to-end tests: created by the system administrator, its
//! owner invited, signed in and enrolled in TOTP, with a `notes` collection. Include it with
//! `#[path = "common/tenant.rs"] mod tenant;` beside `mod common;`.

#![allow(dead_code)]

use serde_json::{Value, json};

use super::common::Client;

pub fn post(client: &Client, path: &str, body: Value) -> Value {
    let r = client.request("POST", path, Some(&body.to_string()));
    assert!(r.status < 300, "POST {path}: {} {}", r.status, r.text());
    r.json()
}

/// A tenant, with its owner's session (invited, password set, TOTP enrolled) and a `notes`
/// collection.
pub struct Tenant {
    pub id: String,
    pub owner: Client,
}

impl Tenant {
    pub fn create(admin: &Client) -> Tenant {
        let id = post(
            admin,
            "/api/v1/admin/tenants",
            json!({ "name": "Backed Up" }),
        )["id"]
            .as_str()
            .expect("tenant id")
            .to_owned();
        let owner = owner_session(admin, &id);
        post(
            &owner,
            &format!("/api/v1/tenants/{id}/collections"),
            json!({ "name": "notes", "schema": { "fields": [
                { "name": "title", "type": "text", "indexed": true }
            ]}}),
        );
        Tenant { id, owner }
    }

    pub fn add_notes(&self, titles: impl IntoIterator<Item = String>) {
        for title in titles {
            post(
                &self.owner,
                &format!("/api/v1/tenants/{}/records/notes", self.id),
                json!({ "title": title }),
            );
        }
    }
}

fn owner_session(admin: &Client, tenant: &str) -> Client {
    let invitation = post(
        admin,
        &format!("/api/v1/admin/tenants/{tenant}/invitations"),
        json!({ "email": "owner@backup.test" }),
    );
    let password = "a passphrase for the backup test";
    let mut anon = admin.clone();
    anon.token = None;
    post(
        &anon,
        "/api/v1/invitations/accept",
        json!({ "token": invitation["token"], "password": password }),
    );
    let login = post(
        &anon,
        "/api/v1/auth/login",
        json!({ "tenant": tenant, "email": "owner@backup.test", "password": password }),
    );
    let mut owner = admin.clone();
    owner.token = Some(login["token"].as_str().expect("session").to_owned());
    let enrol = post(
        &owner,
        "/api/v1/me/mfa/totp",
        json!({ "password": password }),
    );
    let secret = credentials::TotpSecret::from_bytes(base32_decode(
        enrol["secret"].as_str().expect("secret"),
    ))
    .expect("totp secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let code = credentials::totp::code_at(&secret, now);
    post(
        &owner,
        "/api/v1/me/mfa/totp/confirm",
        json!({ "code": code }),
    );
    owner
}

/// RFC 4648 base32 (no padding), for TOTP enrolment secrets.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut count, mut out) = (0u64, 0, Vec::new());
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        bits = (bits << 5) | v;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
