//! The syslog sink against a real TLS receiver on 127.0.0.1: one valid RFC 5424 message per
//! event in one octet-counted frame, no control byte anywhere whatever the event holds, no
//! delivery to a server that does not prove the configured name under the configured CA, and
//! events queued while the receiver is down delivered when it returns (within the bound).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use audit::AuditEvent;
use common::receiver::{self, Identity, Message, Seen};
use common::{ATTACKS, event, hostile_events, wait_until};
use siem::{Error, FileSinkOptions, Sinks, SinksConfig, SyslogOptions, SyslogTls};
use tokio::sync::mpsc::UnboundedReceiver;

const LIMIT: Duration = Duration::from_secs(20);

fn options(addr: SocketAddr, server_name: &str, ca_file: &Path) -> SyslogOptions {
    SyslogOptions {
        retry_max: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(5),
        ..SyslogOptions::new(addr.to_string(), server_name, ca_file)
    }
}

async fn next(rx: &mut UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(LIMIT, rx.recv())
        .await
        .expect("the receiver saw nothing in time")
        .expect("receiver gone")
}

/// The next `n` frames, each parsed and validated.
async fn messages(rx: &mut UnboundedReceiver<Seen>, n: usize) -> Vec<Message> {
    let mut out = Vec::new();
    while out.len() < n {
        match next(rx).await {
            Seen::Frame(bytes) => out.push(receiver::parse(&bytes).unwrap_or_else(|e| {
                panic!("not RFC 5424 ({e}): {:?}", String::from_utf8_lossy(&bytes))
            })),
            other => panic!("expected frame {} of {n}, got {other:?}", out.len() + 1),
        }
    }
    out
}

/// After the client closed: nothing but the close, so exactly one frame per event came.
async fn expect_closed(rx: &mut UnboundedReceiver<Seen>) {
    match next(rx).await {
        Seen::Closed => {}
        other => panic!("expected the close, got {other:?}"),
    }
}

fn param<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.sd.first()?
        .1
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn decode(m: &Message) -> AuditEvent {
    serde_json::from_str(&m.msg).unwrap_or_else(|e| panic!("MSG is not JSON ({e}): {:?}", m.msg))
}

/// A receiver on 127.0.0.1 with a fresh `localhost` certificate, written as the CA file.
struct Setup {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    rx: UnboundedReceiver<Seen>,
    ca: PathBuf,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = Identity::localhost();
    let (addr, rx) = receiver::start(&identity).await;
    let ca = identity.ca_file(dir.path(), "ca.pem");
    Setup {
        _dir: dir,
        addr,
        rx,
        ca,
    }
}

#[tokio::test]
async fn each_event_is_one_valid_rfc5424_message_in_one_frame() {
    let mut s = setup().await;
    let sink = SyslogTls::start(options(s.addr, "localhost", &s.ca)).expect("start");
    let events: Vec<AuditEvent> = (0..50).map(event).collect();
    for e in &events {
        sink.send(e);
    }
    let got = messages(&mut s.rx, events.len()).await;
    let stats = sink.shutdown().await.expect("shutdown");
    expect_closed(&mut s.rx).await;
    assert_eq!((stats.delivered, stats.dropped), (50, 0));
    for (m, e) in got.iter().zip(&events) {
        let expected_pri = if e.outcome == audit::Outcome::Success {
            85
        } else {
            84
        };
        assert_eq!(m.pri, expected_pri, "authpriv.notice / authpriv.warning");
        assert_eq!(m.app_name, "strongroom");
        assert_eq!(m.hostname, "node-a");
        assert_eq!(m.msgid, e.action);
        assert_eq!(m.timestamp, siem::rfc5424::timestamp(e.at));
        assert_eq!(m.sd[0].0, "strongroom@32473");
        assert_eq!(param(m, "id"), Some(e.id.as_str()));
        assert_eq!(param(m, "actor"), Some("user"));
        let outcome = if e.outcome == audit::Outcome::Success {
            "success"
        } else {
            "failure"
        };
        assert_eq!(param(m, "outcome"), Some(outcome));
        assert_eq!(m.msg, e.render_line());
        assert_eq!(&decode(m), e);
    }
    assert_eq!(got[0].timestamp, "2027-01-15T08:00:00.000Z");
}

#[tokio::test]
async fn hostile_text_never_breaks_a_message_or_its_structured_data() {
    let mut s = setup().await;
    let sink = SyslogTls::start(SyslogOptions {
        hostname: Some("host with\nnewline".into()),
        ..options(s.addr, "localhost", &s.ca)
    })
    .expect("start");
    let events = hostile_events();
    for e in &events {
        sink.send(e);
    }
    let got = messages(&mut s.rx, events.len()).await;
    sink.shutdown().await.expect("shutdown");
    expect_closed(&mut s.rx).await;
    for ((m, e), attack) in got.iter().zip(&events).zip(ATTACKS) {
        assert_eq!(m.pri, 84, "denied is a warning");
        assert_eq!(m.hostname, "host_with_newline");
        assert!(m.msgid.len() <= 32 && m.msgid.starts_with("role.changed"));
        let escaped = audit::event::escape_controls(attack);
        assert_eq!(
            param(m, "actor_id"),
            Some(escaped.as_str()),
            "SD value round trip"
        );
        assert_eq!(param(m, "resource_id"), Some(escaped.as_str()));
        assert_eq!(m.sd.len(), 1, "no forged SD element");
        assert_eq!(&decode(m), e, "MSG decodes to the very event");
    }
}

/// Starts a client that must refuse the receiver, and checks that it did, delivered nothing,
/// counted the failure and reports the undelivered events at shutdown.
async fn expect_refused(client_ca: &Identity, server: &Identity, server_name: &str, why: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, mut rx) = receiver::start(server).await;
    let ca = client_ca.ca_file(dir.path(), "ca.pem");
    let sink = SyslogTls::start(options(addr, server_name, &ca)).expect("start");
    for n in 0..3 {
        sink.send(&event(n));
    }
    match next(&mut rx).await {
        Seen::HandshakeFailed(_) => {}
        other => panic!("{why}: the handshake must fail, got {other:?}"),
    }
    wait_until(LIMIT, "the failure to be counted", || {
        sink.stats().failures >= 1
    })
    .await;
    let error = sink.stats().last_error.expect("last error");
    assert!(
        error.contains("certificate") && error.contains(&addr.to_string()),
        "{why}: {error}"
    );
    let result = sink.shutdown().await;
    let Err(Error::Undelivered { count, stats, .. }) = result else {
        panic!("{why}: shutdown must report the undelivered events, got {result:?}");
    };
    assert_eq!((count, stats.delivered, stats.dropped), (3, 0, 3), "{why}");
    while let Ok(seen) = rx.try_recv() {
        assert!(
            !matches!(seen, Seen::Frame(_)),
            "{why}: a frame was delivered"
        );
    }
}

#[tokio::test]
async fn a_server_whose_certificate_does_not_chain_to_the_ca_gets_nothing() {
    let (trusted, impostor) = (Identity::localhost(), Identity::localhost());
    expect_refused(&trusted, &impostor, "localhost", "unknown CA").await;
}

#[tokio::test]
async fn a_server_certified_for_another_name_gets_nothing() {
    let server = Identity::localhost();
    expect_refused(&server, &server, "syslog.example.org", "other name").await;
}

#[tokio::test]
async fn events_sent_while_the_receiver_is_down_arrive_when_it_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = Identity::localhost();
    let ca = identity.ca_file(dir.path(), "ca.pem");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let sink = SyslogTls::start(SyslogOptions {
        queue: 5,
        ..options(addr, "localhost", &ca)
    })
    .expect("start");
    for n in 0..8 {
        sink.send(&event(n));
    }
    wait_until(LIMIT, "a refused connection", || sink.stats().failures >= 1).await;
    assert_eq!(sink.dropped(), 3, "a queue of 5 drops the 3 oldest of 8");
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let mut rx = receiver::serve(listener, &identity);
    let got = messages(&mut rx, 5).await;
    let ids: Vec<String> = got.iter().map(|m| decode(m).id).collect();
    let expected: Vec<String> = (3..8).map(|n| event(n).id).collect();
    assert_eq!(ids, expected, "the newest 5, in order");
    sink.send(&event(8));
    let after = messages(&mut rx, 1).await;
    assert_eq!(decode(&after[0]).id, event(8).id);
    let stats = sink.shutdown().await.expect("shutdown");
    assert_eq!((stats.delivered, stats.dropped), (6, 3));
}

#[tokio::test]
async fn sinks_feed_the_file_and_the_receiver_and_flush_both_at_shutdown() {
    let Setup {
        _dir: dir,
        addr,
        mut rx,
        ca,
    } = setup().await;
    let path = dir.path().join("audit.ndjson");
    let sinks = Sinks::start(SinksConfig {
        file: Some(FileSinkOptions::new(&path)),
        syslog: Some(options(addr, "localhost", &ca)),
    })
    .expect("start");
    for n in 0..20 {
        sinks.send(&event(n));
    }
    let got = messages(&mut rx, 20).await;
    assert_eq!(sinks.dropped(), 0);
    sinks.shutdown().await.expect("shutdown");
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let msgs: Vec<&str> = got.iter().map(|m| m.msg.as_str()).collect();
    assert_eq!(lines, msgs, "the same lines in the file and the messages");
    assert_eq!(lines.len(), 20);
}

#[tokio::test]
async fn start_refuses_a_missing_or_empty_ca_file_and_a_bad_server_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr: SocketAddr = "127.0.0.1:6514".parse().expect("addr");
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").expect("write");
    for ca in [&missing, &empty] {
        let err = SyslogTls::start(options(addr, "localhost", ca)).expect_err("refused");
        assert!(matches!(err, Error::CaFile { .. }), "{err}");
        assert!(err.to_string().contains(&*ca.to_string_lossy()), "{err}");
    }
    let ca = Identity::localhost().ca_file(dir.path(), "ca.pem");
    let err = SyslogTls::start(options(addr, "bad name!", &ca)).expect_err("refused");
    assert!(matches!(err, Error::ServerName(_)), "{err}");
}
