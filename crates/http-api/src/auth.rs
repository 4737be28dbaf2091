//! Extractors named for what they guarantee.
//!
//! - [`Authenticated`]: a live session (bearer `srs_…` or the `__Host-` cookie) or API token
//!   (bearer `srt_…`). A cookie-authenticated request with an unsafe method must also pass the
//!   CSRF defence: `X-CSRF-Token` bound to the session and a same-origin `Origin`/`Referer`.
//! - [`SystemAdmin`]: an authenticated caller allowed to administer tenants.
//!
//! Every handler starts with one of these and then calls `access::authorize` for its resource.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use access::{Action, Resource};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use identity::{Caller, Credential};

use crate::{ApiError, AppState};

/// The name of the session cookie (the `__Host-` prefix forces Secure, Path=/ and no Domain).
pub const SESSION_COOKIE: &str = "__Host-strongroom-session";

/// The TCP peer of the connection, inserted by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The client's IP (loopback when the server did not say, as in in-process tests).
pub(crate) fn client_ip(parts: &Parts) -> IpAddr {
    ip_of(&parts.extensions)
}

/// The client's IP from a request's extensions (loopback when the server did not say).
pub(crate) fn ip_of(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ClientAddr>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip())
}

/// A request from an authenticated caller.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    /// The session secret, when the request came with the session cookie or bearer session.
    pub via_cookie: bool,
}

impl Authenticated {
    /// `authorize`, as an `ApiError` on refusal.
    pub fn require(&self, action: Action, resource: &Resource<'_>) -> Result<(), ApiError> {
        access::authorize(&self.caller.principal, action, resource).map_err(ApiError::from)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The session secret from the `Cookie` header, if present.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

fn origin_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    Some(&url[..("https://".len() + end)])
}

/// The CSRF defence for cookie-authenticated unsafe requests.
fn check_csrf(parts: &Parts, state: &AppState, secret: &str) -> Result<(), ApiError> {
    let refuse = |why: &str| ApiError::forbidden(&format!("CSRF check failed: {why}"));
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .ok_or_else(|| refuse("no Host"))?;
    let expected = format!("https://{host}");
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            let referer = parts.headers.get(header::REFERER)?.to_str().ok()?;
            origin_of(referer).map(str::to_owned)
        })
        .ok_or_else(|| refuse("no Origin or Referer"))?;
    if origin != expected {
        return Err(refuse("cross-origin request"));
    }
    let sent = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse("missing X-CSRF-Token"))?;
    let wanted = state.identity.csrf_token(secret)?;
    if !crypto::ct_eq(sent.as_bytes(), wanted.as_bytes()) {
        return Err(refuse("wrong X-CSRF-Token"));
    }
    Ok(())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The per-tenant and per-credential budgets of an authenticated caller.
fn check_budgets(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let now = state.engine.now().millis();
    let key = match caller.credential {
        Credential::Session { id, .. } => id.to_string(),
        Credential::Token { id } | Credential::Bootstrap { id } => id.to_string(),
    };
    state
        .limits
        .credential
        .check(key, now)
        .map_err(|s| crate::error::rate_limited("this session or token", s))?;
    if let Some(t) = caller.tenant {
        state
            .limits
            .tenant
            .check(t, now)
            .map_err(|s| crate::error::rate_limited("this tenant", s))?;
    }
    Ok(())
}

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let auth = authenticate(parts, state).await?;
        crate::audit_routes::note_caller(&auth.caller);
        check_budgets(state, &auth.caller)?;
        Ok(auth)
    }
}

async fn authenticate(parts: &mut Parts, state: &Arc<AppState>) -> Result<Authenticated, ApiError> {
    {
        if let Some(token) = bearer(&parts.headers) {
            if token.len() > 256 {
                return Err(ApiError::unauthorized());
            }
            let caller = if token.starts_with("srs_") {
                state.identity.authenticate_session(token).await?
            } else {
                state.identity.authenticate_token(token).await?
            };
            return Ok(Authenticated {
                caller,
                via_cookie: false,
            });
        }
        let secret = session_cookie(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        if secret.len() > 256 {
            return Err(ApiError::unauthorized());
        }
        let caller = state.identity.authenticate_session(secret).await?;
        if !is_safe(&parts.method) {
            check_csrf(parts, state, secret)?;
        }
        Ok(Authenticated {
            caller,
            via_cookie: true,
        })
    }
}

/// A request from a caller allowed to administer tenants.
#[derive(Debug, Clone)]
pub struct SystemAdmin(pub Authenticated);

impl FromRequestParts<Arc<AppState>> for SystemAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        auth.require(Action::ManageTenants, &Resource::System)?;
        Ok(SystemAdmin(auth))
    }
}

/// Whether a credential is a session (for routes only sessions may use).
pub(crate) fn session_id(caller: &Caller) -> Option<types::SessionId> {
    match caller.credential {
        Credential::Session { id, .. } => Some(id),
        _ => None,
    }
}

/// An authenticated caller of the tenant named by the `{tenant}` path segment, refused before
/// the body or the query is read when it belongs to another tenant (or none). Handlers still
/// authorise their specific action with [`Authenticated::require`].
#[derive(Debug, Clone)]
pub struct TenantMember(pub Authenticated);

impl FromRequestParts<Arc<AppState>> for TenantMember {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        let params =
            axum::extract::Path::<std::collections::HashMap<String, String>>::from_request_parts(
                parts, state,
            )
            .await
            .map_err(|_| ApiError::not_found())?;
        let tenant = params
            .get("tenant")
            .and_then(|raw| raw.parse::<types::TenantId>().ok());
        if tenant.is_none() || auth.caller.tenant != tenant {
            return Err(ApiError::forbidden("another tenant"));
        }
        Ok(TenantMember(auth))
    }
}
