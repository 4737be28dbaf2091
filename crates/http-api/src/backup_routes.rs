//! `/api/v1/admin/backups`: backups of the running server (P12) for system administrators:
//! each destination's state, and a full backup, journal shipping or a restore drill now.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use backup::service::{Run, Service};

use crate::auth::SystemAdmin;
use crate::json::Json;
use crate::{ApiError, AppState};
use access::{Action, Resource};

/// How long a request waits for the run it started; longer runs go on and report through
/// `GET` (the request itself would hit the 30 s request limit).
const WAIT: Duration = Duration::from_secs(20);

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/backups", get(status).post(run))
        .route("/tenants/{id}/restore", post(restore_tenant))
}

/// Runs `work` as the server's, not the request's (it ends even if the client leaves), in the
/// request's audit context (its events name the caller); `None` when it outlasts [`WAIT`].
async fn in_background<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<Option<T>, ApiError> {
    let context = audit::context::current();
    let task = tokio::spawn(async move {
        match context {
            Some(context) => audit::context::scope(context, work).await,
            None => work.await,
        }
    });
    match tokio::time::timeout(WAIT, task).await {
        Ok(Ok(done)) => Ok(Some(done)),
        Ok(Err(_)) => Err(ApiError::internal()),
        Err(_) => Ok(None),
    }
}

/// 202: the work goes on in the background.
fn still_running() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "running": true })),
    )
        .into_response()
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
    let Some(outcomes) = in_background(async move { service.run(body.run).await }).await? else {
        return Ok(still_running());
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

/// The moment to restore a tenant's data to.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestoreBody {
    /// Unix milliseconds: the tenant's data becomes what it was after the longest prefix of the
    /// journal that ends before the first entry sealed after this moment.
    #[schema(minimum = 0, maximum = 253_402_300_799_999_i64)]
    #[serde(deserialize_with = "types::lenient::unix_ms")]
    at: i64,
}

/// What a tenant restore did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TenantRestored {
    tenant: String,
    /// The moment restored to (Unix ms) and the last journal entry of its prefix.
    at: i64,
    cut: u64,
    /// The restore's own journal entry and its time; restoring to `undo_at` undoes it.
    entry: u64,
    undo_at: i64,
    collections: u64,
    records: u64,
    attachments: u64,
    idempotency: u64,
}

/// Restores one tenant's data (collections, records, attachments' metadata, idempotency keys)
/// to a moment, on the live system.
///
/// Written as one new audited journal entry (`tenant.restored`); other tenants are not touched,
/// and the tenant's accounts, roles, sessions and tokens keep their present state (a revoked
/// credential never comes back). Undone by restoring to `undo_at`. Answers within 20 s or with
/// 202 while the restore goes on (its outcome is then in the audit trail).
///
/// **Permissions:** system administrator (`ManageBackups`).
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/restore", tag = "backups",
    params(("id" = types::TenantId, Path, description = "The tenant.")),
    request_body = RestoreBody,
    responses(
        (status = 200, description = "The tenant's data as it was at the moment.", body = TenantRestored),
        (status = 202, description = "The restore goes on in the background."),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "The moment is in the future or before the tenant existed, or the data at that moment is too large for one entry."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn restore_tenant(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Json(body): Json<RestoreBody>,
) -> Result<Response, ApiError> {
    let tenant: types::TenantId = id.parse().map_err(|_| ApiError::not_found())?;
    auth.require(Action::ManageBackups, &Resource::Tenant(tenant))?;
    let engine = state.engine.clone();
    let work = async move { engine.restore_tenant_data(tenant, body.at).await };
    let Some(done) = in_background(work).await? else {
        return Ok(still_running());
    };
    let restored = done.map_err(|e| {
        use engine::Error as E;
        match e {
            E::UnknownTenant(_) => ApiError::not_found(),
            E::RestoreInFuture { .. } | E::TenantAbsentAt { .. } | E::RestoreTooLarge { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_moment", e.to_string())
            }
            other => other.into(),
        }
    })?;
    Ok(axum::Json(TenantRestored {
        tenant: restored.tenant.to_string(),
        at: restored.at,
        cut: restored.cut,
        entry: restored.entry.position.seq,
        undo_at: restored.entry.at.millis() - 1,
        collections: restored.counts.collections,
        records: restored.counts.records,
        attachments: restored.counts.attachments,
        idempotency: restored.counts.idempotency,
    })
    .into_response())
}
