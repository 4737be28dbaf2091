//! The records service's errors.

use crate::schema::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("validation failed: {}", .0.iter().map(|e| format!("{} {}", if e.path.is_empty() { "body" } else { &e.path }, e.reason)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("the record changed: it is at version {current}; fetch it again and retry")]
    PreconditionFailed { current: u64 },
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error("content type `{got}` is not allowed for attachments; allowed: {}", .allowed.join(", "))]
    UnsupportedType { got: String, allowed: Vec<String> },
    #[error("the file is larger than this tenant's limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(path: &str, reason: impl Into<String>) -> Error {
    Error::Invalid(vec![FieldError {
        path: path.to_owned(),
        reason: reason.into(),
    }])
}
