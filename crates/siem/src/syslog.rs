//! The syslog sink: RFC 5424 messages over TLS (RFC 5425 octet counting) to one receiver.
//!
//! The receiver's certificate must chain to the configured CA file and name the configured
//! server; there is no way to turn either check off. [`SyslogTls::send`] formats the message
//! and puts it on a bounded queue without waiting: when the queue is full the oldest message is
//! dropped and counted. One task connects (TCP, then TLS with the ring provider), writes what is
//! queued, notices a connection the receiver closed, and reconnects with backoff; a message
//! leaves the queue only once written, and goes back to its front when the write fails.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use audit::AuditEvent;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::counters::{Backoff, Counters, finish};
use crate::{Error, Result, Stats, rfc5424};

const RETRY_MIN: Duration = Duration::from_millis(100);
/// Frames written to the connection at once.
const MAX_BATCH: usize = 256;

/// Where and how the syslog sink sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogOptions {
    /// `host:port` of the receiver (RFC 5425's port is 6514).
    pub address: String,
    /// The name the receiver's certificate must hold (DNS name or IP address).
    pub server_name: String,
    /// PEM file of the CA certificates the receiver's chain must reach.
    pub ca_file: PathBuf,
    /// HOSTNAME of every message; by default the event's node.
    pub hostname: Option<String>,
    /// Messages kept while the receiver is away; beyond, the oldest are dropped and counted.
    pub queue: usize,
    /// Longest wait for a TCP connection, and then for the TLS handshake.
    pub connect_timeout: Duration,
    /// Longest wait between two connection attempts (the wait doubles from 100 ms).
    pub retry_max: Duration,
    /// Longest [`SyslogTls::shutdown`] waits to deliver what is queued.
    pub flush_timeout: Duration,
}

impl SyslogOptions {
    /// Defaults: 10,000 messages queued, 10 s to connect, retries up to every 30 s, 5 s to flush.
    pub fn new(
        address: impl Into<String>,
        server_name: impl Into<String>,
        ca_file: impl Into<PathBuf>,
    ) -> SyslogOptions {
        SyslogOptions {
            address: address.into(),
            server_name: server_name.into(),
            ca_file: ca_file.into(),
            hostname: None,
            queue: 10_000,
            connect_timeout: Duration::from_secs(10),
            retry_max: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(5),
        }
    }
}

/// The running syslog sink.
#[derive(Debug)]
pub struct SyslogTls {
    shared: Arc<Shared>,
    hostname: Option<String>,
    flush_timeout: Duration,
    task: JoinHandle<()>,
}

impl SyslogTls {
    /// Reads the CA file, checks the server name and spawns the sending task on the current
    /// Tokio runtime. Nothing is sent before the first event.
    pub fn start(options: SyslogOptions) -> Result<SyslogTls> {
        if options.queue == 0 {
            return Err(Error::Option {
                name: "audit.syslog.queue",
                message: "must be at least 1".into(),
            });
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let server_name = ServerName::try_from(options.server_name.clone())
            .map_err(|_| Error::ServerName(options.server_name.clone()))?;
        let target = Target {
            address: options.address.clone(),
            server_name,
            connector: TlsConnector::from(client_config(&options.ca_file)?),
            connect_timeout: options.connect_timeout,
            retry_max: options.retry_max,
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            cap: options.queue,
            wake: Notify::new(),
            stop: Notify::new(),
            closing: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            counters: Counters::default(),
        });
        let task = runtime.spawn(run(Arc::clone(&shared), target));
        Ok(SyslogTls {
            shared,
            hostname: options.hostname,
            flush_timeout: options.flush_timeout,
            task,
        })
    }

    /// Formats the event and queues it; never blocks. A full queue drops its oldest message.
    pub fn send(&self, event: &AuditEvent) {
        let message = rfc5424::message(event, self.hostname.as_deref());
        self.shared.push(rfc5424::frame(&message));
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.counters.dropped_count()
    }

    /// Delivered, dropped and failure counts, and the last failure (connection, handshake or
    /// certificate), naming the address.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Delivers what is queued (waiting at most the flush timeout), closes the connection and
    /// stops the task; returns the final counters. What could not be delivered is counted as
    /// dropped and reported in the error.
    pub async fn shutdown(mut self) -> Result<Stats> {
        self.shared.close();
        if tokio::time::timeout(self.flush_timeout, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
        let shared = &self.shared;
        let left = shared.lock().drain(..).count() as u64 + shared.in_flight.load(Ordering::SeqCst);
        finish("syslog sink", &shared.counters, left)
    }
}

impl Drop for SyslogTls {
    /// A sink dropped without [`SyslogTls::shutdown`] still stops its task: after delivering
    /// what is queued when connected, or after one more attempt when not.
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The queue and counters shared by the sink and its task.
#[derive(Debug)]
struct Shared {
    queue: Mutex<VecDeque<Vec<u8>>>,
    cap: usize,
    /// New messages were queued.
    wake: Notify,
    /// Shutdown was asked for (cuts a backoff short).
    stop: Notify,
    closing: AtomicBool,
    /// Messages taken off the queue and being written.
    in_flight: AtomicU64,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Vec<u8>>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, frame: Vec<u8>) {
        {
            let mut queue = self.lock();
            queue.push_back(frame);
            self.trim(&mut queue);
        }
        self.wake.notify_one();
    }

    /// Drops the oldest messages beyond the bound, counting them.
    fn trim(&self, queue: &mut VecDeque<Vec<u8>>) {
        while queue.len() > self.cap {
            queue.pop_front();
            self.counters.dropped(1);
        }
    }

    fn take(&self) -> Vec<Vec<u8>> {
        let mut queue = self.lock();
        let n = queue.len().min(MAX_BATCH);
        let batch: Vec<Vec<u8>> = queue.drain(..n).collect();
        self.in_flight.store(batch.len() as u64, Ordering::SeqCst);
        batch
    }

    /// Puts a batch whose write failed back at the front, in order.
    fn requeue(&self, batch: Vec<Vec<u8>>) {
        let mut queue = self.lock();
        for frame in batch.into_iter().rev() {
            queue.push_front(frame);
        }
        self.in_flight.store(0, Ordering::SeqCst);
        self.trim(&mut queue);
    }

    /// Asks the task to deliver what is queued and stop.
    fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.stop.notify_one();
        self.wake.notify_one();
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    fn fail(&self, message: String) {
        tracing::warn!(error = %message, "audit syslog sink: delivery failed; retrying");
        self.counters.failed(message);
    }
}

/// The receiver and how to reach it.
struct Target {
    address: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    connect_timeout: Duration,
    retry_max: Duration,
}

impl Target {
    async fn connect(&self) -> Result<TlsStream<TcpStream>, String> {
        let address = &self.address;
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| format!("connecting to {address}: timed out"))?
            .map_err(|e| format!("connecting to {address}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = self.server_name.to_str();
        let handshake = self.connector.connect(self.server_name.clone(), tcp);
        tokio::time::timeout(self.connect_timeout, handshake)
            .await
            .map_err(|_| format!("TLS handshake with {address} ({name}): timed out"))?
            .map_err(|e| format!("TLS handshake with {address} ({name}): {e}"))
    }
}

/// Connects, sends, reconnects with backoff; returns once closing with an empty queue (or after
/// the first failure once closing).
async fn run(shared: Arc<Shared>, target: Target) {
    let mut backoff = Backoff::new(RETRY_MIN, target.retry_max);
    loop {
        if shared.is_closing() && shared.lock().is_empty() {
            return;
        }
        match target.connect().await {
            Ok(stream) => {
                backoff.reset();
                match pump(&shared, stream).await {
                    Ok(()) => return,
                    Err(e) => shared.fail(format!("sending to {}: {e}", target.address)),
                }
            }
            Err(message) => shared.fail(message),
        }
        if shared.is_closing() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next()) => {}
            () = shared.stop.notified() => {}
        }
    }
}

/// Writes queued messages until closing with an empty queue (`Ok`) or the connection fails.
async fn pump(shared: &Shared, mut stream: TlsStream<TcpStream>) -> io::Result<()> {
    let mut scratch = [0u8; 256];
    loop {
        let batch = shared.take();
        if batch.is_empty() {
            if shared.is_closing() {
                let _ = stream.shutdown().await;
                return Ok(());
            }
            // A receiver sends nothing; a read ending means it closed the connection.
            tokio::select! {
                () = shared.wake.notified() => {}
                () = shared.stop.notified() => {}
                read = stream.read(&mut scratch) => match read {
                    Ok(0) => return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the receiver closed the connection",
                    )),
                    Ok(_) => {}
                    Err(e) => return Err(e),
                },
            }
            continue;
        }
        let bytes = batch.concat();
        let written = async {
            stream.write_all(&bytes).await?;
            stream.flush().await
        }
        .await;
        match written {
            Ok(()) => {
                shared.in_flight.store(0, Ordering::SeqCst);
                shared.counters.delivered(batch.len() as u64);
            }
            Err(e) => {
                shared.requeue(batch);
                return Err(e);
            }
        }
    }
}

/// A TLS client configuration (ring provider, TLS 1.2+) trusting only the CAs of `ca_file`.
fn client_config(ca_file: &Path) -> Result<Arc<ClientConfig>> {
    let ca_error = |message: String| Error::CaFile {
        path: ca_file.to_owned(),
        message,
    };
    let pem = std::fs::read(ca_file).map_err(|e| ca_error(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| ca_error(format!("not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| ca_error(format!("certificate refused: {e}")))?;
    }
    if roots.is_empty() {
        return Err(ca_error("no CERTIFICATE block found".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
