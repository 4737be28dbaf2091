//! `/api/v1/admin/tenants`: the system administrator's tenant lifecycle API.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use engine::TenantStatus;
use tenancy::{Page as TenantPage, Tenant};
use types::TenantId;

use crate::auth::SystemAdmin;
use crate::bodies::InvitationCreated;
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

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailBody {
    #[schema(schema_with = crate::bodies::email)]
    email: String,
}

pub(crate) fn invitation_response(
    invitation: identity::InvitationView,
    secret: crypto::Secret<String>,
) -> Response {
    let body = InvitationCreated {
        invitation,
        token: secret.expose(),
    };
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// Invites a tenant's owner.
///
/// **Permissions:** system admin (`InviteOwner`): invites a tenant owner.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/invitations", tag = "tenants",
    params(("id" = TenantId, Path, description = "The tenant.")),
    request_body = EmailBody,
    responses(
        (status = 201, description = "The invitation and its secret (shown once).", body = InvitationCreated),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "The email already has an account or a pending invitation."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// Invites another system administrator.
///
/// **Permissions:** system admin: invites another system administrator.
#[utoipa::path(post, path = "/api/v1/admin/invitations", tag = "tenants",
    request_body = EmailBody,
    responses(
        (status = 201, description = "The invitation and its secret (shown once).", body = InvitationCreated),
        (status = 409, description = "The email already has an account or a pending invitation."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    #[schema(schema_with = crate::bodies::name_200)]
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

/// Creates a tenant with its own data key.
///
/// **Permissions:** system admin.
#[utoipa::path(post, path = "/api/v1/admin/tenants", tag = "tenants",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "The new tenant.", body = Tenant,
            headers(("Location" = String, description = "The tenant's URL.")),
            links(("ShowTenant" = (operation_id = "show_tenant", parameters(("id" = "$response.body#/id")))))),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// Lists tenants by id.
///
/// **Permissions:** system admin.
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "tenants",
    params(
        ("after" = Option<TenantId>, Query, description = "The cursor: the `next` of the previous page."),
        ("limit" = Option<u32>, Query, format = Int64, minimum = 0, maximum = 4_294_967_295_u64, description = "Page size (at most 500; default 100)."),
    ),
    responses(
        (status = 200, description = "One page of tenants.", body = TenantPage),
        (status = 400, description = "A malformed cursor or limit."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// Shows a tenant.
///
/// **Permissions:** system admin.
#[utoipa::path(get, path = "/api/v1/admin/tenants/{id}", tag = "tenants",
    params(("id" = TenantId, Path, description = "The tenant.")),
    responses(
        (status = 200, description = "The tenant.", body = Tenant),
        (status = 404, description = "No such tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// Suspends a tenant: its members can no longer sign in or call the API.
///
/// **Permissions:** system admin.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/suspend", tag = "tenants",
    params(("id" = TenantId, Path, description = "The tenant.")),
    responses(
        (status = 200, description = "The tenant, suspended.", body = Tenant),
        (status = 404, description = "No such tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn suspend_tenant(
    _admin: SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_status(&state, &id, TenantStatus::Suspended).await
}

/// Resumes a suspended tenant.
///
/// **Permissions:** system admin.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/resume", tag = "tenants",
    params(("id" = TenantId, Path, description = "The tenant.")),
    responses(
        (status = 200, description = "The tenant, active.", body = Tenant),
        (status = 404, description = "No such tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn resume_tenant(
    _admin: SystemAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_status(&state, &id, TenantStatus::Active).await
}
