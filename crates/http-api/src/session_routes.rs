//! Authentication routes (`/api/v1/auth/*`, `/api/v1/invitations/accept`) and the caller's own
//! account (`/api/v1/me/*`): sessions, password, second factor, own API tokens.

use std::sync::Arc;

use access::{Action, Resource, TokenScope};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use crypto::Zeroizing;
use identity::{LoginOutcome, NewSession};
use types::{SessionId, TenantId, TokenId};

use crate::auth::{Authenticated, SESSION_COOKIE, client_ip, session_id};
use crate::json::Json;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/mfa", post(complete_mfa))
        .route("/auth/logout", post(logout))
        .route("/auth/csrf", get(get_csrf))
        .route("/invitations/accept", post(accept_invitation))
        .route("/password-reset", post(finish_password_reset))
        .route("/me", get(get_me))
        .route("/me/sessions", get(list_sessions))
        .route("/me/sessions/{id}", delete(revoke_session))
        .route("/me/password", post(change_password))
        .route("/me/mfa/totp", post(begin_totp))
        .route("/me/mfa/totp/confirm", post(confirm_totp))
        .route("/me/mfa/totp/remove", post(remove_totp))
        .route("/me/mfa/recovery-codes", post(regenerate_recovery_codes))
        .route("/me/tokens", get(list_tokens).post(create_token))
        .route("/me/tokens/{id}", delete(revoke_token))
}

/// Refuses when the caller's IP spent its authentication budget.
pub(crate) struct AuthBudget;

impl axum::extract::FromRequestParts<Arc<AppState>> for AuthBudget {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let now = state.engine.now().millis();
        state
            .auth_limiter
            .check(client_ip(parts), now)
            .map_err(|secs| {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many authentication requests from this address",
                );
                e.retry_after = Some(secs);
                e
            })?;
        Ok(AuthBudget)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    tenant: Option<TenantId>,
    email: String,
    password: String,
}

fn session_response(state: &AppState, status: &str, new: NewSession) -> Response {
    let max_age = state.identity.config().session_absolute_ms / 1000;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}",
        new.secret.expose()
    );
    let body = serde_json::json!({
        "status": status,
        "session": new.session,
        "token": new.secret.expose(),
        "csrf_token": new.csrf,
    });
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// **Permissions:** none (rate-limited per IP; answers are identical for unknown accounts).
async fn login(
    _budget: AuthBudget,
    State(state): State<Arc<AppState>>,
    Json(body): Json<LoginBody>,
) -> Result<Response, ApiError> {
    let password = Zeroizing::new(body.password);
    match state
        .identity
        .login(body.tenant, &body.email, password)
        .await?
    {
        LoginOutcome::Session(s) => Ok(session_response(&state, "ok", s)),
        LoginOutcome::EnrollmentRequired(s) => {
            Ok(session_response(&state, "mfa_enrollment_required", s))
        }
        LoginOutcome::MfaRequired {
            challenge,
            expires_at,
        } => Ok(axum::Json(serde_json::json!({
            "status": "mfa_required",
            "challenge": challenge.expose(),
            "expires_at": expires_at,
        }))
        .into_response()),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MfaBody {
    challenge: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

/// **Permissions:** none (holder of a login challenge; rate-limited per IP).
async fn complete_mfa(
    _budget: AuthBudget,
    State(state): State<Arc<AppState>>,
    Json(body): Json<MfaBody>,
) -> Result<Response, ApiError> {
    let session = state
        .identity
        .complete_mfa(
            &body.challenge,
            body.code.as_deref(),
            body.recovery_code.as_deref(),
        )
        .await?;
    Ok(session_response(&state, "ok", session))
}

/// **Permissions:** an authenticated session (its own).
async fn logout(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    state.identity.logout(&auth.caller).await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// **Permissions:** a browser session (the cookie): returns its CSRF token.
async fn get_csrf(
    _auth: Authenticated,
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let secret = crate::auth::session_cookie(&headers)
        .ok_or_else(|| ApiError::forbidden("only cookie sessions use CSRF tokens"))?;
    Ok(
        axum::Json(serde_json::json!({ "csrf_token": state.identity.csrf_token(secret)? }))
            .into_response(),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    token: String,
    password: String,
}

/// **Permissions:** none (holder of an invitation secret; rate-limited per IP).
async fn accept_invitation(
    _budget: AuthBudget,
    State(state): State<Arc<AppState>>,
    Json(body): Json<AcceptBody>,
) -> Result<Response, ApiError> {
    let user = state
        .identity
        .accept_invitation(&body.token, Zeroizing::new(body.password))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(user)).into_response())
}

/// **Permissions:** none (holder of a password-reset secret; rate-limited per IP).
async fn finish_password_reset(
    _budget: AuthBudget,
    State(state): State<Arc<AppState>>,
    Json(body): Json<AcceptBody>,
) -> Result<Response, ApiError> {
    let user = state
        .identity
        .finish_password_reset(&body.token, Zeroizing::new(body.password))
        .await?;
    Ok(axum::Json(user).into_response())
}

/// **Permissions:** any authenticated caller with an account.
async fn get_me(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    let user = auth.caller.account()?;
    let view = state.identity.user_view_of(user.tenant, user.id)?;
    Ok(axum::Json(serde_json::json!({ "user": view, "restricted": matches!(auth.caller.credential, identity::Credential::Session { restricted: true, .. }) })).into_response())
}

/// **Permissions:** own account.
async fn list_sessions(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let current = session_id(&auth.caller);
    let sessions: Vec<serde_json::Value> = state
        .identity
        .list_sessions(&auth.caller)?
        .into_iter()
        .map(|s| {
            let mut v = serde_json::json!(s);
            v["current"] = serde_json::json!(Some(s.id) == current);
            v
        })
        .collect();
    Ok(axum::Json(serde_json::json!({ "items": sessions })).into_response())
}

/// **Permissions:** own account.
async fn revoke_session(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let id: SessionId = id.parse().map_err(|_| ApiError::not_found())?;
    state.identity.revoke_session(&auth.caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// **Permissions:** own account (re-authenticates with the current password).
async fn change_password(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
    Json(body): Json<PasswordBody>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    state
        .identity
        .change_password(
            &auth.caller,
            Zeroizing::new(body.current_password),
            Zeroizing::new(body.new_password),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReauthBody {
    password: String,
    code: Option<String>,
}

/// **Permissions:** own account, restricted sessions included (re-authenticates).
async fn begin_totp(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
    Json(body): Json<ReauthBody>,
) -> Result<Response, ApiError> {
    auth.require(Action::EnrollMfa, &Resource::OwnAccount)?;
    let enrollment = state
        .identity
        .begin_totp(&auth.caller, Zeroizing::new(body.password))
        .await?;
    Ok(axum::Json(enrollment).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

fn codes_response(codes: Vec<crypto::Secret<String>>) -> Response {
    let codes: Vec<&str> = codes.iter().map(|c| c.expose().as_str()).collect();
    axum::Json(serde_json::json!({ "recovery_codes": codes })).into_response()
}

/// **Permissions:** own account, restricted sessions included.
async fn confirm_totp(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
    Json(body): Json<CodeBody>,
) -> Result<Response, ApiError> {
    auth.require(Action::EnrollMfa, &Resource::OwnAccount)?;
    Ok(codes_response(
        state
            .identity
            .confirm_totp(&auth.caller, &body.code)
            .await?,
    ))
}

/// **Permissions:** own account (password and a current code).
async fn remove_totp(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
    Json(body): Json<ReauthBody>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let code = body.code.unwrap_or_default();
    state
        .identity
        .remove_totp(&auth.caller, Zeroizing::new(body.password), &code)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// **Permissions:** own account (password and a current code).
async fn regenerate_recovery_codes(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
    Json(body): Json<ReauthBody>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let code = body.code.unwrap_or_default();
    Ok(codes_response(
        state
            .identity
            .regenerate_recovery_codes(&auth.caller, Zeroizing::new(body.password), &code)
            .await?,
    ))
}

/// **Permissions:** own account.
async fn list_tokens(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let user = auth.caller.account()?;
    let tokens = state.identity.list_tokens_of(user.tenant, user.id)?;
    Ok(axum::Json(serde_json::json!({ "items": tokens })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    pub scopes: Vec<TokenScope>,
    pub expires_in_days: u32,
    pub label: Option<String>,
}

pub(crate) fn new_token_response(t: identity::NewToken) -> Response {
    let body = serde_json::json!({ "token": t.token, "secret": t.secret.expose() });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// **Permissions:** own account (a token never exceeds the owner's role).
async fn create_token(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
    Json(body): Json<TokenBody>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let t = state
        .identity
        .create_token(
            &auth.caller,
            None,
            body.scopes,
            body.expires_in_days,
            body.label.as_deref(),
        )
        .await?;
    Ok(new_token_response(t))
}

/// **Permissions:** own account (own tokens only).
async fn revoke_token(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let id: TokenId = id.parse().map_err(|_| ApiError::not_found())?;
    state.identity.revoke_token(&auth.caller, id, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
