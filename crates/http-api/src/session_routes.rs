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
use identity::{Enrollment, LoginOutcome, NewSession, UserView};
use types::{SessionId, TenantId, TokenId};

use crate::auth::{Authenticated, SESSION_COOKIE, client_ip, session_id};
use crate::bodies::{
    ChallengeStatus, CsrfToken, LoginReply, Me, MfaChallenge, RecoveryCodes, SessionCreated,
    SessionItem, SessionList, SessionStatus, TokenCreated, TokenList,
};
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

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    tenant: Option<TenantId>,
    email: String,
    password: String,
}

fn session_response(state: &AppState, status: SessionStatus, new: NewSession) -> Response {
    let max_age = state.identity.config().session_absolute_ms / 1000;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}",
        new.secret.expose()
    );
    let body = LoginReply::Session(SessionCreated {
        status,
        session: new.session,
        token: new.secret.expose(),
        csrf_token: &new.csrf,
    });
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Logs in with an email and a password.
///
/// **Permissions:** none (rate-limited per IP; answers are identical for unknown accounts).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "authentication",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A session (`status` `ok`, or `mfa_enrollment_required` for a restricted one), or a second-factor challenge (`mfa_required`).", body = LoginReply, headers(("Set-Cookie" = String, description = "The session cookie `__Host-strongroom-session` (Secure, HttpOnly, SameSite=Strict)."))),
        (status = 401, description = "Wrong email or password (`invalid_credentials`), the same for unknown accounts."),
        (status = 429, description = "Too many attempts from this address, or on this account (`throttled`).", headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = "Too many logins in progress (`busy`).", headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ))]
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
        LoginOutcome::Session(s) => Ok(session_response(&state, SessionStatus::Ok, s)),
        LoginOutcome::EnrollmentRequired(s) => Ok(session_response(
            &state,
            SessionStatus::MfaEnrollmentRequired,
            s,
        )),
        LoginOutcome::MfaRequired {
            challenge,
            expires_at,
        } => Ok(axum::Json(LoginReply::Challenge(MfaChallenge {
            status: ChallengeStatus::MfaRequired,
            challenge: challenge.expose(),
            expires_at,
        }))
        .into_response()),
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MfaBody {
    challenge: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

/// Finishes a login with a TOTP code or a recovery code.
///
/// **Permissions:** none (holder of a login challenge; rate-limited per IP).
#[utoipa::path(post, path = "/api/v1/auth/mfa", tag = "authentication",
    request_body = MfaBody,
    responses(
        (status = 200, description = "The session.", body = SessionCreated, headers(("Set-Cookie" = String, description = "The session cookie `__Host-strongroom-session` (Secure, HttpOnly, SameSite=Strict)."))),
        (status = 401, description = "A wrong code (`mfa_invalid`) or an unknown or expired challenge (`challenge_expired`)."),
        (status = 422, description = "Not exactly one of `code` and `recovery_code`."),
        (status = 429, description = "Too many attempts from this address or on this account.", headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ))]
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
    Ok(session_response(&state, SessionStatus::Ok, session))
}

/// Ends the session of this request and clears its cookie.
///
/// **Permissions:** an authenticated session (its own).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "authentication",
    responses(
        (status = 204, description = "Logged out.", headers(("Set-Cookie" = String, description = "Clears the session cookie."))),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// The CSRF token of a cookie session.
///
/// **Permissions:** a browser session (the cookie): returns its CSRF token.
#[utoipa::path(get, path = "/api/v1/auth/csrf", tag = "authentication",
    responses(
        (status = 200, description = "The token to echo in `X-CSRF-Token`.", body = CsrfToken),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn get_csrf(
    _auth: Authenticated,
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let secret = crate::auth::session_cookie(&headers)
        .ok_or_else(|| ApiError::forbidden("only cookie sessions use CSRF tokens"))?;
    let csrf_token = state.identity.csrf_token(secret)?;
    Ok(axum::Json(CsrfToken { csrf_token }).into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    token: String,
    password: String,
}

/// Accepts an invitation: creates the account with a password.
///
/// **Permissions:** none (holder of an invitation secret; rate-limited per IP).
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "authentication",
    request_body = AcceptBody,
    responses(
        (status = 201, description = "The new account.", body = UserView),
        (status = 404, description = "An unknown, used or expired invitation."),
        (status = 409, description = "The email already has an account."),
        (status = 422, description = "The password breaks the policy (`password_rejected`, each failing rule in `errors`)."),
        (status = 429, description = "Too many attempts from this address.", headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = "Too many password hashes in progress (`busy`).", headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ))]
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

/// Sets a new password with a reset secret; ends the user's sessions and lifts a lock.
///
/// **Permissions:** none (holder of a password-reset secret; rate-limited per IP).
#[utoipa::path(post, path = "/api/v1/password-reset", tag = "authentication",
    request_body = AcceptBody,
    responses(
        (status = 200, description = "The account.", body = UserView),
        (status = 404, description = "An unknown, used or expired reset."),
        (status = 409, description = "The account can no longer be reset."),
        (status = 422, description = "The password breaks the policy (`password_rejected`, each failing rule in `errors`)."),
        (status = 429, description = "Too many attempts from this address.", headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = "Too many password hashes in progress (`busy`).", headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ))]
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

/// The caller's own account.
///
/// **Permissions:** any authenticated caller with an account.
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    responses(
        (status = 200, description = "The account, and whether the session is restricted.", body = Me),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn get_me(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    let user = auth.caller.account()?;
    let view = state.identity.user_view_of(user.tenant, user.id)?;
    let restricted = matches!(
        auth.caller.credential,
        identity::Credential::Session {
            restricted: true,
            ..
        }
    );
    Ok(axum::Json(Me {
        user: view,
        restricted,
    })
    .into_response())
}

/// The caller's live sessions.
///
/// **Permissions:** own account.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "account",
    responses(
        (status = 200, description = "The sessions; `current` marks this one.", body = SessionList),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn list_sessions(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let current = session_id(&auth.caller);
    let items = state
        .identity
        .list_sessions(&auth.caller)?
        .into_iter()
        .map(|session| SessionItem {
            current: Some(session.id) == current,
            session,
        })
        .collect();
    Ok(axum::Json(SessionList { items }).into_response())
}

/// Ends one of the caller's sessions.
///
/// **Permissions:** own account.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "account",
    params(
        ("id" = SessionId, Path, description = "The session."),
    ),
    responses(
        (status = 204, description = "Ended."),
        (status = 404, description = "No such session of the caller."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password; ends their other sessions.
///
/// **Permissions:** own account (re-authenticates with the current password).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "account",
    request_body = PasswordBody,
    responses(
        (status = 204, description = "Changed."),
        (status = 403, description = "The current password is wrong (`reauthentication_failed`), or the credential may not do this."),
        (status = 409, description = "The account has no password."),
        (status = 422, description = "The new password breaks the policy (`password_rejected`, each failing rule in `errors`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReauthBody {
    password: String,
    code: Option<String>,
}

/// Starts a TOTP enrolment (password required).
///
/// **Permissions:** own account, restricted sessions included (re-authenticates).
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "account",
    request_body = ReauthBody,
    responses(
        (status = 200, description = "The secret, the `otpauth://` URI and its QR code (shown once).", body = Enrollment),
        (status = 403, description = "The password is wrong (`reauthentication_failed`), or the credential may not do this."),
        (status = 409, description = "A second factor is already enrolled."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

fn codes_response(codes: Vec<crypto::Secret<String>>) -> Response {
    let recovery_codes = codes.iter().map(|c| c.expose().as_str()).collect();
    axum::Json(RecoveryCodes { recovery_codes }).into_response()
}

/// Confirms a TOTP enrolment with a code; returns recovery codes.
///
/// **Permissions:** own account, restricted sessions included.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "account",
    request_body = CodeBody,
    responses(
        (status = 200, description = "The recovery codes (shown once).", body = RecoveryCodes),
        (status = 401, description = "A wrong code (`mfa_invalid`)."),
        (status = 409, description = "No pending enrolment."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// Removes the second factor (password and a current code required).
///
/// **Permissions:** own account (password and a current code).
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/remove", tag = "account",
    request_body = ReauthBody,
    responses(
        (status = 204, description = "Removed."),
        (status = 403, description = "Wrong password or code (`reauthentication_failed`), or the second factor is mandatory."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// Replaces the recovery codes (password and a current code required).
///
/// **Permissions:** own account (password and a current code).
#[utoipa::path(post, path = "/api/v1/me/mfa/recovery-codes", tag = "account",
    request_body = ReauthBody,
    responses(
        (status = 200, description = "The new recovery codes (shown once).", body = RecoveryCodes),
        (status = 403, description = "Wrong password or code (`reauthentication_failed`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// The caller's own API tokens.
///
/// **Permissions:** own account.
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "account",
    operation_id = "list_my_tokens",
    responses(
        (status = 200, description = "The tokens (never their secrets).", body = TokenList),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn list_tokens(
    auth: Authenticated,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    auth.require(Action::ManageOwnAccount, &Resource::OwnAccount)?;
    let user = auth.caller.account()?;
    let items = state.identity.list_tokens_of(user.tenant, user.id)?;
    Ok(axum::Json(TokenList { items }).into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    /// 1 to 100 grants, each within the owner's role.
    #[schema(min_items = 1, max_items = 100)]
    pub scopes: Vec<TokenScope>,
    /// 1 to 365.
    #[schema(minimum = 1, maximum = 365)]
    #[serde(deserialize_with = "types::lenient::u32")]
    pub expires_in_days: u32,
    /// At most 100 characters, no control characters.
    #[schema(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub label: Option<String>,
}

pub(crate) fn new_token_response(t: identity::NewToken) -> Response {
    let body = TokenCreated {
        token: t.token,
        secret: t.secret.expose(),
    };
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// Issues an API token to the caller.
///
/// **Permissions:** own account (a token never exceeds the owner's role).
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "account",
    operation_id = "create_my_token",
    request_body = TokenBody,
    responses(
        (status = 201, description = "The token and its secret (shown once).", body = TokenCreated,
            links(
                ("RevokeMyToken" = (operation_id = "revoke_my_token", parameters(("id" = "$response.body#/token/id")))),
            )),
    ),
    security(("bearer" = []), ("session" = [])))]
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

/// Revokes one of the caller's API tokens.
///
/// **Permissions:** own account (own tokens only).
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "account",
    operation_id = "revoke_my_token",
    params(
        ("id" = TokenId, Path, description = "The token."),
    ),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No such token of the caller."),
    ),
    security(("bearer" = []), ("session" = [])))]
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
