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

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(get_healthz))
        .route("/readyz", get(get_readyz))
}

/// **Permissions:** none (reveals only liveness).
async fn get_healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// **Permissions:** none (reveals whether writes are accepted and why not).
async fn get_readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.engine.health() {
        Health::Healthy => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Health::Degraded { cause } => crate::error::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            &format!("writes are refused: {cause}"),
        ),
    }
}
