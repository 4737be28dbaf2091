//! `/api/v1/tenants/{tenant}/…`: a tenant's own administration — users, invitations, service
//! accounts and their tokens, custom roles, settings and the access review. Every handler
//! authorises the caller against the tenant in the path before doing anything.

use std::collections::BTreeMap;
use std::sync::Arc;

use access::{Action, CollectionRights, Resource};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use engine::model::UserStatus;
use identity::{AccessReview, RoleView, SettingsView, UserView};
use types::{RoleId, TenantId, TokenId, UserId};

use crate::auth::{Authenticated, TenantMember};
use crate::bodies::{InvitationCreated, ResetStarted, RoleList, TokenCreated, TokenList, UserPage};
use crate::json::Json;
use crate::session_routes::{TokenBody, new_token_response};
use crate::tenants::invitation_response;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{tenant}/users", get(list_users))
        .route("/{tenant}/users/{user}", get(show_user).delete(delete_user))
        .route("/{tenant}/users/{user}/disable", post(disable_user))
        .route("/{tenant}/users/{user}/enable", post(enable_user))
        .route("/{tenant}/users/{user}/unlock", post(unlock_user))
        .route("/{tenant}/users/{user}/role", put(set_role))
        .route(
            "/{tenant}/users/{user}/password-reset",
            post(start_password_reset),
        )
        .route("/{tenant}/users/{user}/tokens", get(list_user_tokens))
        .route("/{tenant}/invitations", post(invite))
        .route("/{tenant}/service-accounts", post(create_service_account))
        .route(
            "/{tenant}/service-accounts/{user}/tokens",
            post(create_service_token),
        )
        .route("/{tenant}/tokens/{token}", delete(revoke_token))
        .route("/{tenant}/roles", get(list_roles).post(create_role))
        .route(
            "/{tenant}/roles/{role}",
            get(show_role).put(update_role).delete(delete_role),
        )
        .route("/{tenant}/settings", get(get_settings).put(put_settings))
        .route("/{tenant}/access-review", get(access_review))
}

fn id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Authorises `action` on the tenant in the path; returns its id.
fn tenant(auth: &Authenticated, raw: &str, action: Action) -> Result<TenantId, ApiError> {
    // An unparsable id cannot be the caller's tenant: refuse the same way as any other tenant.
    let t: TenantId = raw
        .parse()
        .map_err(|_| ApiError::forbidden("another tenant"))?;
    auth.require(action, &Resource::Tenant(t))?;
    Ok(t)
}

/// Authorises changing the user in the path: `ManageUsers`, and `ManageOwners` when the target
/// is an owner. Returns the tenant and user ids.
fn managed_user(
    auth: &Authenticated,
    state: &AppState,
    raw_tenant: &str,
    raw_user: &str,
) -> Result<(TenantId, UserId), ApiError> {
    let t = tenant(auth, raw_tenant, Action::ManageUsers)?;
    let u: UserId = id(raw_user)?;
    auth.require(action_on(state, t, u)?, &Resource::Tenant(t))?;
    Ok((t, u))
}

/// The action needed to change `user`: owners are protected by `ManageOwners`.
fn action_on(state: &AppState, t: TenantId, user: UserId) -> Result<Action, ApiError> {
    let target = state.identity.user(Some(t), user)?;
    Ok(if target.role == "owner" {
        Action::ManageOwners
    } else {
        Action::ManageUsers
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<String>,
    limit: Option<u32>,
}

/// Lists the tenant's users by id.
///
/// **Permissions:** tenant owner or admin (`ReadUsers`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("after" = Option<UserId>, Query, description = "The cursor: the `next` of the previous page."),
        ("limit" = Option<u32>, Query, format = Int64, minimum = 0, maximum = 4_294_967_295_u64, description = "Page size, 1 to 500 (default 100; others are capped)."),
    ),
    responses(
        (status = 200, description = "One page of users.", body = UserPage),
        (status = 400, description = "A malformed cursor or limit, or an unknown query parameter."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn list_users(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    Query(page): Query<Page>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ReadUsers)?;
    let after = match page.after.as_deref() {
        Some(a) => Some(a.parse::<UserId>().map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                format!("after: {e}"),
            )
        })?),
        None => None,
    };
    let limit = page.limit.unwrap_or(100).clamp(1, 500);
    let items = state.identity.list_users(Some(t), after, limit + 1)?;
    let more = items.len() > limit as usize;
    let items: Vec<_> = items.into_iter().take(limit as usize).collect();
    let next = if more {
        items.last().map(|u| u.id)
    } else {
        None
    };
    Ok(axum::Json(UserPage { items, next }).into_response())
}

/// Shows a user.
///
/// **Permissions:** tenant owner or admin (`ReadUsers`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users/{user}", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The user."),
    ),
    responses(
        (status = 200, description = "The user.", body = UserView),
        (status = 404, description = "No such user in this tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn show_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ReadUsers)?;
    Ok(axum::Json(state.identity.user_view_of(Some(t), id(&u)?)?).into_response())
}

async fn change_status(
    auth: &Authenticated,
    state: &AppState,
    t: &str,
    u: &str,
    status: UserStatus,
) -> Result<Response, ApiError> {
    let (t, u) = managed_user(auth, state, t, u)?;
    Ok(axum::Json(state.identity.set_status(Some(t), u, status).await?).into_response())
}

/// Disables a user and ends their sessions.
///
/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner). Ends the user's sessions.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/users/{user}/disable", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The user."),
    ),
    responses(
        (status = 200, description = "The user, disabled.", body = UserView),
        (status = 404, description = "No such user in this tenant."),
        (status = 409, description = "The change would leave the tenant without an active owner."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn disable_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_status(&auth, &state, &t, &u, UserStatus::Disabled).await
}

/// Enables a disabled user.
///
/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/users/{user}/enable", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The user."),
    ),
    responses(
        (status = 200, description = "The user, active.", body = UserView),
        (status = 404, description = "No such user in this tenant."),
        (status = 409, description = "The change is not possible in the user's state."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn enable_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_status(&auth, &state, &t, &u, UserStatus::Active).await
}

/// Lifts a lockout.
///
/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/users/{user}/unlock", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The user."),
    ),
    responses(
        (status = 200, description = "The user, unlocked.", body = UserView),
        (status = 404, description = "No such user in this tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn unlock_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (t, u) = managed_user(&auth, &state, &t, &u)?;
    Ok(axum::Json(state.identity.unlock(Some(t), u).await?).into_response())
}

/// Deletes a user, their sessions and their tokens.
///
/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/users/{user}", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The user."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such user in this tenant."),
        (status = 409, description = "The change would leave the tenant without an active owner."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn delete_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (t, u) = managed_user(&auth, &state, &t, &u)?;
    state.identity.delete_user(t, u).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Starts a password reset for a user.
///
/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner). Returns a single-use secret to
/// hand to the person; using it sets a new password, ends their sessions and lifts a lock.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/users/{user}/password-reset", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The user."),
    ),
    responses(
        (status = 201, description = "The reset secret (shown once) and its expiry.", body = ResetStarted),
        (status = 404, description = "No such user in this tenant."),
        (status = 422, description = "Service accounts have no password."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn start_password_reset(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (t, u) = managed_user(&auth, &state, &t, &u)?;
    let (expires_at, secret) = state
        .identity
        .start_password_reset(&auth.caller, Some(t), u)
        .await?;
    let body = ResetStarted {
        token: secret.expose(),
        expires_at,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    /// A built-in role or a custom role's id.
    #[schema(pattern = "^(owner|admin|editor|viewer|ro_[0-9a-f]{32})$")]
    role: String,
}

/// Changes a user's role.
///
/// **Permissions:** `ManageUsers`; `ManageOwners` to change an owner or make one.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/users/{user}/role", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The user."),
    ),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The user with the new role.", body = UserView),
        (status = 404, description = "No such user in this tenant."),
        (status = 409, description = "The change would leave the tenant without an active owner."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn set_role(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
    Json(body): Json<RoleBody>,
) -> Result<Response, ApiError> {
    let (t, u) = managed_user(&auth, &state, &t, &u)?;
    if body.role == "owner" {
        auth.require(Action::ManageOwners, &Resource::Tenant(t))?;
    }
    Ok(axum::Json(state.identity.set_role(t, u, &body.role).await?).into_response())
}

/// Lists a user's API tokens.
///
/// **Permissions:** `ManageTokens`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users/{user}/tokens", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The user."),
    ),
    responses(
        (status = 200, description = "The user's tokens (never their secrets).", body = TokenList),
        (status = 404, description = "No such user in this tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn list_user_tokens(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageTokens)?;
    let u: UserId = id(&u)?;
    state.identity.user(Some(t), u)?;
    let items = state.identity.list_tokens_of(Some(t), u)?;
    Ok(axum::Json(TokenList { items }).into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    #[schema(schema_with = crate::bodies::email)]
    email: String,
    /// A built-in role or a custom role's id.
    #[schema(pattern = "^(owner|admin|editor|viewer|ro_[0-9a-f]{32})$")]
    role: String,
}

/// Invites a person into the tenant.
///
/// **Permissions:** `ManageUsers`; `ManageOwners` to invite an owner.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/invitations", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    request_body = InviteBody,
    responses(
        (status = 201, description = "The invitation and its secret (shown once).", body = InvitationCreated),
        (status = 409, description = "The email already has an account or a pending invitation."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn invite(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    Json(body): Json<InviteBody>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageUsers)?;
    if body.role == "owner" {
        auth.require(Action::ManageOwners, &Resource::Tenant(t))?;
    }
    let (invitation, secret) = state
        .identity
        .invite(&auth.caller, Some(t), &body.email, &body.role)
        .await?;
    Ok(invitation_response(invitation, secret))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    #[schema(schema_with = crate::bodies::name_100)]
    name: String,
    /// A built-in role other than `owner`, or a custom role's id.
    #[schema(pattern = "^(admin|editor|viewer|ro_[0-9a-f]{32})$")]
    role: String,
}

/// Creates a service account.
///
/// **Permissions:** `ManageUsers`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/service-accounts", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    request_body = ServiceBody,
    responses(
        (status = 201, description = "The service account.", body = UserView,
            links(
                ("ShowUser" = (operation_id = "show_user", parameters(("tenant" = "$request.path.tenant"), ("user" = "$response.body#/id")))),
                ("CreateServiceToken" = (operation_id = "create_service_token", parameters(("tenant" = "$request.path.tenant"), ("user" = "$response.body#/id")))),
            )),
        (status = 409, description = "The name is taken."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn create_service_account(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    Json(body): Json<ServiceBody>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageUsers)?;
    let user = state
        .identity
        .create_service_account(t, &body.name, &body.role)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(user)).into_response())
}

/// Issues an API token to a service account.
///
/// **Permissions:** `ManageTokens` (the token never exceeds the service account's role).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/service-accounts/{user}/tokens", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("user" = UserId, Path, description = "The service account."),
    ),
    request_body = TokenBody,
    responses(
        (status = 201, description = "The token and its secret (shown once).", body = TokenCreated,
            links(
                ("RevokeToken" = (operation_id = "revoke_token", parameters(("tenant" = "$request.path.tenant"), ("token" = "$response.body#/token/id")))),
            )),
        (status = 404, description = "No such service account in this tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn create_service_token(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
    Json(body): Json<TokenBody>,
) -> Result<Response, ApiError> {
    tenant(&auth, &t, Action::ManageTokens)?;
    let u: UserId = id(&u)?;
    let token = state
        .identity
        .create_token(
            &auth.caller,
            Some(u),
            body.scopes,
            body.expires_in_days,
            body.label.as_deref(),
        )
        .await?;
    Ok(new_token_response(token))
}

/// Revokes any API token of the tenant.
///
/// **Permissions:** `ManageTokens`.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/tokens/{token}", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("token" = TokenId, Path, description = "The token."),
    ),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No such token in this tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn revoke_token(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, k)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    tenant(&auth, &t, Action::ManageTokens)?;
    let k: TokenId = id(&k)?;
    state.identity.revoke_token(&auth.caller, k, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleDefBody {
    #[schema(schema_with = crate::bodies::name_100)]
    name: String,
    /// Rights per collection name (or `*`, every collection), at most 200.
    #[schema(schema_with = rights_by_collection)]
    collections: BTreeMap<String, CollectionRights>,
}

/// `collections` of a role in OpenAPI: names as the keys, at most 200 of them.
fn rights_by_collection() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Ref, schema::Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^(\*|[A-Za-z0-9_-]{1,64})$")),
        ))
        .additional_properties(Some(Ref::from_schema_name("CollectionRights")))
        .max_properties(Some(200))
        .build()
}

/// Lists the tenant's custom roles.
///
/// **Permissions:** `ManageRoles`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/roles", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    responses(
        (status = 200, description = "The custom roles.", body = RoleList),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn list_roles(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageRoles)?;
    let items = state.identity.list_roles(t)?;
    Ok(axum::Json(RoleList { items }).into_response())
}

/// Creates a custom role.
///
/// **Permissions:** `ManageRoles`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/roles", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    request_body = RoleDefBody,
    responses(
        (status = 201, description = "The role.", body = RoleView,
            links(
                ("ShowRole" = (operation_id = "show_role", parameters(("tenant" = "$request.path.tenant"), ("role" = "$response.body#/id")))),
                ("UpdateRole" = (operation_id = "update_role", parameters(("tenant" = "$request.path.tenant"), ("role" = "$response.body#/id")))),
                ("DeleteRole" = (operation_id = "delete_role", parameters(("tenant" = "$request.path.tenant"), ("role" = "$response.body#/id")))),
            )),
        (status = 409, description = "The name is taken."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn create_role(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    Json(body): Json<RoleDefBody>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageRoles)?;
    let role = state
        .identity
        .create_role(t, &body.name, body.collections)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(role)).into_response())
}

/// Shows a custom role.
///
/// **Permissions:** `ManageRoles`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/roles/{role}", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("role" = RoleId, Path, description = "The custom role."),
    ),
    responses(
        (status = 200, description = "The role.", body = RoleView),
        (status = 404, description = "No such role in this tenant."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn show_role(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, r)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageRoles)?;
    let r: RoleId = id(&r)?;
    Ok(axum::Json(state.identity.get_role(t, r)?).into_response())
}

/// Replaces a custom role's name and rights.
///
/// **Permissions:** `ManageRoles`.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/roles/{role}", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("role" = RoleId, Path, description = "The custom role."),
    ),
    request_body = RoleDefBody,
    responses(
        (status = 200, description = "The role.", body = RoleView),
        (status = 404, description = "No such role in this tenant."),
        (status = 409, description = "The name is taken."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn update_role(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, r)): Path<(String, String)>,
    Json(body): Json<RoleDefBody>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageRoles)?;
    let r: RoleId = id(&r)?;
    Ok(axum::Json(
        state
            .identity
            .update_role(t, r, &body.name, body.collections)
            .await?,
    )
    .into_response())
}

/// Deletes a custom role no user holds.
///
/// **Permissions:** `ManageRoles`.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/roles/{role}", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("role" = RoleId, Path, description = "The custom role."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such role in this tenant."),
        (status = 409, description = "Users still hold the role."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn delete_role(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, r)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageRoles)?;
    let r: RoleId = id(&r)?;
    state.identity.delete_role(t, r).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Shows the tenant's security settings.
///
/// **Permissions:** `ManageSettings`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/settings", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    responses(
        (status = 200, description = "The settings.", body = SettingsView),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn get_settings(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageSettings)?;
    Ok(axum::Json(state.identity.settings(t)?).into_response())
}

/// Replaces the tenant's security settings.
///
/// **Permissions:** `ManageSettings`.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/settings", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    request_body = SettingsView,
    responses(
        (status = 200, description = "The settings.", body = SettingsView),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn put_settings(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    Json(body): Json<SettingsView>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageSettings)?;
    Ok(axum::Json(state.identity.update_settings(t, body).await?).into_response())
}

/// The access review: roles, users, tokens and sessions, with stale ones marked.
///
/// **Permissions:** `ReadAccessReview`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/access-review", tag = "tenant administration",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    responses(
        (status = 200, description = "The review.", body = AccessReview),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn access_review(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ReadAccessReview)?;
    let identity = state.identity.clone();
    let review = tokio::task::spawn_blocking(move || identity.access_review(t))
        .await
        .map_err(|_| ApiError::internal())??;
    Ok(axum::Json(review).into_response())
}
