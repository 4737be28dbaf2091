//! The HTTP side of the backups' end-to-end test: a tenant owner's session and records, the
//! backups routes, the audit trail, and alerts as the webhook receives them.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::Client;
use super::webhook;
use super::{LOCAL, S3, WAIT};

pub fn post(client: &Client, path: &str, body: Value) -> Value {
    let r = client.request("POST", path, Some(&body.to_string()));
    assert!(r.status < 300, "POST {path}: {} {}", r.status, r.text());
    r.json()
}

/// Polls `f` until it gives a value; panics after [`WAIT`] with what it saw last.
pub fn until<T>(what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; last seen: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tenant, with its owner's session (invited, password set, TOTP enrolled) and a `notes`
/// collection.
pub struct Tenant {
    pub id: String,
    owner: Client,
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

fn base32_decode(text: &str) -> Vec<u8> {
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

/// `POST /api/v1/admin/backups` (`full` or `ship`): each destination's outcome, by name.
pub fn run(admin: &Client, what: &str) -> BTreeMap<String, Value> {
    let body = json!({ "run": what }).to_string();
    let r = admin.request("POST", "/api/v1/admin/backups", Some(&body));
    assert_eq!(r.status, 200, "POST backups {body}: {}", r.text());
    by_destination(&r.json()["outcomes"], "destination")
}

/// `GET /api/v1/admin/backups`: each destination's state, by name.
pub fn status(admin: &Client) -> BTreeMap<String, Value> {
    let r = admin.request("GET", "/api/v1/admin/backups", None);
    assert_eq!(r.status, 200, "GET backups: {}", r.text());
    by_destination(&r.json()["destinations"], "name")
}

fn by_destination(list: &Value, key: &str) -> BTreeMap<String, Value> {
    let map: BTreeMap<String, Value> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|d| (d[key].as_str().expect("name").to_owned(), d.clone()))
        .collect();
    assert_eq!(
        map.keys().collect::<Vec<_>>(),
        [LOCAL, S3],
        "one entry per destination: {list}"
    );
    map
}

/// A journal position in a response.
pub fn seq(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not a journal position: {v}"))
}

/// `GET /api/v1/admin/audit?action=…`, newest first.
pub fn events(admin: &Client, action: &str) -> Vec<Value> {
    let path = format!("/api/v1/admin/audit?action={action}&limit=500");
    let r = admin.request("GET", &path, None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()["events"].as_array().expect("events").clone()
}

/// Whether `events` hold `action` for `destination` up to journal entry `journal_to`.
pub fn has(events: &[Value], action: &str, destination: &str, journal_to: u64) -> bool {
    events.iter().any(|e| {
        e["action"] == action
            && e["details"]["destination"] == destination
            && e["details"]["journal_to"] == journal_to
    })
}

/// The last audit entry each destination's sets hold, from the `backup.*` events.
pub fn audit_reach(events: &[Value]) -> BTreeMap<String, u64> {
    let mut reach = BTreeMap::new();
    for e in events {
        if let (Some(d), Some(to)) = (
            e["details"]["destination"].as_str(),
            e["details"]["audit_to"].as_u64(),
        ) {
            let at = reach.entry(d.to_owned()).or_insert(0);
            *at = to.max(*at);
        }
    }
    reach
}

/// The next alert of `rule` the webhook receives (its signature checked); alerts of other rules
/// (a `disk_low` of the machine running the test) go to `others`.
pub fn next_alert(
    deliveries: &mpsc::Receiver<webhook::Delivery>,
    rule: &str,
    others: &mut Vec<Value>,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((valid, body)) = deliveries.recv_timeout(left) else {
            panic!("the webhook received no {rule} alert within {WAIT:?}; others: {others:?}");
        };
        assert!(valid, "the signature verifies: {body}");
        let alert: Value = serde_json::from_str(&body).expect("alert json");
        if alert["rule"] == rule {
            return alert;
        }
        others.push(alert);
    }
}
