//! Lingering close (RFC 9112 §9.6). When a connection ends while the client may still be
//! sending, the server closes its sending side first and then reads and discards what comes,
//! until the client closes too or [`LINGER`] has passed; only then is the socket closed. The
//! client may still be sending when the HTTP layer answered without reading a request body to
//! its end ([`BodyLeftUnread`], set by `unread.rs`) or when unread bytes wait at the shutdown
//! (hyper's own refusals, such as a request head over the limit). Any other connection (an idle
//! one, at a time-out or at the server's shutdown) is closed at once.
//!
//! Why: a handler may answer before it reads the request body (401, 403, 415, 413, a rate
//! limit), and the connection then ends after the answer (`unread.rs`). Closing a socket whose
//! receive buffer holds unread bytes, or that receives bytes after it was closed, makes the
//! kernel send a TCP reset. A client still sending its body gets the reset on its next write and
//! fails the request (Python's `ssl`: "EOF occurred in violation of protocol") without reading
//! the answer already waiting in its receive buffer.
//!
//! Sits under TLS: hyper's shutdown goes through rustls (which sends `close_notify`) to
//! [`Lingering::poll_shutdown`]. Must never hand a discarded byte to anyone, and never linger
//! longer than its deadline (a client cannot keep a connection open by trickling bytes).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Longest the server reads and discards after closing its sending side.
pub(crate) const LINGER: Duration = Duration::from_secs(5);

/// Set by the HTTP layer (a request extension) when it answered a request without reading its
/// body to the end: the client may still be sending it, so the close must linger.
#[derive(Clone, Debug, Default)]
pub(crate) struct BodyLeftUnread(Arc<AtomicBool>);

impl BodyLeftUnread {
    pub(crate) fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_marked(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A TCP stream whose shutdown is a lingering close when the client may still be sending.
pub(crate) struct Lingering {
    tcp: TcpStream,
    linger: Duration,
    body_left_unread: BodyLeftUnread,
    /// Set once the sending side is closed: when to stop discarding.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Whether the close waits for the client (else it ends as soon as nothing is waiting).
    lingering: bool,
}

impl Lingering {
    /// The stream, and the flag the HTTP layer of this connection marks.
    pub(crate) fn new(tcp: TcpStream, linger: Duration) -> (Lingering, BodyLeftUnread) {
        let body_left_unread = BodyLeftUnread::default();
        let stream = Lingering {
            tcp,
            linger,
            body_left_unread: body_left_unread.clone(),
            deadline: None,
            lingering: false,
        };
        (stream, body_left_unread)
    }

    /// Reads and discards until the client closes, the connection fails or the deadline passes;
    /// when not lingering, only what is already waiting (and if something is, lingers).
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if self.lingering
                && let Some(deadline) = self.deadline.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.tcp).poll_read(cx, &mut buf) {
                Poll::Pending if self.lingering => return Poll::Pending,
                Poll::Pending => return Poll::Ready(()),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => self.lingering = true,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
            }
        }
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    /// Closes the sending side (the client reads the answer to its end), then, when the client
    /// may still be sending, discards what it sends until it closes too or the linger time is
    /// over.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.deadline.is_none() {
            ready!(Pin::new(&mut this.tcp).poll_shutdown(cx))?;
            this.deadline = Some(Box::pin(tokio::time::sleep(this.linger)));
            this.lingering = this.body_left_unread.is_marked();
        }
        this.poll_discard(cx).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A connected pair: (the server's end, wrapped, and its flag; the client's end).
    async fn pair(linger: Duration) -> (Lingering, BodyLeftUnread, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (server, _) = accepted.expect("accept");
        let (server, unread) = Lingering::new(server, linger);
        (server, unread, client.expect("connect"))
    }

    /// The server answers and shuts down while the client sends far more than the kernel
    /// buffers hold: without the lingering read, the client's writes fail with a reset once the
    /// server's socket is closed. Returns the client's (write, read, answer).
    async fn answer_while_the_client_sends(
        mut server: Lingering,
        mut client: TcpStream,
    ) -> (io::Result<()>, io::Result<usize>, Vec<u8>) {
        server.write_all(b"refused").await.expect("answer");
        let body = vec![b'x'; 16 * 1024 * 1024];
        let (sent, shut) = tokio::join!(
            async {
                let sent = client.write_all(&body).await;
                let mut answer = Vec::new();
                let read = client.read_to_end(&mut answer).await;
                drop(client);
                (sent, read, answer)
            },
            async {
                let shut = server.shutdown().await;
                drop(server);
                shut
            }
        );
        shut.expect("shutdown");
        sent
    }

    #[tokio::test]
    async fn a_client_still_sending_an_unread_body_reads_the_answer_and_sees_no_reset() {
        let (server, unread, client) = pair(LINGER).await;
        unread.mark();
        let (sent, read, answer) = answer_while_the_client_sends(server, client).await;
        sent.expect("the client's body was refused by a reset");
        read.expect("reading the answer");
        assert_eq!(answer, b"refused");
    }

    #[tokio::test]
    async fn bytes_waiting_at_the_shutdown_make_it_linger_unmarked() {
        // The client's first writes reach the server's receive buffer before the shutdown.
        let (server, _unread, client) = pair(LINGER).await;
        let (sent, read, answer) = answer_while_the_client_sends(server, client).await;
        sent.expect("the client's bytes were refused by a reset");
        read.expect("reading the answer");
        assert_eq!(answer, b"refused");
    }

    #[tokio::test]
    async fn lingering_ends_at_its_deadline_when_the_client_stays() {
        let (mut server, unread, _client) = pair(Duration::from_millis(50)).await;
        unread.mark();
        let start = Instant::now();
        server.shutdown().await.expect("shutdown");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < LINGER,
            "shutdown took {took:?}"
        );
    }

    #[tokio::test]
    async fn lingering_ends_when_the_client_closes() {
        let (mut server, unread, client) = pair(LINGER).await;
        unread.mark();
        drop(client);
        let start = Instant::now();
        server.shutdown().await.expect("shutdown");
        assert!(start.elapsed() < LINGER, "took {:?}", start.elapsed());
    }

    #[tokio::test]
    async fn an_idle_connection_closes_at_once() {
        let (mut server, _unread, mut client) = pair(LINGER).await;
        let start = Instant::now();
        server.shutdown().await.expect("shutdown");
        assert!(start.elapsed() < LINGER, "took {:?}", start.elapsed());
        let mut rest = Vec::new();
        let read = client.read_to_end(&mut rest).await;
        assert!(matches!(read, Ok(0)), "{read:?}");
    }
}
