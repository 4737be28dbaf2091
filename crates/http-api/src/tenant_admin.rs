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
use identity::SettingsView;
use types::{RoleId, TenantId, TokenId, UserId};

use crate::auth::{Authenticated, TenantMember};
use crate::json::Json;
use crate::session_routes::{TokenBody, new_token_response};
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

/// **Permissions:** tenant owner or admin (`ReadUsers`).
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
        items.last().map(|u| u.id.to_string())
    } else {
        None
    };
    Ok(axum::Json(serde_json::json!({ "items": items, "next": next })).into_response())
}

/// **Permissions:** tenant owner or admin (`ReadUsers`).
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
    let t = tenant(auth, t, Action::ManageUsers)?;
    let u: UserId = id(u)?;
    auth.require(action_on(state, t, u)?, &Resource::Tenant(t))?;
    Ok(axum::Json(state.identity.set_status(Some(t), u, status).await?).into_response())
}

/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner). Ends the user's sessions.
async fn disable_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_status(&auth, &state, &t, &u, UserStatus::Disabled).await
}

/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner).
async fn enable_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_status(&auth, &state, &t, &u, UserStatus::Active).await
}

/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner).
async fn unlock_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageUsers)?;
    let u: UserId = id(&u)?;
    auth.require(action_on(&state, t, u)?, &Resource::Tenant(t))?;
    Ok(axum::Json(state.identity.unlock(Some(t), u).await?).into_response())
}

/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner).
async fn delete_user(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageUsers)?;
    let u: UserId = id(&u)?;
    auth.require(action_on(&state, t, u)?, &Resource::Tenant(t))?;
    state.identity.delete_user(t, u).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// **Permissions:** `ManageUsers` (`ManageOwners` for an owner). Returns a single-use secret to
/// hand to the person; using it sets a new password, ends their sessions and lifts a lock.
async fn start_password_reset(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageUsers)?;
    let u: UserId = id(&u)?;
    auth.require(action_on(&state, t, u)?, &Resource::Tenant(t))?;
    let (expires_at, secret) = state
        .identity
        .start_password_reset(&auth.caller, Some(t), u)
        .await?;
    let body = serde_json::json!({ "token": secret.expose(), "expires_at": expires_at });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

/// **Permissions:** `ManageUsers`; `ManageOwners` to change an owner or make one.
async fn set_role(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
    Json(body): Json<RoleBody>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageUsers)?;
    let u: UserId = id(&u)?;
    auth.require(action_on(&state, t, u)?, &Resource::Tenant(t))?;
    if body.role == "owner" {
        auth.require(Action::ManageOwners, &Resource::Tenant(t))?;
    }
    Ok(axum::Json(state.identity.set_role(t, u, &body.role).await?).into_response())
}

/// **Permissions:** `ManageTokens`.
async fn list_user_tokens(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, u)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageTokens)?;
    let u: UserId = id(&u)?;
    state.identity.user(Some(t), u)?;
    Ok(
        axum::Json(serde_json::json!({ "items": state.identity.list_tokens_of(Some(t), u)? }))
            .into_response(),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    role: String,
}

/// **Permissions:** `ManageUsers`; `ManageOwners` to invite an owner.
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
    let body = serde_json::json!({ "invitation": invitation, "token": secret.expose() });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    name: String,
    role: String,
}

/// **Permissions:** `ManageUsers`.
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

/// **Permissions:** `ManageTokens` (the token never exceeds the service account's role).
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

/// **Permissions:** `ManageTokens`.
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDefBody {
    name: String,
    collections: BTreeMap<String, CollectionRights>,
}

/// **Permissions:** `ManageRoles`.
async fn list_roles(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageRoles)?;
    Ok(axum::Json(serde_json::json!({ "items": state.identity.list_roles(t)? })).into_response())
}

/// **Permissions:** `ManageRoles`.
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

/// **Permissions:** `ManageRoles`.
async fn show_role(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, r)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageRoles)?;
    let r: RoleId = id(&r)?;
    Ok(axum::Json(state.identity.get_role(t, r)?).into_response())
}

/// **Permissions:** `ManageRoles`.
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

/// **Permissions:** `ManageRoles`.
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

/// **Permissions:** `ManageSettings`.
async fn get_settings(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageSettings)?;
    Ok(axum::Json(state.identity.settings(t)?).into_response())
}

/// **Permissions:** `ManageSettings`.
async fn put_settings(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    Json(body): Json<SettingsView>,
) -> Result<Response, ApiError> {
    let t = tenant(&auth, &t, Action::ManageSettings)?;
    Ok(axum::Json(state.identity.update_settings(t, body).await?).into_response())
}

/// **Permissions:** `ReadAccessReview`.
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
