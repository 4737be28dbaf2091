//! The one error type of the edge: a stable machine `code`, a human `message`, rendered as an
//! RFC 9457 `application/problem+json` body. Causes of 5xx errors are logged, never sent — except
//! the journal's fail-closed cause, which operators need to see and which names no tenant data.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra problem members (for example the list of failing rules).
    pub extra: Option<serde_json::Value>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: None,
            retry_after: None,
        }
    }

    pub fn forbidden(reason: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("forbidden: {reason}"),
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see server logs",
        )
    }
}

/// An RFC 9457 problem as this API sends it: the members every error has, and the `errors` list
/// (an extra member) of the validation errors. The OpenAPI document describes every error body
/// with this schema.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    /// A URI naming the kind of problem: `https://strongroom.dev/problems/{code}`.
    #[schema(value_type = String)]
    r#type: String,
    /// The status code's reason phrase.
    #[schema(value_type = String)]
    title: &'a str,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// A stable machine code (`not_found`, `forbidden`, `validation_failed`, …).
    #[schema(value_type = String)]
    code: &'a str,
    /// A human explanation of this occurrence.
    #[schema(value_type = String)]
    detail: &'a str,
    /// Validation errors, one per failing rule or field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = problem_errors_schema)]
    errors: Option<Vec<serde_json::Value>>,
}

/// The items of `errors`: password rules (`rule`, `message`), identity fields (`field`,
/// `message`) or record and schema paths (`path`, `reason`).
fn problem_errors_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::{ObjectBuilder, schema::Type};
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let item = ObjectBuilder::new()
        .property(
            "rule",
            text().description(Some("The password rule that failed.")),
        )
        .property(
            "field",
            text().description(Some("The request field at fault.")),
        )
        .property(
            "path",
            text().description(Some("A JSON pointer to the value at fault.")),
        )
        .property("message", text())
        .property("reason", text());
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(item)
        .build()
}

pub(crate) fn problem(status: StatusCode, code: &str, message: &str) -> Response {
    problem_with(status, code, message, None)
}

pub(crate) fn problem_with(
    status: StatusCode,
    code: &str,
    message: &str,
    extra: Option<&serde_json::Value>,
) -> Response {
    let problem = Problem {
        r#type: format!("https://strongroom.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("error"),
        status: status.as_u16(),
        code,
        detail: message,
        errors: None,
    };
    let mut body = serde_json::to_value(&problem).unwrap_or_default();
    if let (Some(serde_json::Value::Object(more)), serde_json::Value::Object(map)) =
        (extra, &mut body)
    {
        for (k, v) in more {
            map.insert(k.clone(), v.clone());
        }
    }
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json; charset=utf-8"),
    );
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_with(self.status, self.code, &self.message, self.extra.as_ref());
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<identity::Error> for ApiError {
    fn from(e: identity::Error) -> Self {
        use identity::Error as E;
        let status =
            |s: StatusCode, code: &'static str, e: &E| ApiError::new(s, code, e.to_string());
        match e {
            E::InvalidCredentials => status(StatusCode::UNAUTHORIZED, "invalid_credentials", &e),
            E::Throttled { retry_after_secs } | E::Busy { retry_after_secs } => {
                let (s, code) = if matches!(e, E::Throttled { .. }) {
                    (StatusCode::TOO_MANY_REQUESTS, "throttled")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "busy")
                };
                let mut err = status(s, code, &e);
                err.retry_after = Some(retry_after_secs);
                err
            }
            E::MfaInvalid => status(StatusCode::UNAUTHORIZED, "mfa_invalid", &e),
            E::ChallengeExpired => status(StatusCode::UNAUTHORIZED, "challenge_expired", &e),
            E::PasswordRejected(ref rules) => {
                let list: Vec<serde_json::Value> = rules
                    .iter()
                    .map(|r| serde_json::json!({ "rule": r.rule(), "message": r.to_string() }))
                    .collect();
                let mut err = status(StatusCode::UNPROCESSABLE_ENTITY, "password_rejected", &e);
                err.extra = Some(serde_json::json!({ "errors": list }));
                err
            }
            E::Unauthenticated => ApiError::unauthorized(),
            E::ReauthFailed => status(StatusCode::FORBIDDEN, "reauthentication_failed", &e),
            E::NotFound(_) => status(StatusCode::NOT_FOUND, "not_found", &e),
            E::Conflict(_) => status(StatusCode::CONFLICT, "conflict", &e),
            E::Invalid { field, .. } => {
                let mut err = status(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", &e);
                err.extra = Some(
                    serde_json::json!({ "errors": [{ "field": field, "message": e.to_string() }] }),
                );
                err
            }
            E::Forbidden(_) => status(StatusCode::FORBIDDEN, "forbidden", &e),
            E::Engine(inner) => inner.into(),
            E::Credentials(_) => {
                tracing::error!(error = %e, "credential processing failed");
                ApiError::internal()
            }
        }
    }
}

impl From<access::Denied> for ApiError {
    fn from(d: access::Denied) -> Self {
        ApiError::forbidden(d.reason)
    }
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> Self {
        if e.is_shredded() {
            return shredded();
        }
        if e.is_write_refused() {
            tracing::error!(error = %e, "write refused: storage unavailable");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                e.to_string(),
            );
        }
        tracing::error!(error = %e, "internal error");
        Self::internal()
    }
}

impl From<tenancy::Error> for ApiError {
    fn from(e: tenancy::Error) -> Self {
        match e {
            tenancy::Error::NotFound(_) => Self::not_found(),
            tenancy::Error::InvalidName(why) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_name",
                format!("name: {why}"),
            ),
            tenancy::Error::InvalidGrace => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_grace", e.to_string())
            }
            tenancy::Error::DeletionPending(_) => conflict("deletion_pending", &e),
            tenancy::Error::NoPendingDeletion(_) => conflict("no_pending_deletion", &e),
            tenancy::Error::DeletionStarted(_) => conflict("deletion_started", &e),
            tenancy::Error::GraceNotOver { .. } => conflict("grace_not_over", &e),
            tenancy::Error::AlreadyDeleted(_) => conflict("already_deleted", &e),
            tenancy::Error::Shredded(_) => shredded(),
            tenancy::Error::WrongCancelCode => {
                Self::new(StatusCode::FORBIDDEN, "wrong_cancel_code", e.to_string())
            }
            tenancy::Error::Files(_) => {
                tracing::error!(error = %e, "tenant deletion: attachment files");
                Self::internal()
            }
            tenancy::Error::Engine(e) => e.into(),
        }
    }
}

fn conflict(code: &'static str, e: &tenancy::Error) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, e.to_string())
}

/// 410: the data's keys were destroyed (crypto-shredded); it can never be read again.
fn shredded() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "shredded",
        "the keys of this data were destroyed (the tenant was deleted); it can not be read",
    )
}

/// 429 with `Retry-After`, naming what spent its budget.
pub(crate) fn rate_limited(what: &str, retry_after_secs: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests from {what}; slow down"),
    );
    e.retry_after = Some(retry_after_secs);
    e
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

/// Gives error responses produced by axum itself (405, 413, query rejections, …) a
/// problem+json body, keeping their short text as the detail.
pub(crate) async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::BAD_REQUEST => "bad_request",
        _ => "error",
    };
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let mut message = String::from_utf8_lossy(&text).trim().to_owned();
    if message.is_empty() || status.is_server_error() {
        message = status.canonical_reason().unwrap_or("error").to_lowercase();
    }
    let fresh = problem(status, code, &message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(fresh.headers().clone());
    Response::from_parts(parts, fresh.into_body())
}
