//! TLS only (P1): the listener speaks nothing but TLS 1.2/1.3 with forward-secret AEAD suites,
//! negotiates h2 or http/1.1 by ALPN, and a plaintext HTTP request gets no HTTP answer.
//! `testssl.sh` (installed by `scripts/test`) scans it from the outside.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{Layout, tls_client_config};

#[test]
fn plaintext_http_gets_no_http_answer() {
    let layout = Layout::new();
    let server = layout.serve();
    for request in [
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "POST /api/v1/admin/tenants HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        let mut tcp = TcpStream::connect(server.addr()).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        tcp.write_all(request.as_bytes()).expect("write");
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(
            !text.contains("HTTP/"),
            "plaintext request got an HTTP answer: {text:?}"
        );
        // Anything sent back is a TLS record (an alert), never application data.
        if let Some(first) = answer.first() {
            assert_eq!(*first, 0x15, "expected a TLS alert record, got {answer:?}");
        }
    }
}

fn handshake(
    layout: &Layout,
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> rustls::ClientConnection {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(config, name).expect("client");
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("handshake");
    }
    let _ = layout;
    conn
}

#[test]
fn alpn_offers_h2_and_http1() {
    let layout = Layout::new();
    let server = layout.serve();
    let both = tls_client_config(&layout.cert_pem(), &[b"h2", b"http/1.1"]);
    assert_eq!(
        handshake(&layout, server.addr(), both).alpn_protocol(),
        Some(&b"h2"[..])
    );
    let h1 = tls_client_config(&layout.cert_pem(), &[b"http/1.1"]);
    assert_eq!(
        handshake(&layout, server.addr(), h1).alpn_protocol(),
        Some(&b"http/1.1"[..])
    );
}

/// A handler that refuses a request before reading its body (here 401, no credential) ends the
/// connection after its answer. A client still sending the body must be able to finish sending
/// and then read the whole answer, ended by `close_notify`: the server half-closes and reads
/// what is left (a lingering close) instead of closing a socket with unread bytes, which makes
/// the kernel answer the client's next segment with a TCP reset. Found by schemathesis:
/// "EOF occurred in violation of protocol" on a PUT whose body the server refused unread.
#[test]
fn an_early_refusal_reaches_a_client_still_sending_its_body() {
    let layout = Layout::new();
    let server = layout.serve();
    // Far more than the kernel buffers of both ends hold, so the writes below can complete only
    // if the server keeps reading after its answer.
    const BODY: usize = 16 * 1024 * 1024;
    let config = tls_client_config(&layout.cert_pem(), &[b"http/1.1"]);
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(config, name).expect("client");
    let tcp = TcpStream::connect(server.addr()).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    tcp.set_write_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let head = format!(
        "POST /api/v1/admin/tenants HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {BODY}\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).expect("request head");
    let chunk = vec![b' '; 64 * 1024];
    for sent in (0..BODY).step_by(chunk.len()) {
        if let Err(e) = tls.write_all(&chunk) {
            panic!(
                "the server reset the connection after {sent} of {BODY} body bytes ({e}); \
                 the client never gets to read the answer"
            );
        }
    }
    let mut answer = Vec::new();
    let read = tls.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    read.unwrap_or_else(|e| panic!("the answer did not end with close_notify ({e}): {text:?}"));
    assert!(text.starts_with("HTTP/1.1 401 "), "{text:?}");
    assert!(
        text.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{text:?}"
    );
    assert!(
        text.ends_with('}'),
        "the problem body is cut short: {text:?}"
    );
}

/// A client that speaks TLS 1.2 only and trusts the instance's certificate.
fn tls12_only(layout: &Layout) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(layout.cert_pem()).expect("cert");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.expect("cert")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("tls12")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

#[test]
fn tls12_client_gets_an_aead_forward_secret_suite() {
    let layout = Layout::new();
    let server = layout.serve();
    let config = tls12_only(&layout);
    let conn = handshake(&layout, server.addr(), config);
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let suite = format!(
        "{:?}",
        conn.negotiated_cipher_suite().expect("suite").suite()
    );
    assert!(
        suite.starts_with("TLS_ECDHE_") && (suite.contains("GCM") || suite.contains("CHACHA20")),
        "{suite}"
    );
}

#[test]
fn tls13_only_setting_refuses_tls12() {
    let layout = Layout::new();
    let server = layout.serve_with(&[("STRONGROOM_TLS_MIN_VERSION", "1.3")]);
    let config = tls12_only(&layout);
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(config, name).expect("client");
    let mut tcp = TcpStream::connect(server.addr()).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let mut failed = false;
    for _ in 0..100 {
        if !conn.is_handshaking() {
            break;
        }
        if conn.complete_io(&mut tcp).is_err() {
            failed = true;
            break;
        }
    }
    assert!(
        failed,
        "a TLS 1.2 client completed a handshake with a TLS 1.3-only server"
    );
}

fn testssl_binary() -> String {
    for name in ["testssl", "testssl.sh"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_owned();
        }
    }
    panic!("testssl.sh is not installed; `scripts/test` installs it (Debian package testssl.sh)");
}

#[test]
fn testssl_finds_no_weak_protocol_or_cipher() {
    let bin = testssl_binary();
    let layout = Layout::new();
    let server = layout.serve();
    let json = layout.root.path().join("testssl.json");
    let out = Command::new(&bin)
        .args([
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
            "-p",
            "-s",
            "-f",
            "-E",
            "--jsonfile",
        ])
        .arg(&json)
        .arg(format!("https://{}", server.addr()))
        .output()
        .expect("run testssl");
    let report = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<serde_json::Value> = serde_json::from_slice(
        &std::fs::read(&json)
            .unwrap_or_else(|e| panic!("testssl wrote no JSON ({e}); output:\n{report}")),
    )
    .expect("testssl JSON");
    let find = |id: &str| -> String {
        findings
            .iter()
            .find(|f| f["id"] == id)
            .and_then(|f| f["finding"].as_str())
            .unwrap_or_else(|| panic!("testssl reported no {id}:\n{report}"))
            .to_owned()
    };
    for id in [
        "SSLv2",
        "SSLv3",
        "TLS1",
        "TLS1_1",
        "cipherlist_NULL",
        "cipherlist_aNULL",
        "cipherlist_EXPORT",
        "cipherlist_LOW",
        "cipherlist_3DES_IDEA",
        "cipherlist_AVERAGE",
    ] {
        assert_eq!(
            find(id),
            "not offered",
            "{id} must not be offered:\n{report}"
        );
    }
    assert!(find("TLS1_2").starts_with("offered"));
    assert!(find("TLS1_3").starts_with("offered"));
    assert_eq!(find("PFS"), "offered");
    let ciphers: Vec<String> = findings
        .iter()
        .filter(|f| {
            f["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("cipher-tls"))
        })
        .map(|f| f["finding"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!ciphers.is_empty(), "no cipher enumerated:\n{report}");
    for c in &ciphers {
        assert!(
            !c.contains("CBC") && !c.contains("RSA-AES") && !c.contains("DES"),
            "weak cipher offered: {c}"
        );
        assert!(
            c.contains("ECDH"),
            "cipher without ephemeral key exchange: {c}"
        );
        assert!(
            c.contains("GCM") || c.contains("ChaCha20"),
            "cipher without AEAD: {c}"
        );
    }
    println!(
        "testssl: {} ciphers offered, all ECDHE + AEAD; SSLv2/3, TLS 1.0/1.1 not offered",
        ciphers.len()
    );
}
