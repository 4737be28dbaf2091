//! Tenant export (P14): `/api/v1/tenants/{tenant}/exports` (request, list, show, make a
//! download link) for owners and administrators through a session, and
//! `/api/v1/export-downloads/{token}`, the download itself, which needs no session: the link is
//! the capability (256 random bits, single use, 15 minutes, consumed before the first byte).

use std::io::Read;
use std::sync::Arc;

use access::{Action, Resource};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use export::ExportView;
use types::{ExportId, TenantId};

use crate::attachment_routes::FileBytes;
use crate::auth::{Authenticated, TenantMember};
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{tenant}/exports", get(list_exports).post(request_export))
        .route("/{tenant}/exports/{export}", get(show_export))
        .route("/{tenant}/exports/{export}/link", post(create_link))
}

pub(crate) fn download_router() -> Router<Arc<AppState>> {
    Router::new().route("/export-downloads/{token}", get(download))
}

impl From<export::Error> for ApiError {
    fn from(e: export::Error) -> Self {
        use export::Error as E;
        match e {
            E::NotFound => ApiError::not_found(),
            E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "export_conflict", m),
            E::LinkUnknown => ApiError::new(StatusCode::NOT_FOUND, "link_unknown", e.to_string()),
            E::LinkExpired => ApiError::new(StatusCode::GONE, "link_expired", e.to_string()),
            E::Engine(e) => e.into(),
            E::Identity(e) => e.into(),
            other => {
                tracing::error!(error = %other, "export");
                ApiError::internal()
            }
        }
    }
}

/// Authorises `ExportTenant` on the tenant in the path; returns its id.
fn exporter(auth: &Authenticated, raw: &str) -> Result<TenantId, ApiError> {
    let t: TenantId = raw
        .parse()
        .map_err(|_| ApiError::forbidden("another tenant"))?;
    auth.require(Action::ExportTenant, &Resource::Tenant(t))?;
    Ok(t)
}

fn export_id(raw: &str) -> Result<ExportId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// A requested export and its passphrase.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ExportRequested {
    export: ExportView,
    /// The passphrase the archive is sealed under: shown this once, never stored. 24
    /// characters of Crockford's base32 (120 bits) in groups of four.
    passphrase: String,
}

/// Every export of the tenant, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ExportList {
    items: Vec<ExportView>,
}

/// A download link.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ExportLink {
    /// `/api/v1/export-downloads/<token>`: good for one download, without a session.
    url: String,
    /// Unix ms.
    expires_at: i64,
}

/// Requests a complete export of the tenant: records, attachments, users, roles and the
/// audit trail, sealed under a passphrase shown once in this answer.
///
/// The export runs in the background (at most a few at once per server; others wait in
/// order); follow it with `GET …/exports/{export}`. Due within 30 days (`deadline`).
///
/// **Permissions:** tenant owner or admin (`ExportTenant`), through a session.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/exports", tag = "exports",
    params(("tenant" = TenantId, Path, description = "The tenant (the caller's own).")),
    responses(
        (status = 202, description = "Requested; the passphrase is shown this once.", body = ExportRequested),
        (status = 409, description = "An export of this tenant is already queued or running."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn request_export(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let t = exporter(&auth, &t)?;
    let user = auth
        .caller
        .principal
        .user()
        .ok_or_else(|| ApiError::forbidden("no account"))?;
    let (export, passphrase) = state.exports.request(t, user).await?;
    let body = ExportRequested {
        export,
        passphrase: passphrase.expose().clone(),
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Lists the tenant's exports, newest first.
///
/// **Permissions:** tenant owner or admin (`ExportTenant`), through a session.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/exports", tag = "exports",
    params(("tenant" = TenantId, Path, description = "The tenant (the caller's own).")),
    responses((status = 200, description = "The tenant's exports.", body = ExportList)),
    security(("bearer" = []), ("session" = [])))]
async fn list_exports(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let t = exporter(&auth, &t)?;
    let items = state.exports.list(t)?;
    Ok(axum::Json(ExportList { items }).into_response())
}

/// Shows an export: its status, progress (items done of total), times and deadline.
///
/// **Permissions:** tenant owner or admin (`ExportTenant`), through a session.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/exports/{export}", tag = "exports",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("export" = ExportId, Path, description = "The export."),
    ),
    responses(
        (status = 200, description = "The export.", body = ExportView),
        (status = 404, description = "No such export in this tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn show_export(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, e)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = exporter(&auth, &t)?;
    let view = state.exports.show(t, export_id(&e)?)?;
    Ok(axum::Json(view).into_response())
}

/// Makes a download link of a completed export: valid 15 minutes, good for one download, no
/// session needed to use it.
///
/// **Permissions:** tenant owner or admin (`ExportTenant`), through a session.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/exports/{export}/link", tag = "exports",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("export" = ExportId, Path, description = "The export."),
    ),
    responses(
        (status = 200, description = "The link.", body = ExportLink),
        (status = 404, description = "No such export in this tenant."),
        (status = 409, description = "The export is not completed (queued, running, failed or expired)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn create_link(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, e)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = exporter(&auth, &t)?;
    let link = state.exports.link(t, export_id(&e)?)?;
    Ok(axum::Json(ExportLink {
        url: format!("/api/v1/export-downloads/{}", link.token.expose()),
        expires_at: link.expires_at,
    })
    .into_response())
}

/// Bytes read from the archive per body frame.
const FRAME: usize = 256 * 1024;

/// Downloads an export's sealed archive (`.srx`, ciphertext only) through a link. The link is
/// used up before the first byte is sent.
///
/// **Permissions:** none: the link's token is the capability (single use, 15 minutes).
#[utoipa::path(get, path = "/api/v1/export-downloads/{token}", tag = "exports",
    params(("token" = String, Path, description = "The link's token.")),
    responses(
        (status = 200, description = "The sealed archive.", content((FileBytes = "application/octet-stream")),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"<export>.srx\"`."))),
        (status = 404, description = "An unknown or already used link."),
        (status = 410, description = "The link has expired."),
    ))]
async fn download(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    if token.len() > 100 {
        return Err(export::Error::LinkUnknown.into());
    }
    let got = state.exports.take(&token).await?;
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}.srx\"", got.export))
            .map_err(|_| ApiError::internal())?;
    let frames = futures_util::stream::unfold(Some(got.file), |file| async move {
        let mut file = file?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; FRAME];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, file))
        })
        .await
        .map_err(std::io::Error::other);
        match read {
            Ok(Ok((buf, _))) if buf.is_empty() => None,
            Ok(Ok((buf, file))) => Some((Ok(bytes::Bytes::from(buf)), Some(file))),
            Ok(Err(e)) | Err(e) => Some((Err(e), None)),
        }
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_LENGTH, HeaderValue::from(got.size)),
        ],
        Body::from_stream(frames),
    )
        .into_response())
}
