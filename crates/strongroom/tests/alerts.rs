//! The server's alerts and metrics fed by its own audit events: repeated failed logins from one
//! address fire a rule; the alert reaches a local webhook receiver with a valid signature; the
//! firing and the delivery are themselves in the audit trail; `/metrics` counts the failures.
//! A mirror that fails reaches the alerts (built-in rule) even though the audit log, on the same
//! mirror, can not record it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Client, Immutable, Layout, Server};

#[path = "common/webhook.rs"]
mod webhook;

const SECRET: &str = "a webhook secret of thirty-two bytes!";

fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server whose alerts go to a local receiver (the built-in rules and `rules`, TOML).
fn serve_with_webhook(layout: &Layout, rules: &str) -> (Server, mpsc::Receiver<(bool, String)>) {
    let (port, deliveries) = webhook::receiver(SECRET);
    let dir = layout.root.path();
    let secret_file = dir.join("webhook.secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = dir.join("strongroom.toml");
    let settings = format!(
        "[alerts]\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\nwebhook_secret_file = \"{}\"\nretry_first_secs = 1\n{rules}",
        secret_file.display()
    );
    std::fs::write(&config, settings).expect("config");
    let config_arg = config.display().to_string();
    (
        layout.serve_with(&[("STRONGROOM_CONFIG", &config_arg)]),
        deliveries,
    )
}

/// The next delivery within `timeout`, passing over the built-in `disk_low` alerts: they follow
/// the test machine's disk, which no test controls.
fn next_delivery(
    deliveries: &mpsc::Receiver<(bool, String)>,
    timeout: Duration,
) -> Result<(bool, String), mpsc::RecvTimeoutError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let (valid, body) = deliveries.recv_timeout(left)?;
        let disk = serde_json::from_str::<serde_json::Value>(&body)
            .is_ok_and(|alert| alert["rule"] == "disk_low");
        if !disk {
            return Ok((valid, body));
        }
    }
}

#[test]
fn failed_logins_fire_an_alert_that_reaches_a_signed_webhook_and_the_trail() {
    let layout = Layout::new();
    let (server, deliveries) = serve_with_webhook(
        &layout,
        r#"
[[alerts.rules]]
name = "three_failures_per_ip"
action = "login.failed"
group_by = "ip"
threshold = 3
window_secs = 300
severity = "critical"
cooldown_secs = 3600
"#,
    );
    let client = Client::new(&layout, &server);
    let anonymous = {
        let mut c = Client::new(&layout, &server);
        c.token = None;
        c
    };
    for i in 0..3 {
        let body =
            format!(r#"{{"email":"nobody{i}@example.com","password":"not the password at all"}}"#);
        let r = anonymous.request("POST", "/api/v1/auth/login", Some(&body));
        assert_eq!(r.status, 401, "{}", r.text());
    }

    let (valid, body) = next_delivery(&deliveries, Duration::from_secs(30))
        .expect("the webhook receives the alert");
    assert!(valid, "the signature verifies: {body}");
    let alert: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(alert["rule"], "three_failures_per_ip", "{alert}");
    assert_eq!(alert["count"], 3);
    assert_eq!(alert["group"], "127.0.0.1");
    assert!(
        next_delivery(&deliveries, Duration::from_millis(500)).is_err(),
        "one delivery per firing"
    );

    let trail = until("alert.delivered in the trail", || {
        let r = client.request("GET", "/api/v1/admin/audit?action=alert.*", None);
        assert_eq!(r.status, 200, "{}", r.text());
        let events = r.json()["events"].as_array().cloned().unwrap_or_default();
        events
            .iter()
            .any(|e| e["action"] == "alert.delivered")
            .then_some(events)
    });
    assert!(
        trail.iter().any(|e| e["action"] == "alert.fired"),
        "{trail:?}"
    );

    let r = client.request("GET", "/metrics", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let failed: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("strongroom_failed_logins_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no failed-logins counter in {text}"));
    assert_eq!(failed, 3.0);
    assert_eq!(server.stop(), 0);
}

#[test]
fn a_failed_mirror_reaches_the_alerts_even_when_the_audit_log_can_not_record_it() {
    let layout = Layout::new();
    let (mut server, deliveries) = serve_with_webhook(&layout, "");
    let client = Client::new(&layout, &server);
    let r = client.request("POST", "/api/v1/admin/tenants", Some(r#"{"name":"Acme"}"#));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let frozen = Immutable::set(&layout.mirror);
    // A journal write: refused, and the journal refuses every write from now on.
    let r = client.request("POST", &format!("/api/v1/admin/tenants/{id}/suspend"), None);
    assert_eq!(r.status, 503, "{}", r.text());
    // The watch looks every 10 seconds.
    let Ok((valid, body)) = next_delivery(&deliveries, Duration::from_secs(60)) else {
        drop(frozen);
        let log = server.drain_stderr().join("\n");
        let ready = client.request("GET", "/readyz", None);
        panic!(
            "the webhook did not receive the mirror alert; readyz {} {}; server log:\n{log}",
            ready.status,
            ready.text()
        );
    };
    assert!(valid, "{body}");
    let alert: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(alert["rule"], "mirror_degraded", "{alert}");
    drop(frozen);
    drop(server);
}
