//! `/api/v1/admin/backups`: backups of the running server (P12) for system administrators:
//! each destination's state, and a full backup, journal shipping or a restore drill now.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use backup::service::{Run, Service};

use crate::auth::SystemAdmin;
use crate::json::Json;
use crate::{ApiError, AppState};
use access::{Action, Resource};

/// How long a request waits for the run it started; longer runs go on and report through
/// `GET` (the request itself would hit the 30 s request limit).
const WAIT: Duration = Duration::from_secs(20);

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new().route("/backups", get(status).post(run))
}

fn service(state: &AppState) -> Result<Arc<Service>, ApiError> {
    state.backups.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "backups_not_configured",
            "backups are not configured: list at least two destinations in [backup]",
        )
    })
}

/// One destination's state.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DestinationStatus {
    name: String,
    region: String,
    jurisdiction: String,
    /// Unix ms of the last successful run at this destination.
    last_success_at: Option<i64>,
    /// The last journal entry it holds, as far as this server knows.
    journal_to: Option<u64>,
    /// The last failure, cleared by a success.
    last_error: Option<String>,
    /// The last restore drill: when (Unix ms), the recovery time and point it measured (ms),
    /// or why it failed.
    last_drill_at: Option<i64>,
    drill_rto_ms: Option<u64>,
    drill_rpo_ms: Option<u64>,
    drill_error: Option<String>,
}

/// Every destination's state.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BackupStatus {
    destinations: Vec<DestinationStatus>,
}

/// Reads every backup destination's state.
///
/// **Permissions:** system administrator (`ManageBackups`).
#[utoipa::path(get, path = "/api/v1/admin/backups", tag = "backups",
    responses(
        (status = 200, description = "Each destination's last success and failure.", body = BackupStatus),
        (status = 409, description = "Backups are not configured."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn status(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageBackups, &Resource::System)?;
    let service = service(&state)?;
    let destinations = service
        .status()
        .into_iter()
        .map(|s| DestinationStatus {
            name: s.destination,
            region: s.region,
            jurisdiction: s.jurisdiction,
            last_success_at: s.last_success_at,
            journal_to: s.journal_to,
            last_error: s.last_error,
            last_drill_at: s.last_drill_at,
            drill_rto_ms: s.drill_rto_ms,
            drill_rpo_ms: s.drill_rpo_ms,
            drill_error: s.drill_error,
        })
        .collect();
    Ok(axum::Json(BackupStatus { destinations }).into_response())
}

/// What to take now.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunBody {
    /// `full`: a full backup to every destination; `ship`: the entries each destination
    /// lacks (a full backup where it holds none); `drill`: the latest backup of each
    /// destination restored into a scratch directory and compared with the live state.
    #[schema(value_type = String, pattern = "^(full|ship|drill)$")]
    run: Run,
}

/// What one destination got.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BackupOutcome {
    destination: String,
    ok: bool,
    /// The set written; absent when the destination was up to date or failed.
    set: Option<String>,
    /// `full` or `increment`.
    kind: Option<String>,
    journal_to: Option<u64>,
    bytes: Option<u64>,
    /// Attachment files sent.
    attachments: u64,
    error: Option<String>,
    /// A drill's measured recovery time and recovery point (ms).
    rto_ms: Option<u64>,
    rpo_ms: Option<u64>,
}

/// The outcome of a run.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BackupRun {
    outcomes: Vec<BackupOutcome>,
}

/// Takes a full backup, ships the journal, or runs a restore drill, now.
///
/// Answers when the run ends (200, with every destination's outcome; a failed destination
/// does not stop the others), or after 20 s with 202 while the run goes on; `GET` then shows
/// its result. Runs never overlap: a second request waits for the first.
///
/// **Permissions:** system administrator (`ManageBackups`).
#[utoipa::path(post, path = "/api/v1/admin/backups", tag = "backups",
    request_body = RunBody,
    responses(
        (status = 200, description = "The run ended; each destination's outcome.", body = BackupRun),
        (status = 202, description = "The run goes on in the background."),
        (status = 409, description = "Backups are not configured."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn run(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Json(body): Json<RunBody>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageBackups, &Resource::System)?;
    let service = service(&state)?;
    // The run belongs to the server, not to the request: it ends even if the client leaves.
    let task = tokio::spawn(async move { service.run(body.run).await });
    let outcomes = match tokio::time::timeout(WAIT, task).await {
        Ok(Ok(outcomes)) => outcomes,
        Ok(Err(_)) => return Err(ApiError::internal()),
        Err(_) => {
            return Ok((
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({ "running": true })),
            )
                .into_response());
        }
    };
    let outcomes = outcomes
        .into_iter()
        .map(|o| match o.result {
            Ok(set) => BackupOutcome {
                destination: o.destination,
                ok: true,
                kind: set.as_ref().map(|m| {
                    match m.kind {
                        backup::Kind::Full => "full",
                        backup::Kind::Increment => "increment",
                    }
                    .to_owned()
                }),
                journal_to: set.as_ref().map(|m| m.journal_to.seq),
                bytes: set.as_ref().map(|m| m.parts.iter().map(|p| p.len).sum()),
                set: set.map(|m| m.backup),
                attachments: o.blobs,
                error: None,
                rto_ms: o.drill.as_ref().map(|d| d.rto.as_millis() as u64),
                rpo_ms: o.drill.as_ref().map(|d| d.rpo.as_millis() as u64),
            },
            Err(e) => BackupOutcome {
                destination: o.destination,
                ok: false,
                set: None,
                kind: None,
                journal_to: None,
                bytes: None,
                attachments: o.blobs,
                error: Some(e.to_string()),
                rto_ms: None,
                rpo_ms: None,
            },
        })
        .collect();
    Ok(axum::Json(BackupRun { outcomes }).into_response())
}
