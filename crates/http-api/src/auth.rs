//! Extractors named for what they guarantee. [`SystemAdmin`]: the request carries a bearer token
//! of the system administrator. Anything else is refused before the handler runs.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use engine::TokenPrincipal;
use types::TokenId;

use crate::{ApiError, AppState};

/// A request authenticated as the system administrator.
#[derive(Debug, Clone, Copy)]
pub struct SystemAdmin {
    /// The token that authenticated the request (for the audit trail).
    #[allow(dead_code)]
    pub token: TokenId,
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<Arc<AppState>> for SystemAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        if token.len() > 256 {
            return Err(ApiError::unauthorized());
        }
        let row = state
            .engine
            .authenticate_token(token)?
            .ok_or_else(ApiError::unauthorized)?;
        match TokenPrincipal::parse(&row.principal) {
            Some(TokenPrincipal::SystemAdmin) => Ok(SystemAdmin { token: row.id }),
            None => Err(ApiError::unauthorized()),
        }
    }
}
