//! The TLS accept loop: every TCP connection must complete a TLS handshake within the configured
//! time or it is dropped; only then does HTTP (h2 or http/1.1, by ALPN) begin. A plaintext HTTP
//! request never reaches the router: it fails the handshake and gets no HTTP answer. A connection
//! the server ends while the client may still be sending (a body the server answered without
//! reading) is closed by a lingering close (`linger.rs`), so the client reads the answer instead
//! of a TCP reset.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::linger::{LINGER, Lingering};

/// Most connections served at once; further ones wait in the kernel backlog.
const MAX_CONNECTIONS: usize = 4096;
/// Largest request head (request line and headers) accepted, in bytes.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Longest a client may take to send a request's headers (slow-loris defence).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound, not yet serving, HTTPS server.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        handshake_timeout: Duration,
    ) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Server {
            listener,
            acceptor: TlsAcceptor::from(tls),
            handshake_timeout,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` turns true, then stops accepting and lets open requests finish
    /// (for at most ten seconds).
    pub async fn serve(self, app: Router, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = tokio::select! {
                p = Arc::clone(&permits).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.changed() => break,
            };
            let (tcp, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            let connection = Connection {
                acceptor: self.acceptor.clone(),
                handshake_timeout: self.handshake_timeout,
                app: app.clone(),
                shutdown: shutdown.clone(),
                peer,
            };
            tokio::spawn(async move {
                connection.run(tcp).await;
                drop(permit);
            });
        }
        drop(self.listener);
        let all = MAX_CONNECTIONS as u32;
        let _ = tokio::time::timeout(Duration::from_secs(10), permits.acquire_many(all)).await;
    }
}

/// One accepted TCP connection.
struct Connection {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    app: Router,
    shutdown: watch::Receiver<bool>,
    peer: SocketAddr,
}

impl Connection {
    async fn run(mut self, tcp: tokio::net::TcpStream) {
        let peer = self.peer;
        let _ = tcp.set_nodelay(true);
        let (tcp, body_left_unread) = Lingering::new(tcp, LINGER);
        let tls =
            match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http2()
            .max_header_list_size(MAX_HEADER_BYTES as u32)
            .max_concurrent_streams(100);
        builder
            .http1()
            .max_buf_size(MAX_HEADER_BYTES)
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let app = self
            .app
            .layer(axum::Extension(crate::auth::ClientAddr(peer)))
            .layer(axum::Extension(body_left_unread));
        let service = TowerToHyperService::new(app);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
        tokio::pin!(conn);
        let mut draining = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = self.shutdown.changed(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
