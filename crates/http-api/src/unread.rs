//! `Connection: close` on an HTTP/1 answer given before the request body was read to its end (a
//! refusal by an extractor, a rate limit, a time-out, a route that takes no body). hyper does not
//! reuse such a connection, but without the header the client cannot know: it sends its next
//! request on the pooled connection and sees it drop, which clients do not retry for POST, PUT
//! or PATCH. It also marks the connection's [`BodyLeftUnread`]: the rest of the body is then read
//! and discarded by the lingering close of `linger.rs`, so that the client, still sending it, is
//! not reset before it reads the answer.
//!
//! Must never read, buffer or delay a body itself; it only watches whether the handler did.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::linger::BodyLeftUnread;

/// A request body that records when it has been read to its end.
struct Watched {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pub(crate) async fn close_if_body_unread(req: Request, next: Next) -> Response {
    let http1 = req.version() < Version::HTTP_2;
    let linger = req.extensions().get::<BodyLeftUnread>().cloned();
    let finished = Arc::new(AtomicBool::new(false));
    let req = req.map(|inner| {
        if inner.is_end_stream() {
            finished.store(true, Ordering::Release);
            inner
        } else {
            Body::new(Watched {
                inner,
                finished: Arc::clone(&finished),
            })
        }
    });
    let mut response = next.run(req).await;
    if http1 && !finished.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        if let Some(linger) = linger {
            linger.mark();
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route(
                "/read",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route("/ignore", post(|| async { "ignored" }))
            .layer(axum::middleware::from_fn(close_if_body_unread))
    }

    async fn connection(path: &str, body: &'static str, version: Version) -> Option<String> {
        let req = Request::builder()
            .method("POST")
            .uri(path)
            .version(version)
            .body(Body::from(body))
            .expect("request");
        let response = app().oneshot(req).await.expect("infallible");
        let value = response.headers().get(header::CONNECTION)?;
        Some(value.to_str().expect("ascii").to_owned())
    }

    #[tokio::test]
    async fn closes_only_http1_connections_whose_body_was_left_unread() {
        let cases = [
            ("/read", "{\"a\":1}", Version::HTTP_11, None),
            ("/read", "", Version::HTTP_11, None),
            ("/ignore", "", Version::HTTP_11, None),
            ("/ignore", "{\"a\":1}", Version::HTTP_11, Some("close")),
            ("/ignore", "{\"a\":1}", Version::HTTP_10, Some("close")),
            ("/ignore", "{\"a\":1}", Version::HTTP_2, None),
        ];
        for (path, body, version, want) in cases {
            let got = connection(path, body, version).await;
            assert_eq!(
                got.as_deref(),
                want,
                "POST {path} with {body:?} over {version:?}"
            );
        }
    }
}
