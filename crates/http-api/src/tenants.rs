//! `/api/v1/admin/tenants`: the system administrator's tenant lifecycle API.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use engine::TenantStatus;
use types::TenantId;

use crate::auth::SystemAdmin;
use crate::json::Json;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", post(create_tenant).get(list_tenants))
        .route("/{id}", get(show_tenant))
        .route("/{id}/suspend", post(suspend_tenant))
        .route("/{id}/resume", post(resume_tenant))
        .route("/{id}/invitations", post(invite_owner))
}

/// System-realm administration: invitations of further system administrators.
pub(crate) fn system_router() -> Router<Arc<AppState>> {
    Router::new().route("/invitations", post(invite_system_admin))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailBody {
    email: String,
}

fn invitation_response(
    invitation: identity::InvitationView,
    secret: crypto::Secret<String>,
) -> Response {
    let body = serde_json::json!({ "invitation": invitation, "token": secret.expose() });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// **Permissions:** system admin (`InviteOwner`): invites a tenant owner.
async fn invite_owner(
    SystemAdmin(admin): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Json(body): Json<EmailBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    admin.require(access::Action::InviteOwner, &access::Resource::Tenant(id))?;
    state.tenancy.show(id)?;
    let (invitation, secret) = state
        .identity
        .invite(&admin.caller, Some(id), &body.email, "owner")
        .await?;
    Ok(invitation_response(invitation, secret))
}

/// **Permissions:** system admin: invites another system administrator.
async fn invite_system_admin(
    SystemAdmin(admin): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Json(body): Json<EmailBody>,
) -> Result<Response, ApiError> {
    let (invitation, secret) = state
        .identity
        .invite(&admin.caller, None, &body.email, "system_admin")
        .await?;
    Ok(invitation_response(invitation, secret))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    name: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    after: Option<String>,
    limit: Option<u32>,
}

fn parse_id(raw: &str) -> Result<TenantId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// **Permissions:** system admin.
async fn create_tenant(
    _admin: SystemAdmin,
    State(state): State<Arc<AppState>>,
    Json(body): Json<CreateTenant>,
) -> Result<Response, ApiError> {
    let tenant = state.tenancy.create(&body.name).await?;
    let location = format!("/api/v1/admin/tenants/{}", tenant.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(tenant),
    )
        .into_response())
}

/// **Permissions:** system admin.
async fn list_tenants(
    _admin: SystemAdmin,
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let after = match query.after.as_deref() {
        Some(raw) => Some(raw.parse::<TenantId>().map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                format!("after: {e}"),
            )
        })?),
        None => None,
    };
    let tenancy = state.tenancy.clone();
    let page = tokio::task::spawn_blocking(move || tenancy.list(after, query.limit.unwrap_or(100)))
        .await
        .map_err(|_| ApiError::internal())??;
    Ok(axum::Json(page).into_response())
}

/// **Permissions:** system admin.
async fn show_tenant(
    _admin: SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenancy.show(parse_id(&id)?)?;
    Ok(axum::Json(tenant).into_response())
}

async fn set_status(
    state: &AppState,
    id: &str,
    status: TenantStatus,
) -> Result<Response, ApiError> {
    let tenant = state.tenancy.set_status(parse_id(id)?, status).await?;
    Ok(axum::Json(tenant).into_response())
}

/// **Permissions:** system admin.
async fn suspend_tenant(
    _admin: SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_status(&state, &id, TenantStatus::Suspended).await
}

/// **Permissions:** system admin.
async fn resume_tenant(
    _admin: SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_status(&state, &id, TenantStatus::Active).await
}
