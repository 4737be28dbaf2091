//! Webhook delivery against a real local receiver that checks the signature: one valid
//! delivery per firing, a refused signature is a failure to retry, a receiver that is down
//! gets the alert when it comes up, and unsafe settings are refused at start.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alerts::{Alert, Alerts, GroupBy, RetryPolicy, Settings, WebhookSettings, verify_signature};
use common::{event, events_until, rule};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const T0: i64 = 1_800_000_000_000;
const MAX_AGE: Duration = Duration::from_secs(300);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn secret_file(dir: &Path, secret: &str, mode: u32) -> PathBuf {
    let path = dir.join(format!("webhook-{mode:o}.secret"));
    std::fs::write(&path, format!("{secret}\n")).expect("write secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// What the receiver saw: whether the signature verified, and the body.
type Delivery = (bool, Vec<u8>);

/// Serves on `listener`: 204 for a valid signature, 401 otherwise; reports each request.
fn receiver(listener: TcpListener, secret: &'static str) -> mpsc::UnboundedReceiver<Delivery> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let header = request
                            .headers()
                            .get(alerts::SIGNATURE_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = request.into_body().collect().await?.to_bytes().to_vec();
                        let valid =
                            verify_signature(secret.as_bytes(), &header, &body, now(), MAX_AGE)
                                .is_ok();
                        let _ = tx.send((valid, body));
                        let status = if valid {
                            StatusCode::NO_CONTENT
                        } else {
                            StatusCode::UNAUTHORIZED
                        };
                        let mut answer = Response::new(Full::new(Bytes::new()));
                        *answer.status_mut() = status;
                        Ok::<_, hyper::Error>(answer)
                    }
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    rx
}

struct Setup {
    _dir: tempfile::TempDir,
    alerts: Alerts,
    events: mpsc::Receiver<audit::AuditEvent>,
}

fn start(url: String, secret: &str, retry: RetryPolicy) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings::new(
        "node-a",
        vec![rule("login.locked", GroupBy::Actor, 1, 60, 0)],
    );
    settings.retry = retry;
    settings.webhook = Some(WebhookSettings {
        url,
        secret_file: secret_file(dir.path(), secret, 0o600),
        ca_file: None,
        timeout: Duration::from_secs(5),
    });
    let (tx, events) = mpsc::channel(64);
    let alerts = Alerts::start(settings, tx).expect("start");
    Setup {
        _dir: dir,
        alerts,
        events,
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        first: Duration::from_millis(20),
        max: Duration::from_millis(200),
        give_up_after: Duration::from_secs(60),
    }
}

fn count(events: &[audit::AuditEvent], action: &str) -> usize {
    events.iter().filter(|e| e.action == action).count()
}

#[tokio::test]
async fn each_firing_is_delivered_exactly_once_with_a_valid_signature() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut received = receiver(listener, "hook-secret-1");
    let mut s = start(
        format!("http://127.0.0.1:{port}/hook"),
        "hook-secret-1",
        fast_retry(),
    );
    for (i, who) in ["us_a", "us_b"].iter().enumerate() {
        let fired = s
            .alerts
            .observe(&event("login.locked", T0, who, "192.0.2.1"));
        assert_eq!(fired.len(), 1);
        let events = events_until(&mut s.events, |e| count(e, "alert.delivered") == 1).await;
        assert_eq!(
            common::actions(&events),
            ["alert.fired", "alert.delivered webhook"],
            "firing {i}"
        );
        let (valid, body) = received.try_recv().expect("the receiver got the alert");
        assert!(valid, "the signature must verify");
        let alert: Alert = serde_json::from_slice(&body).expect("alert JSON");
        assert_eq!(
            (alert.rule.as_str(), alert.group.as_str()),
            ("test_actor", *who)
        );
        assert_eq!(alert.id, fired[0].id);
        assert!(
            received.try_recv().is_err(),
            "exactly one delivery per firing"
        );
    }
    assert_eq!(s.alerts.shutdown(Duration::from_secs(5)).await, 0);
}

#[test]
fn the_verify_helper_refuses_a_flipped_byte_a_wrong_secret_and_an_old_time() {
    let body = br#"{"rule":"r"}"#;
    let t = now();
    let header = alerts::sign(b"s3cret", t, body);
    assert_eq!(
        verify_signature(b"s3cret", &header, body, t, MAX_AGE),
        Ok(())
    );
    let mut flipped = body.to_vec();
    flipped[3] ^= 1;
    assert_eq!(
        verify_signature(b"s3cret", &header, &flipped, t, MAX_AGE),
        Err(alerts::SignatureError::Mismatch)
    );
    assert_eq!(
        verify_signature(b"other", &header, body, t, MAX_AGE),
        Err(alerts::SignatureError::Mismatch)
    );
    let old = alerts::sign(b"s3cret", t - 301, body);
    assert!(matches!(
        verify_signature(b"s3cret", &old, body, t, MAX_AGE),
        Err(alerts::SignatureError::Stale { age_secs: 301 })
    ));
    // A time moved forward with the old MAC does not verify either.
    let moved = header.replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
    assert_eq!(
        verify_signature(b"s3cret", &moved, body, t, MAX_AGE),
        Err(alerts::SignatureError::Mismatch)
    );
    for bad in [
        "",
        "t=1",
        "v1=00",
        "t=x,v1=00",
        &header.replace("v1=", "v1=zz"),
    ] {
        assert_eq!(
            verify_signature(b"s3cret", bad, body, t, MAX_AGE),
            Err(alerts::SignatureError::Malformed),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_refused_signature_is_a_failure_that_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut received = receiver(listener, "the-receivers-secret");
    let mut s = start(
        format!("http://127.0.0.1:{port}/"),
        "not-the-same",
        fast_retry(),
    );
    s.alerts
        .observe(&event("login.locked", T0, "us_a", "192.0.2.1"));
    let events = events_until(&mut s.events, |e| count(e, "alert.failed") >= 2).await;
    assert_eq!(count(&events, "alert.delivered"), 0);
    let failed = events
        .iter()
        .find(|e| e.action == "alert.failed")
        .expect("failed");
    assert_eq!(failed.details["channel"], "webhook");
    assert_eq!(failed.details["attempt"], 1);
    assert!(
        failed.details["error"]
            .as_str()
            .unwrap_or_default()
            .contains("401"),
        "{failed:?}"
    );
    assert_eq!(
        received.try_recv().map(|(valid, _)| valid).ok(),
        Some(false)
    );
    s.alerts.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_alert_when_it_comes_up() {
    // Reserve a port, then close it: connections are refused until the receiver starts there.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let mut s = start(
        format!("http://127.0.0.1:{port}/hook"),
        "hook-secret-2",
        fast_retry(),
    );
    s.alerts
        .observe(&event("login.locked", T0, "us_a", "192.0.2.1"));
    let mut events = events_until(&mut s.events, |e| count(e, "alert.failed") >= 3).await;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind the port");
    let mut received = receiver(listener, "hook-secret-2");
    events.extend(events_until(&mut s.events, |e| count(e, "alert.delivered") == 1).await);
    let attempts: Vec<(String, u64)> = events
        .iter()
        .filter(|e| e.action != "alert.fired")
        .map(|e| (e.action.clone(), e.details["attempt"].as_u64().unwrap_or(0)))
        .collect();
    let n = attempts.len() as u64;
    for (i, (action, attempt)) in attempts.iter().enumerate() {
        let expected = if i as u64 + 1 == n {
            "alert.delivered"
        } else {
            "alert.failed"
        };
        assert_eq!(
            (action.as_str(), *attempt),
            (expected, i as u64 + 1),
            "{attempts:?}"
        );
    }
    let (valid, _) = received.try_recv().expect("delivered");
    assert!(valid);
    assert!(received.try_recv().is_err(), "exactly one delivery");
    assert_eq!(s.alerts.shutdown(Duration::from_secs(5)).await, 0);
}

#[tokio::test]
async fn unsafe_webhook_settings_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let canary = "canary-hook-secret-5b1e";
    let cases = [
        (
            "http://192.0.2.10/hook",
            secret_file(dir.path(), canary, 0o600),
            "loopback",
        ),
        (
            "ftp://127.0.0.1/hook",
            secret_file(dir.path(), canary, 0o600),
            "https://",
        ),
        (
            "https://127.0.0.1/hook",
            secret_file(dir.path(), canary, 0o640),
            "chmod 600",
        ),
        (
            "https://127.0.0.1/hook",
            dir.path().join("missing"),
            "missing",
        ),
    ];
    for (url, secret_file, expected) in cases {
        let mut settings = Settings::new("node-a", Vec::new());
        settings.webhook = Some(WebhookSettings {
            url: url.into(),
            secret_file,
            ca_file: None,
            timeout: Duration::from_secs(1),
        });
        let (tx, _rx) = mpsc::channel(1);
        let err = Alerts::start(settings, tx).err().expect("must refuse");
        let text = format!("{err} {err:?}");
        assert!(
            text.contains(expected),
            "{url}: expected {expected:?} in {text}"
        );
        assert!(!text.contains(canary), "the secret leaked: {text}");
    }
}
