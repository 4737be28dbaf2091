//! The HTTPS edge: a TLS-only listener (rustls, TLS 1.2/1.3, AEAD suites, ALPN h2 + http/1.1),
//! the axum router under `/api/v1`, security headers on every response, and RFC 9457 errors.
//!
//! This is the only crate that knows axum, hyper or rustls. Handlers start with their
//! authorisation (an extractor) and call services; they never touch storage directly. There is
//! no plaintext listener, and there must never be one.

pub mod auth;
mod error;
mod headers;
mod health;
mod json;
mod limiter;
mod record_routes;
mod server;
mod session_routes;
mod tenant_admin;
mod tenants;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use engine::Engine;
use identity::Identity;
use tenancy::Tenancy;

pub use error::ApiError;
pub use limiter::IpLimiter;
pub use server::{Server, ServerError};

/// Largest request body accepted by the JSON API.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Everything a handler may reach, passed explicitly (no globals).
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub tenancy: Tenancy,
    pub identity: Identity,
    pub records: ::records::Records,
    /// Per-IP budget of the authentication routes.
    pub auth_limiter: Arc<IpLimiter>,
    pub hsts_max_age_secs: u64,
}

/// The whole HTTP application.
pub fn router(state: Arc<AppState>) -> Router {
    let hsts = headers::hsts_value(state.hsts_max_age_secs);
    Router::new()
        .merge(health::router())
        .nest("/api/v1/admin/tenants", tenants::router())
        .nest("/api/v1/admin", tenants::system_router())
        .nest(
            "/api/v1/tenants",
            tenant_admin::router().merge(record_routes::router()),
        )
        .nest("/api/v1", session_routes::router())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(headers::request_timeout))
        .layer(axum::middleware::from_fn(error::problem_for_bare_errors))
        .layer(axum::middleware::from_fn(move |req, next| {
            headers::security_headers(hsts.clone(), req, next)
        }))
        .with_state(state)
}
