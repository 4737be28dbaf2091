//! The HTTPS edge: a TLS-only listener (rustls, TLS 1.2/1.3, AEAD suites, ALPN h2 + http/1.1),
//! the axum router under `/api/v1`, security headers on every response, and RFC 9457 errors.
//!
//! This is the only crate that knows axum, hyper or rustls. Handlers start with their
//! authorisation (an extractor) and call services; they never touch storage directly. There is
//! no plaintext listener, and there must never be one. `GET /api/v1/openapi.json` describes every
//! route (`openapi.rs`).

mod attachment_routes;
mod audit_routes;
pub mod auth;
mod backup_routes;
mod bodies;
mod deletion_routes;
mod error;
mod export_routes;
mod headers;
mod health;
mod json;
mod limiter;
mod linger;
mod metrics;
mod openapi;
mod record_routes;
mod server;
mod session_routes;
mod tenant_admin;
mod tenants;
pub mod tls;
mod unread;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use engine::Engine;
use identity::Identity;
use tenancy::Tenancy;

pub use error::ApiError;
pub use limiter::{IpLimiter, Limiter, RequestLimits};
pub use metrics::Metrics;
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
    /// Per-IP, per-tenant and per-credential budgets of every request.
    pub limits: Arc<RequestLimits>,
    pub hsts_max_age_secs: u64,
    /// Prometheus metrics: counted by the router, read at `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// Backups of this server (`None` without a `[backup]` section).
    pub backups: Option<Arc<backup::service::Service>>,
    /// Tenant exports (P14): the jobs, their links.
    pub exports: Arc<export::Service>,
}

/// Refuses a request whose client IP spent its budget (429 with `Retry-After`).
async fn limit_by_ip(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let ip = auth::ip_of(req.extensions());
    match state.limits.ip.check(ip, state.engine.now().millis()) {
        Ok(()) => next.run(req).await,
        Err(secs) => {
            axum::response::IntoResponse::into_response(error::rate_limited("this address", secs))
        }
    }
}

/// The whole HTTP application.
pub fn router(state: Arc<AppState>) -> Router {
    let hsts = headers::hsts_value(state.hsts_max_age_secs);
    Router::new()
        .merge(health::router())
        .merge(openapi::router())
        .merge(metrics::router())
        .nest("/api/v1/admin/tenants", tenants::router())
        .nest(
            "/api/v1/admin",
            tenants::system_router()
                .merge(audit_routes::system_router())
                .merge(backup_routes::router())
                .merge(deletion_routes::admin_router()),
        )
        .nest(
            "/api/v1/tenants",
            tenant_admin::router()
                .merge(record_routes::router())
                .merge(attachment_routes::router())
                .merge(audit_routes::tenant_router())
                .merge(deletion_routes::tenant_router())
                .merge(export_routes::router()),
        )
        .nest(
            "/api/v1",
            session_routes::router().merge(export_routes::download_router()),
        )
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(headers::request_timeout))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            limit_by_ip,
        ))
        .layer(axum::middleware::from_fn(error::problem_for_bare_errors))
        .layer(axum::middleware::from_fn(move |req, next| {
            headers::security_headers(hsts.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            audit_routes::record_requests,
        ))
        .layer(axum::middleware::from_fn(unread::close_if_body_unread))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::track,
        ))
        .with_state(state)
}
