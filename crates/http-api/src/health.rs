//! Liveness and readiness. `/healthz` answers while the process serves; `/readyz` answers 503
//! when writes would be refused (a mirror down, the state behind), naming the cause.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::Health;

use crate::AppState;
use crate::bodies::Health as Status;

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(get_healthz))
        .route("/readyz", get(get_readyz))
}

/// Liveness.
///
/// **Permissions:** none (reveals only liveness).
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process serves.", body = Status)))]
async fn get_healthz() -> Response {
    Json(Status { status: "ok" }).into_response()
}

/// Readiness: whether writes are accepted.
///
/// **Permissions:** none (reveals whether writes are accepted and why not).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Writes are accepted.", body = Status),
        (status = 503, description = "Writes are refused (`not_ready`); `detail` says why."),
    ))]
async fn get_readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.engine.health() {
        Health::Healthy => Json(Status { status: "ready" }).into_response(),
        Health::Degraded { cause } => crate::error::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            &format!("writes are refused: {cause}"),
        ),
    }
}
