//! Email delivery against a real SMTP server (Python `aiosmtpd`, `tests/smtp_server.py`)
//! started by the test on 127.0.0.1: with STARTTLS required the mail arrives over TLS; a server
//! without STARTTLS, or with a certificate the configured CA did not issue, gets nothing and
//! the delivery is reported failed and retried.
//!
//! Python: `$TEST_SMTP_PYTHON` or `python3`, with `aiosmtpd` (`scripts/test` installs it).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alerts::{Alerts, EmailSettings, GroupBy, RetryPolicy, Settings};
use common::{event, events_until, rule};
use tokio::sync::mpsc;

const T0: i64 = 1_800_000_000_000;

fn python() -> String {
    std::env::var("TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// A running `smtp_server.py`; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    out: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server; with `tls` it offers and requires STARTTLS with that cert and key.
    fn start(tls: Option<(&Path, &Path)>) -> Server {
        let python = python();
        let probe = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output();
        assert!(
            probe.as_ref().is_ok_and(|o| o.status.success()),
            "`{python} -c 'import aiosmtpd'` failed ({probe:?}): run `scripts/test`, which \
             installs aiosmtpd in its venv and sets TEST_SMTP_PYTHON"
        );
        let out = tempfile::tempdir().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut command = Command::new(&python);
        command.arg(script).arg(out.path());
        if let Some((cert, key)) = tls {
            command.arg(cert).arg(key);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start smtp_server.py");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port from smtp_server.py: {line:?}"));
        Server { child, port, out }
    }

    /// The messages received so far (JSON objects).
    fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.out.path())
            .expect("read out dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json"))
            .collect()
    }

    /// Waits (at most 20 s) until `n` messages arrived.
    async fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{n} message(s) expected, {} came",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A self-signed certificate for localhost and 127.0.0.1: (cert, key) files in `dir`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("certificate");
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
    (cert, key)
}

fn email_settings(port: u16, ca_file: &Path) -> EmailSettings {
    EmailSettings {
        to: vec!["ops@example.test".into()],
        from: "strongroom@example.test".into(),
        host: "127.0.0.1".into(),
        port,
        username: None,
        password_file: None,
        ca_file: Some(ca_file.to_owned()),
        timeout: Duration::from_secs(10),
    }
}

fn start(email: EmailSettings) -> (Alerts, mpsc::Receiver<audit::AuditEvent>) {
    let mut settings = Settings::new("node-a", vec![rule("login.failed", GroupBy::Ip, 2, 60, 0)]);
    settings.retry = RetryPolicy {
        first: Duration::from_millis(20),
        max: Duration::from_millis(200),
        give_up_after: Duration::from_secs(60),
    };
    settings.email = Some(email);
    let (tx, rx) = mpsc::channel(64);
    (Alerts::start(settings, tx).expect("start"), rx)
}

fn fire(alerts: &Alerts) -> alerts::Alert {
    // The IP carries a newline, as a forged header would: it must stay escaped in the mail.
    let ip = "203.0.113.7\r\nBcc: victim@example.test";
    alerts.observe(&event("login.failed", T0, "us_a", ip));
    let fired = alerts.observe(&event("login.failed", T0 + 1000, "us_b", ip));
    assert_eq!(fired.len(), 1);
    fired.into_iter().next().expect("one alert")
}

fn count(events: &[audit::AuditEvent], action: &str) -> usize {
    events.iter().filter(|e| e.action == action).count()
}

#[tokio::test]
async fn the_alert_arrives_by_mail_over_starttls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certificate(dir.path(), "server");
    let server = Server::start(Some((&cert, &key)));
    let (alerts, mut events) = start(email_settings(server.port, &cert));
    let alert = fire(&alerts);
    let seen = events_until(&mut events, |e| count(e, "alert.delivered") == 1).await;
    assert_eq!(
        common::actions(&seen),
        ["alert.fired", "alert.delivered email"]
    );
    let messages = server.wait_for(1).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let mail = &messages[0];
    assert_eq!(mail["tls"], true, "the session must have used STARTTLS");
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["ops@example.test"]));
    let subject = mail["subject"].as_str().expect("subject");
    assert_eq!(
        subject,
        "[Strongroom] critical: test_ip (ip 203.0.113.7\\u000d\\u000aBcc: victim@example.test)"
    );
    let data = mail["body"].as_str().expect("body");
    for line in [
        format!("alert: {}", alert.id),
        "rule: test_ip".to_owned(),
        "severity: critical".to_owned(),
        "group: ip 203.0.113.7\\u000d\\u000aBcc: victim@example.test".to_owned(),
        "count: 2".to_owned(),
        "window: 60 s".to_owned(),
        "first: 2027-01-15T08:00:00Z".to_owned(),
        "last: 2027-01-15T08:00:01Z".to_owned(),
        format!("events: {} {}", alert.event_ids[0], alert.event_ids[1]),
    ] {
        assert!(data.contains(&line), "missing {line:?} in {data}");
    }
    let raw = mail["data"].as_str().expect("data");
    assert!(
        !raw.contains("\nBcc:") && !data.contains("\nBcc:"),
        "header injected: {raw}"
    );
    assert_eq!(alerts.shutdown(Duration::from_secs(5)).await, 0);
}

/// Runs a firing against `server` with `ca`, expects failures saying `why`, retries, no mail.
async fn refused(server: &Server, ca: &Path, why: &str) {
    let (alerts, mut events) = start(email_settings(server.port, ca));
    fire(&alerts);
    let seen = events_until(&mut events, |e| count(e, "alert.failed") >= 2).await;
    assert_eq!(
        count(&seen, "alert.delivered"),
        0,
        "{:?}",
        common::actions(&seen)
    );
    let attempts: Vec<_> = seen
        .iter()
        .filter(|e| e.action == "alert.failed")
        .map(|e| (e.details["channel"].clone(), e.details["attempt"].clone()))
        .collect();
    let error = seen
        .iter()
        .find(|e| e.action == "alert.failed")
        .expect("failed")
        .details["error"]
        .to_string();
    assert!(error.contains(why), "expected {why:?} in {error}");
    assert_eq!(
        attempts[..2],
        [("email".into(), 1.into()), ("email".into(), 2.into())]
    );
    alerts.shutdown(Duration::ZERO).await;
    assert_eq!(
        server.messages().len(),
        0,
        "no mail may pass without TLS to a trusted server"
    );
}

#[tokio::test]
async fn a_server_without_starttls_gets_no_mail_and_the_delivery_is_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, _) = certificate(dir.path(), "server");
    let server = Server::start(None);
    refused(&server, &cert, "STARTTLS").await;
}

#[tokio::test]
async fn a_server_whose_certificate_the_ca_file_did_not_issue_gets_no_mail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certificate(dir.path(), "server");
    let (other, _) = certificate(dir.path(), "other");
    let server = Server::start(Some((&cert, &key)));
    refused(&server, &other, "certificate").await;
}

#[tokio::test]
async fn unsafe_email_settings_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, _) = certificate(dir.path(), "server");
    let canary = "canary-smtp-password-91c4";
    let password = dir.path().join("smtp.password");
    std::fs::write(&password, canary).expect("write");
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut email = email_settings(25, &cert);
    email.username = Some("alerts".into());
    email.password_file = Some(password.clone());
    let mut settings = Settings::new("node-a", Vec::new());
    settings.email = Some(email.clone());
    let (tx, _rx) = mpsc::channel(1);
    let err = Alerts::start(settings.clone(), tx.clone())
        .err()
        .expect("must refuse");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("chmod 600") && !text.contains(canary),
        "{text}"
    );
    // Readable by its owner only: accepted, and still never shown.
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let alerts = Alerts::start(settings.clone(), tx.clone()).expect("start");
    alerts.shutdown(Duration::ZERO).await;
    assert!(!format!("{settings:?}").contains(canary));
    email.to = vec!["not an address".into()];
    settings.email = Some(email);
    let err = Alerts::start(settings, tx).err().expect("must refuse");
    assert!(err.to_string().contains("email_to"), "{err}");
}
