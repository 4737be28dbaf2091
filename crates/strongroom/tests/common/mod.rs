//! Shared harness for the end-to-end tests: a temp data layout, the real `strongroom` binary
//! started on port 0, and a small blocking HTTPS client (rustls) that trusts the instance's
//! self-signed certificate. Every wait is bounded and ends by itself.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_strongroom");

/// Upper bound for a server to start (includes first-run initialisation).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A temp directory with the three locations of one Strongroom installation.
pub struct Layout {
    pub root: tempfile::TempDir,
    pub data: PathBuf,
    pub mirror: PathBuf,
    pub key_file: PathBuf,
}

impl Layout {
    pub fn new() -> Layout {
        let root = tempfile::tempdir().expect("tempdir");
        let data = root.path().join("data");
        let mirror = root.path().join("mirror");
        let key_file = root.path().join("keys").join("master.key");
        Layout {
            root,
            data,
            mirror,
            key_file,
        }
    }

    /// `--data D --mirror M --key-file K` for any subcommand.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--data".into(),
            self.data.display().to_string(),
            "--mirror".into(),
            self.mirror.display().to_string(),
            "--key-file".into(),
            self.key_file.display().to_string(),
        ]
    }

    /// Runs an offline subcommand to completion; returns (exit code, stdout, stderr).
    pub fn run(&self, sub: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(BIN);
        cmd.args(sub)
            .args(self.args())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        let out = cmd.output().expect("run strongroom");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn cert_pem(&self) -> PathBuf {
        self.data.join("tls").join("cert.pem")
    }

    /// Starts `strongroom serve` on 127.0.0.1:0 with extra environment variables.
    pub fn serve_with(&self, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(self.args())
            .args(["--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("STRONGROOM_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn strongroom serve");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (out_tx, out_rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if out_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (err_tx, err_rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if err_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            addr: None,
            token: None,
            stdout: Vec::new(),
            out_rx,
            err_rx,
            stderr: Vec::new(),
        };
        server.wait_listening(self);
        server
    }

    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }
}

/// A running `strongroom serve`.
pub struct Server {
    pub child: Child,
    addr: Option<SocketAddr>,
    /// The bootstrap token, when this run initialised the locations.
    pub token: Option<String>,
    pub stdout: Vec<String>,
    out_rx: Receiver<String>,
    err_rx: Receiver<String>,
    stderr: Vec<String>,
}

impl Server {
    fn wait_listening(&mut self, layout: &Layout) {
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.out_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(t) = line.strip_prefix("bootstrap token: ") {
                        self.token = Some(t.trim().to_owned());
                    }
                    if let Some(a) = line.strip_prefix("listening on https://") {
                        self.addr = Some(a.trim().parse().expect("bound address"));
                        self.stdout.push(line);
                        let _ = layout;
                        return;
                    }
                    self.stdout.push(line);
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.drain_stderr();
                    panic!(
                        "server did not report `listening on` within {START_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                        self.stdout.join("\n"),
                        self.stderr.join("\n")
                    );
                }
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("listening")
    }

    /// Lines the server wrote to stderr so far (its JSON log).
    pub fn drain_stderr(&mut self) -> &[String] {
        while let Ok(line) = self.err_rx.try_recv() {
            self.stderr.push(line);
        }
        &self.stderr
    }

    /// SIGKILL, no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn stop(mut self) -> i32 {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().expect("wait");
        status.code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A blocking HTTPS/1.1 client trusting one certificate.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    pub token: Option<String>,
}

pub fn tls_client_config(cert_pem: &Path, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(cert_pem).expect("read cert.pem");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.expect("cert")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

impl Client {
    pub fn new(layout: &Layout, server: &Server) -> Client {
        Client {
            addr: server.addr(),
            config: tls_client_config(&layout.cert_pem(), &[b"http/1.1"]),
            token: server.token.clone(),
        }
    }

    /// One request on a fresh connection; Err on any transport failure (server gone).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<Response> {
        let tcp = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(30)))?;
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(token) = &self.token {
            req.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(body) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        if let Some(body) = body {
            req.push_str(body);
        }
        tls.write_all(req.as_bytes())?;
        tls.flush()?;
        let mut raw = Vec::new();
        match tls.read_to_end(&mut raw) {
            Ok(_) => {}
            // Servers may close without close_notify after a complete response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(e),
        }
        parse_response(&raw)
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

/// A small deterministic generator (SplitMix64) so failing runs replay from their seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A seed from the environment variable `name`, or a fresh one; printed either way.
pub fn seed(name: &str) -> u64 {
    let seed = std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("seed: {seed} (replay with {name}={seed})");
    seed
}

/// Every regular file under `root`, recursively.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The whole mirror made immutable (`chattr -R +i`): open files refuse writes with EPERM, the
/// directories refuse new files. Undone on drop so the temp directory can be removed.
pub struct Immutable(PathBuf);

impl Immutable {
    pub fn set(dir: &Path) -> Immutable {
        let ok = Command::new("chattr")
            .arg("-R")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "chattr +i failed on {}: the test needs root on ext4/xfs",
            dir.display()
        );
        Immutable(dir.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// Restores `from` (a destination of `config`) to the moment `at_ms` on a "bare machine": new
/// locations in a temporary directory with a copy of the master key, the audit key beside it.
/// Returns the restored layout; panics when the restore fails.
pub fn restore_bare(layout: &Layout, config: &str, from: &str, at_ms: i64) -> Layout {
    let restored = Layout::new();
    std::fs::create_dir_all(restored.key_file.parent().expect("keys dir")).expect("mkdir");
    std::fs::copy(&layout.key_file, &restored.key_file).expect("copy the master key");
    let (to, mirror, key) = (
        restored.data.display().to_string(),
        restored.mirror.display().to_string(),
        restored.key_file.display().to_string(),
    );
    let at = at_ms.to_string();
    let (code, out, err) = layout.run(&[
        "restore",
        "--from",
        from,
        "--to",
        &to,
        "--to-mirror",
        &mirror,
        "--master-key",
        &key,
        "--at",
        &at,
        "--config",
        config,
    ]);
    assert_eq!(code, 0, "restore from {from}:\n{out}\n{err}");
    restored
}

/// The status `strongroom tenants list` gives each tenant of `layout`, by id.
pub fn tenant_statuses(layout: &Layout) -> std::collections::BTreeMap<String, String> {
    let (code, out, err) = layout.run(&["tenants", "list"]);
    assert_eq!(code, 0, "{out}\n{err}");
    out.lines()
        .map(|line| {
            let t: serde_json::Value = serde_json::from_str(line).expect("a tenant per line");
            (
                t["id"].as_str().expect("id").to_owned(),
                t["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

/// Every wrapped key string (data key versions and index key) of `scope` in the keyring copy
/// in `dir`.
pub fn wrapped_keys(dir: &Path, scope: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("keyring.json")).expect("keyring");
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    let record = &value["document"]["scopes"][scope];
    let mut keys: Vec<String> = record["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter_map(|v| v["wrapped"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    keys.extend(record["index_key"].as_str().map(str::to_owned));
    keys
}
