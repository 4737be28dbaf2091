//! The audit trail at the edge: the request context every act is attributed to, the refusals
//! recorded as events, and the reading routes.
//!
//! - [`record_requests`] (middleware) gives each request an id (`X-Request-Id`), its client
//!   address and user agent, runs it inside `audit::context::scope`, and records a refusal
//!   (`403` as `access.denied`, a `401` to a request that carried a credential as
//!   `auth.rejected`) after the handler answered.
//! - `GET /api/v1/tenants/{tenant}/audit`: a tenant's owners and administrators read their
//!   tenant's trail; `GET /api/v1/admin/audit`: system administrators read every scope;
//!   `GET /api/v1/admin/audit/stream`: the NDJSON export a SIEM pulls with its last position.

use std::sync::Arc;

use access::{Action, Resource};
use audit::context::RequestContext;
use audit::{Actor, ActorKind, Client, Outcome};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engine::model::UserKind;
use engine::{AuditQuery, AuditScope};
use engine::{Draft, Recorded, Scope};
use identity::{Caller, Credential};
use types::TenantId;

use crate::auth::{Authenticated, SystemAdmin, TenantMember};
use crate::bodies::{AuditEntry, AuditPage};
use crate::{ApiError, AppState};

/// The response header that carries the request id.
pub const REQUEST_ID: &str = "x-request-id";
/// Largest page of the reading routes.
const MAX_PAGE: u32 = 500;
/// Largest number of events one stream response carries.
const MAX_STREAM: u32 = 10_000;

/// The audit actor of an authenticated caller.
pub(crate) fn actor_of(caller: &Caller) -> Actor {
    let tenant = caller.tenant.map(|t| t.to_string());
    match (&caller.credential, &caller.user) {
        (Credential::Bootstrap { id }, _) => Actor {
            kind: ActorKind::Bootstrap,
            id: Some(id.to_string()),
            tenant: None,
        },
        (_, Some(user)) => Actor {
            kind: match (user.tenant, user.kind) {
                (None, _) => ActorKind::SystemAdmin,
                (Some(_), UserKind::Service) => ActorKind::Service,
                (Some(_), UserKind::Human) => ActorKind::User,
            },
            id: Some(user.id.to_string()),
            tenant,
        },
        (Credential::Token { id }, None) => Actor {
            kind: ActorKind::Token,
            id: Some(id.to_string()),
            tenant,
        },
        (Credential::Session { id, .. }, None) => Actor {
            kind: ActorKind::User,
            id: Some(id.to_string()),
            tenant,
        },
    }
}

/// Notes the authenticated caller as the request's actor.
pub(crate) fn note_caller(caller: &Caller) {
    if let Some(context) = audit::context::current() {
        context.set_actor(actor_of(caller));
    }
}

/// The middleware that ties a request to the audit trail; see the module docs.
pub(crate) async fn record_requests(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let ip = crate::auth::ip_of(req.extensions());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let carried_credential = req.headers().contains_key(header::AUTHORIZATION)
        || req.headers().contains_key(header::COOKIE);
    let route = format!("{} {}", req.method(), req.uri().path());
    let context = Arc::new(RequestContext::new(
        types::RequestId::random().to_string(),
        Client::new(Some(ip), user_agent.as_deref()),
    ));
    let request_id = context.request_id.clone();
    let mut response = audit::context::scope(Arc::clone(&context), async {
        let response = next.run(req).await;
        let refusal = match response.status() {
            StatusCode::FORBIDDEN => Some(("access.denied", "forbidden")),
            StatusCode::UNAUTHORIZED if carried_credential => {
                Some(("auth.rejected", "invalid_or_expired_credential"))
            }
            _ => None,
        };
        if let Some((action, reason)) = refusal {
            let scope = context
                .actor()
                .and_then(|a| a.tenant)
                .and_then(|t| t.parse::<TenantId>().ok())
                .map_or(Scope::System, Scope::Tenant);
            let draft = Draft::new(action, Outcome::Denied)
                .on("route", &route)
                .because(reason);
            if let Err(e) = state.engine.audit(scope, draft).await {
                tracing::error!(error = %e, "could not record a refusal in the audit log");
            }
        }
        response
    })
    .await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

pub(crate) fn tenant_router() -> Router<Arc<AppState>> {
    Router::new().route("/{tenant}/audit", get(tenant_trail))
}

pub(crate) fn system_router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/audit", get(system_trail))
        .route("/audit/stream", get(stream))
}

/// The filters of the reading routes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Filters {
    from: Option<i64>,
    to: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    before: Option<u64>,
    limit: Option<u32>,
    /// System route only: `system` or a tenant id.
    tenant: Option<String>,
}

fn bad(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// Positions are at most `i64::MAX` (the document's bound; the index stores them signed).
fn check_position(name: &str, value: Option<u64>) -> Result<(), ApiError> {
    match value {
        Some(v) if v > i64::MAX as u64 => Err(bad(
            "invalid_cursor",
            format!("{name}: at most {}", i64::MAX),
        )),
        _ => Ok(()),
    }
}

fn page(state: &AppState, scope: AuditScope, f: &Filters) -> Result<Response, ApiError> {
    if let Some(outcome) = &f.outcome
        && !["success", "failure", "denied"].contains(&outcome.as_str())
    {
        return Err(bad(
            "invalid_filter",
            "outcome: one of success, failure, denied".into(),
        ));
    }
    if let Some(action) = &f.action
        && (action.is_empty()
            || action.len() > 64
            || !action
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_' || c == '*'))
    {
        return Err(bad(
            "invalid_filter",
            "action: an action such as `login.failed`, or a family such as `login.*`".into(),
        ));
    }
    check_position("before", f.before)?;
    let limit = f.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let query = AuditQuery {
        scope,
        from: f.from,
        to: f.to,
        actor: f.actor.as_deref(),
        action: f.action.as_deref(),
        outcome: f.outcome.as_deref(),
        before: f.before,
        limit,
    };
    let events = state.engine.audit_page(&query)?;
    let next = if events.len() == limit as usize {
        events.last().map(|r| r.seq)
    } else {
        None
    };
    let events = events.into_iter().map(AuditEntry::from).collect();
    Ok(axum::Json(AuditPage { events, next }).into_response())
}

/// Reads the tenant's audit trail, newest first.
///
/// **Permissions:** tenant owner or admin, by session (`ReadAudit`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit", tag = "audit",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("from" = Option<i64>, Query, description = "Only events at or after this time (Unix milliseconds)."),
        ("to" = Option<i64>, Query, description = "Only events at or before this time (Unix milliseconds)."),
        ("actor" = Option<String>, Query, description = "Only events by this principal id (`us_…`, `tk_…`)."),
        ("action" = Option<String>, Query, pattern = "^[a-z_.*]{1,64}$", description = "An action (`login.failed`) or a family (`login.*`)."),
        ("outcome" = Option<String>, Query, pattern = "^(success|failure|denied)$", description = "`success`, `failure` or `denied`."),
        ("before" = Option<u64>, Query, format = Int64, minimum = 0, maximum = 9_223_372_036_854_775_807_u64, description = "The cursor: the `next` of the previous page."),
        ("limit" = Option<u32>, Query, format = Int64, minimum = 0, maximum = 4_294_967_295_u64, description = "Page size, 1 to 500 (default 100; others are capped)."),
    ),
    responses(
        (status = 200, description = "One page of events, newest first.", body = AuditPage),
        (status = 400, description = "A malformed filter or cursor, or an unknown query parameter."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn tenant_trail(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Response, ApiError> {
    let t: TenantId = t
        .parse()
        .map_err(|_| ApiError::forbidden("another tenant"))?;
    auth.require(Action::ReadAudit, &Resource::Tenant(t))?;
    if filters.tenant.is_some() {
        return Err(bad(
            "invalid_filter",
            "tenant: not a filter of this route (the path names the tenant)".into(),
        ));
    }
    page(&state, AuditScope::Tenant(t), &filters)
}

fn system_scope(auth: &Authenticated, f: &Filters) -> Result<AuditScope, ApiError> {
    auth.require(Action::ReadAudit, &Resource::System)?;
    match f.tenant.as_deref() {
        None => Ok(AuditScope::All),
        Some("system") => Ok(AuditScope::System),
        Some(raw) => raw.parse().map(AuditScope::Tenant).map_err(|_| {
            bad(
                "invalid_filter",
                "tenant: `system` or a tenant id (`tn_…`)".into(),
            )
        }),
    }
}

/// Reads the audit trail of every scope, newest first.
///
/// **Permissions:** system administrator (`ReadAudit` on the system), session or token.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "audit",
    params(
        ("tenant" = Option<String>, Query, pattern = "^(system|tn_[0-9a-f]{32})$", description = "Only this scope: `system` or a tenant id."),
        ("from" = Option<i64>, Query, description = "Only events at or after this time (Unix milliseconds)."),
        ("to" = Option<i64>, Query, description = "Only events at or before this time (Unix milliseconds)."),
        ("actor" = Option<String>, Query, description = "Only events by this principal id."),
        ("action" = Option<String>, Query, pattern = "^[a-z_.*]{1,64}$", description = "An action (`login.failed`) or a family (`login.*`)."),
        ("outcome" = Option<String>, Query, pattern = "^(success|failure|denied)$", description = "`success`, `failure` or `denied`."),
        ("before" = Option<u64>, Query, format = Int64, minimum = 0, maximum = 9_223_372_036_854_775_807_u64, description = "The cursor: the `next` of the previous page."),
        ("limit" = Option<u32>, Query, format = Int64, minimum = 0, maximum = 4_294_967_295_u64, description = "Page size, 1 to 500 (default 100; others are capped)."),
    ),
    responses(
        (status = 200, description = "One page of events, newest first.", body = AuditPage),
        (status = 400, description = "A malformed filter or cursor, or an unknown query parameter."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn system_trail(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Query(filters): Query<Filters>,
) -> Result<Response, ApiError> {
    let scope = system_scope(&auth, &filters)?;
    page(&state, scope, &filters)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

/// Exports the trail of every scope as NDJSON, oldest first: one `{"seq": …, …event}` object
/// per line, every control character escaped, so one event is one line. A SIEM pulls again with
/// `after` set to the last `seq` it stored.
///
/// **Permissions:** system administrator (`ReadAudit` on the system), session or token.
#[utoipa::path(get, path = "/api/v1/admin/audit/stream", tag = "audit",
    params(
        ("after" = Option<u64>, Query, format = Int64, minimum = 0, maximum = 9_223_372_036_854_775_807_u64, description = "Only events after this position (default 0: from the start)."),
        ("limit" = Option<u32>, Query, format = Int64, minimum = 0, maximum = 4_294_967_295_u64, description = "Most events in this response, 1 to 10000 (default 1000; others are capped)."),
    ),
    responses(
        (status = 200, description = "Events as newline-delimited JSON (`application/x-ndjson`).", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "A malformed position, or an unknown query parameter."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn stream(
    SystemAdmin(auth): SystemAdmin,
    State(state): State<Arc<AppState>>,
    Query(q): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    auth.require(Action::ReadAudit, &Resource::System)?;
    check_position("after", q.after)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_STREAM) as usize;
    let events = state.engine.audit_after(q.after.unwrap_or(0), limit)?;
    let mut body = String::new();
    for recorded in events {
        body.push_str(&ndjson_line(&recorded));
        body.push('\n');
    }
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8")],
        body,
    )
        .into_response())
}

/// One export line: the event with its position, every control character escaped.
pub(crate) fn ndjson_line(recorded: &Recorded) -> String {
    let entry = AuditEntry::from(recorded.clone());
    audit::event::escape_controls(&serde_json::to_string(&entry).unwrap_or_default())
}
