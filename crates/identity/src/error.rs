//! The identity service's errors. Authentication failures are deliberately uninformative: an
//! unknown user, a wrong password, a disabled or a locked account all give `InvalidCredentials`.

use credentials::Rejection;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the server is busy hashing passwords; try again in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    #[error("invalid or expired second-factor code")]
    MfaInvalid,
    #[error("the login challenge is unknown or expired; log in again")]
    ChallengeExpired,
    #[error("password refused: {}", .0.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; "))]
    PasswordRejected(Vec<Rejection>),
    #[error("authentication required: the session or token is missing, expired or revoked")]
    Unauthenticated,
    #[error("re-authentication failed: the current password (or code) is wrong")]
    ReauthFailed,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error("credential processing failed: {0}")]
    Credentials(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<credentials::Error> for Error {
    fn from(e: credentials::Error) -> Self {
        Error::Credentials(e.to_string())
    }
}

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        message: message.into(),
    }
}
