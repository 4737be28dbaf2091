//! A webhook receiver on 127.0.0.1 for the end-to-end tests of alerts and backups:
//! each request's `X-Strongroom-Signature` is checked against its body with the shared secret;
//! a valid one is answered 200, any other 401, and every delivery (valid or not, and its body)
//! goes to the channel. Stops with the test process. Include it with
//! `#[path = "common/webhook.rs"] mod webhook;`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// One delivery: whether its signature verified, and its body.
pub type Delivery = (bool, String);

/// Starts the receiver; returns its port and the deliveries.
pub fn receiver(secret: &'static str) -> (u16, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let (mut length, mut signature) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-strongroom-signature:") {
                    signature = line["x-strongroom-signature:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs();
            let valid = alerts::verify_signature(
                secret.as_bytes(),
                &signature,
                &body,
                now,
                Duration::from_secs(300),
            )
            .is_ok();
            let status = if valid { "200 OK" } else { "401 Unauthorized" };
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
            if tx
                .send((valid, String::from_utf8_lossy(&body).into_owned()))
                .is_err()
            {
                return;
            }
        }
    });
    (port, rx)
}
