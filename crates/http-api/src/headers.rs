//! Security headers on every response, errors included: HSTS, no sniffing, no framing, no
//! caching, no referrer, and a CSP that allows nothing (this is an API, not a page).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

pub(crate) fn hsts_value(max_age_secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("max-age={max_age_secs}; includeSubDomains"))
        .unwrap_or_else(|_| HeaderValue::from_static("max-age=31536000; includeSubDomains"))
}

pub(crate) async fn security_headers(hsts: HeaderValue, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    // A downloaded file is never a page of this origin, even if a browser is made to show it.
    let download = h
        .get(header::CONTENT_DISPOSITION)
        .is_some_and(|v| v.as_bytes().starts_with(b"attachment"));
    let csp = match download {
        true => "default-src 'none'; frame-ancestors 'none'; sandbox",
        false => "default-src 'none'; frame-ancestors 'none'",
    };
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    h.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    let charset = match h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some("application/json") => Some("application/json; charset=utf-8"),
        Some("text/plain") => Some("text/plain; charset=utf-8"),
        _ => None,
    };
    if let Some(value) = charset {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
    }
    response
}

/// Longest a request may take to be answered (handlers included).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Answers 503 when a request runs longer than [`REQUEST_TIMEOUT`]; the work is cancelled.
pub(crate) async fn request_timeout(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => crate::error::problem(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took longer than 30 s and was abandoned",
        ),
    }
}
