//! The HTTP side of the backups' end-to-end test: a tenant owner's session and records, the
//! backups routes, the audit trail, and alerts as the webhook receives them.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::Client;
pub use super::tenant::Tenant;
use super::webhook;
use super::{LOCAL, S3, WAIT};

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
