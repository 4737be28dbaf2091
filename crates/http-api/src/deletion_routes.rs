//! Tenant deletion (P15) over HTTP: an owner (re-authenticated) or a system administrator
//! requests it with a grace period; the tenant is suspended at once; the request is cancelled
//! with the cancellation code shown once (the owner can no longer sign in) or by a system
//! administrator; the server carries it out when the grace period ends and stores the signed
//! receipt, which `GET` shows. Also the erasure of one data subject's records. See
//! `docs/design/data-rights.md`.

use std::sync::Arc;

use access::{Action, Resource};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crypto::Zeroizing;
use tenancy::deletion::Deletion;
use types::TenantId;

use crate::auth::{SystemAdmin, TenantMember};
use crate::json::Json;
use crate::{ApiError, AppState};

/// Under `/api/v1/tenants`.
pub(crate) fn tenant_router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{tenant}/deletion", post(request_as_owner))
        .route("/{tenant}/deletion/cancel", post(cancel_with_code))
        .route("/{tenant}/subjects/erase", post(erase_subject))
}

/// Under `/api/v1/admin`.
pub(crate) fn admin_router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/deletions", get(list_deletions))
        .route(
            "/tenants/{id}/deletion",
            get(show_deletion).post(request_as_admin),
        )
        .route("/tenants/{id}/deletion/cancel", post(cancel_as_admin))
}

fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// An owner's request: the password (and a current code with a second factor) again.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OwnerDeletionBody {
    password: String,
    /// A current TOTP code, required when the account has a second factor.
    code: Option<String>,
    /// Days before the deletion is carried out (1 to 30; default 7).
    #[schema(minimum = 1, maximum = 30)]
    #[serde(default, deserialize_with = "types::lenient::opt_u32")]
    grace_days: Option<u32>,
}

/// A system administrator's request.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminDeletionBody {
    /// Days before the deletion is carried out (1 to 30; default 7).
    #[schema(minimum = 1, maximum = 30)]
    #[serde(default, deserialize_with = "types::lenient::opt_u32")]
    grace_days: Option<u32>,
}

/// The cancellation code of a request.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelBody {
    cancel_code: String,
}

/// A new request and its cancellation code.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DeletionRequested {
    deletion: Deletion,
    /// Cancels the request until the grace period ends (`POST …/deletion/cancel`). Shown once,
    /// kept only as a hash: the tenant's members can not sign in while it is suspended.
    cancel_code: String,
}

/// Every deletion request, with its deadline.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DeletionList {
    items: Vec<Deletion>,
}

async fn requested(
    state: &AppState,
    tenant: TenantId,
    by: &str,
    grace_days: Option<u32>,
) -> Result<Response, ApiError> {
    let (deletion, code) = state
        .tenancy
        .request_deletion(tenant, by, grace_days)
        .await?;
    let body = DeletionRequested {
        deletion,
        cancel_code: code.expose().clone(),
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Requests the deletion of the caller's own tenant.
///
/// The tenant is suspended at once: every member, the caller included, is signed out and
/// refused until the request is cancelled. When the grace period ends, the tenant's keys are
/// destroyed everywhere — the keyring's two copies and every backup destination — its data is
/// purged, and a receipt signed with the audit key is issued. Irreversible after that.
///
/// **Permissions:** tenant owner, signed in (a session, not a token), re-authenticated with the
/// password and, with a second factor, a current code.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/deletion", tag = "data rights",
    params(("tenant" = TenantId, Path, description = "The caller's tenant.")),
    request_body = OwnerDeletionBody,
    responses(
        (status = 202, description = "Requested; the cancellation code is shown once.", body = DeletionRequested),
        (status = 400, description = "The grace period is outside 1 to 30 days (`invalid_grace`)."),
        (status = 403, description = "Not an owner, a token, or the re-authentication failed (`reauthentication_failed`)."),
        (status = 409, description = "A deletion is already pending (`deletion_pending`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn request_as_owner(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Json(body): Json<OwnerDeletionBody>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    auth.require(Action::DeleteTenant, &Resource::Tenant(tenant))?;
    // The input first: a refused request costs no password check (nor a lockout count).
    tenancy::deletion::check_grace(body.grace_days)?;
    state
        .identity
        .reconfirm(
            &auth.caller,
            Zeroizing::new(body.password),
            body.code.as_deref(),
        )
        .await?;
    let by = match auth.caller.user_id() {
        Some(user) => format!("owner {user}"),
        None => "owner".to_owned(),
    };
    requested(&state, tenant, &by, body.grace_days).await
}

/// Cancels a pending deletion with the code its request returned.
///
/// **Permissions:** whoever holds the cancellation code (no session: the tenant is suspended).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/deletion/cancel", tag = "data rights",
    params(("tenant" = TenantId, Path, description = "The tenant.")),
    request_body = CancelBody,
    responses(
        (status = 200, description = "Cancelled; the tenant has its status back.", body = Deletion),
        (status = 403, description = "The code does not match (`wrong_cancel_code`)."),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "Nothing pending (`no_pending_deletion`), or the grace period is over (`deletion_started`)."),
    ))]
async fn cancel_with_code(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Json(body): Json<CancelBody>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let deletion = state
        .tenancy
        .cancel_deletion_with_code(tenant, &body.cancel_code)
        .await?;
    Ok(axum::Json(deletion).into_response())
}

/// Requests a tenant's deletion.
///
/// The tenant is suspended at once; see `POST /api/v1/tenants/{tenant}/deletion`.
///
/// **Permissions:** system administrator.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/deletion", tag = "data rights",
    params(("id" = TenantId, Path, description = "The tenant.")),
    request_body = AdminDeletionBody,
    responses(
        (status = 202, description = "Requested; the cancellation code is shown once.", body = DeletionRequested),
        (status = 400, description = "The grace period is outside 1 to 30 days (`invalid_grace`)."),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "A deletion is already pending (`deletion_pending`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn request_as_admin(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Json(body): Json<AdminDeletionBody>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&id)?;
    auth.require(Action::DeleteTenant, &Resource::Tenant(tenant))?;
    let by = match auth.caller.user_id() {
        Some(user) => format!("system administrator {user}"),
        None => "system administrator (bootstrap token)".to_owned(),
    };
    requested(&state, tenant, &by, body.grace_days).await
}

/// Shows a tenant's deletion request: its status, times, deadline and, once done, the receipt.
///
/// **Permissions:** system administrator.
#[utoipa::path(get, path = "/api/v1/admin/tenants/{id}/deletion", tag = "data rights",
    params(("id" = TenantId, Path, description = "The tenant.")),
    responses(
        (status = 200, description = "The request.", body = Deletion),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "No deletion was ever requested (`no_pending_deletion`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn show_deletion(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&id)?;
    auth.require(Action::DeleteTenant, &Resource::Tenant(tenant))?;
    Ok(axum::Json(state.tenancy.deletion_view(tenant)?).into_response())
}

/// Cancels a pending deletion before its grace period ends.
///
/// **Permissions:** system administrator.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/deletion/cancel", tag = "data rights",
    params(("id" = TenantId, Path, description = "The tenant.")),
    responses(
        (status = 200, description = "Cancelled; the tenant has its status back.", body = Deletion),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "Nothing pending (`no_pending_deletion`), or the grace period is over (`deletion_started`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn cancel_as_admin(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&id)?;
    auth.require(Action::DeleteTenant, &Resource::Tenant(tenant))?;
    Ok(axum::Json(state.tenancy.cancel_deletion(tenant).await?).into_response())
}

/// Every tenant deletion request, with its status and 30-day deadline.
///
/// **Permissions:** system administrator.
#[utoipa::path(get, path = "/api/v1/admin/deletions", tag = "data rights",
    responses((status = 200, description = "The requests.", body = DeletionList)),
    security(("bearer" = []), ("session" = [])))]
async fn list_deletions(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageTenants, &Resource::System)?;
    let items = state
        .tenancy
        .all_deletions()?
        .into_iter()
        .map(Deletion::from)
        .collect();
    Ok(axum::Json(DeletionList { items }).into_response())
}

/// What an erasure did.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SubjectErased {
    /// Records about the subject that were purged.
    records: u64,
    /// Their attachments, whose files were deleted.
    attachments: u64,
    /// When the subject's key was destroyed (Unix ms).
    key_destroyed_at: i64,
    /// The tenant's export archives waiting for download, deleted: they are sealed under their
    /// passphrase and may hold the subject's records.
    export_archives: u64,
}

/// The data subject to erase: the value its records hold in their collection's `subject` field.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EraseBody {
    #[schema(min_length = 1, max_length = 1024)]
    subject: String,
}

/// Erases a data subject: every record about the person (in every collection whose schema
/// names a `subject` field) and their attachments become unreadable everywhere.
///
/// The subject's own key is destroyed in both keyring copies — the journal, the audit log and
/// backups keep that data only as ciphertext no key opens — the records and files are purged,
/// and the backup destinations' keyring copies holding the key are removed. The tenant's other
/// records are not touched. The subject's id is spent: a new record naming it is refused.
///
/// **Permissions:** tenant owner or admin, signed in (`EraseSubject`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/subjects/erase", tag = "data rights",
    params(("tenant" = TenantId, Path, description = "The caller's tenant.")),
    request_body = EraseBody,
    responses(
        (status = 200, description = "Erased: how many records and attachments went.", body = SubjectErased),
        (status = 404, description = "No record ever named this subject."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn erase_subject(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Json(body): Json<EraseBody>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    auth.require(Action::EraseSubject, &Resource::Tenant(tenant))?;
    let erased = state.records.erase_subject(tenant, &body.subject).await?;
    let export_archives = state.exports.expire_tenant(tenant).await?;
    if let Some(backups) = state.backups.clone() {
        // The destinations' keyring copies that hold the subject's key go now, not at the next
        // run (the service waits for a run in progress, and records each outcome).
        tokio::spawn(async move {
            backups.shred().await;
        });
    }
    Ok(axum::Json(SubjectErased {
        records: erased.records,
        attachments: erased.attachments,
        key_destroyed_at: erased.key_destroyed_at,
        export_archives,
    })
    .into_response())
}
