//! The JSON bodies the handlers answer with, typed so that the OpenAPI document (`openapi.rs`)
//! describes exactly what is sent. Secrets shown once (session, token, invitation and reset
//! secrets, recovery codes) are borrowed from their zeroizing wrappers, never copied.
//!
//! Must never hold a secret of its own, nor anything a handler does not send.

use identity::{InvitationView, SessionView, TokenView, UserView};
use records::{AttachmentView, CollectionView};
use types::UserId;

/// `/healthz` and `/readyz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(schema_with = health_status)]
    pub status: &'static str,
}

fn health_status() -> utoipa::openapi::Object {
    string_enum(&["ok", "ready"])
}

fn string_enum(values: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// Where a login stands once its session exists.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SessionStatus {
    /// Logged in.
    Ok,
    /// A restricted session that may only enrol a second factor.
    MfaEnrollmentRequired,
}

/// A new session. `token` is the session secret, shown once (also set as the cookie).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SessionCreated<'a> {
    pub status: SessionStatus,
    pub session: SessionView,
    /// The bearer secret of the session (`srs_…`).
    pub token: &'a str,
    /// The token cookie-authenticated unsafe requests echo in `X-CSRF-Token`.
    pub csrf_token: &'a str,
}

/// The second step of a login with a second factor.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChallengeStatus {
    MfaRequired,
}

/// A correct password for an account with a second factor: finish at `/api/v1/auth/mfa`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct MfaChallenge<'a> {
    pub status: ChallengeStatus,
    pub challenge: &'a str,
    /// Milliseconds since the Unix epoch.
    pub expires_at: i64,
}

/// What a login answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum LoginReply<'a> {
    Session(SessionCreated<'a>),
    Challenge(MfaChallenge<'a>),
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CsrfToken {
    pub csrf_token: String,
}

/// The caller's own account.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    pub user: UserView,
    /// Whether this is a restricted session (second factor still to enrol).
    pub restricted: bool,
}

/// One of the caller's sessions.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SessionItem {
    #[serde(flatten)]
    pub session: SessionView,
    /// Whether it is the session of this request.
    pub current: bool,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SessionList {
    pub items: Vec<SessionItem>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TokenList {
    pub items: Vec<TokenView>,
}

/// A new API token; `secret` (`srt_…`) is shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TokenCreated<'a> {
    pub token: TokenView,
    pub secret: &'a str,
}

/// Fresh recovery codes, shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RecoveryCodes<'a> {
    pub recovery_codes: Vec<&'a str>,
}

/// A new invitation; `token` is its secret, shown once, to hand to the person.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct InvitationCreated<'a> {
    pub invitation: InvitationView,
    pub token: &'a str,
}

/// A started password reset; `token` is its single-use secret, shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ResetStarted<'a> {
    pub token: &'a str,
    /// Milliseconds since the Unix epoch.
    pub expires_at: i64,
}

/// One page of a tenant's users, by id; `next` is the cursor of the following page.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct UserPage {
    pub items: Vec<UserView>,
    pub next: Option<UserId>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RoleList {
    pub items: Vec<identity::RoleView>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AttachmentList {
    pub items: Vec<AttachmentView>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CollectionList {
    pub items: Vec<CollectionView>,
}

/// Whitespace that `str::trim` removes (Unicode `White_Space`).
const TRIMMED: &str = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Controls (Unicode `Cc`).
const CONTROLS: &str = r"\x00-\x1f\x7f-\x9f";
/// Characters that NFKC turns into whitespace, a control or `@` (Unicode 14).
const NFKC_UNSAFE: &str = r"\u00a0\u00a8\u00af\u00b4\u00b8\u02d8-\u02dd\u037a\u0384-\u0385\u1fbd\u1fbf-\u1fc1\u1fcd-\u1fcf\u1fdd-\u1fdf\u1fed-\u1fee\u1ffd-\u1ffe\u2000-\u200a\u2017\u202f\u203e\u205f\u3000\u309b-\u309c\ufc5e-\ufc63\ufdfa-\ufdfb\ufe49-\ufe4c\ufe6b\ufe70\ufe72\ufe74\ufe76\ufe78\ufe7a\ufe7c\ufe7e\uff20\uffe3";

fn text(min: usize, max: usize, pattern: String, description: &str) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// An email address as `identity` accepts it: `name@domain` once NFKC-normalised, with no
/// whitespace or control character, at most 254 characters.
pub(crate) fn email() -> utoipa::openapi::Object {
    let part = format!(r"[^@\s{CONTROLS}{NFKC_UNSAFE}]+");
    text(
        3,
        254,
        format!("^{part}@{part}$"),
        "`name@domain`, at most 254 characters.",
    )
}

/// A display name: 1 to `max` characters once the whitespace at its ends is trimmed off, and no
/// control character between.
fn trimmed_name(max: usize) -> utoipa::openapi::Object {
    let (edge, inner) = (
        format!("[^{TRIMMED}{CONTROLS}]"),
        format!("[^{CONTROLS}]{{0,{}}}", max - 2),
    );
    let pattern = format!("^[{TRIMMED}]*({edge}|{edge}{inner}{edge})[{TRIMMED}]*$");
    let description = format!("1 to {max} characters after trimming, no control characters.");
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

pub(crate) fn name_200() -> utoipa::openapi::Object {
    trimmed_name(200)
}

pub(crate) fn name_100() -> utoipa::openapi::Object {
    trimmed_name(100)
}

/// Who acted, in an audit event.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditActor {
    /// `user`, `service`, `token`, `system_admin`, `bootstrap`, `anonymous` or `system`.
    #[schema(schema_with = actor_kind)]
    pub kind: String,
    /// The principal's id (`us_…`, `tk_…`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The principal's tenant; absent for the system realm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

fn actor_kind() -> utoipa::openapi::Object {
    string_enum(&[
        "user",
        "service",
        "token",
        "system_admin",
        "bootstrap",
        "anonymous",
        "system",
    ])
}

fn outcome() -> utoipa::openapi::Object {
    string_enum(&["success", "failure", "denied"])
}

/// What an audit event's act was done to.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditResource {
    /// `user`, `session`, `token`, `role`, `tenant`, `collection`, `settings`, `key`, `route`, …
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Where the request came from.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditClient {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// As sent, capped at 512 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// One audit event with its position in the audit log.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditEntry {
    /// The position in the audit log (the cursor of the reading routes).
    pub seq: u64,
    /// `ev_` and 32 hex digits.
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// The server that recorded it.
    pub node: String,
    pub actor: AuditActor,
    /// `family.verb`, e.g. `login.failed` (the list is in the operations guide).
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<AuditResource>,
    #[schema(schema_with = outcome)]
    pub outcome: String,
    /// Why a failure or refusal happened (`invalid_credentials`, `forbidden`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub client: AuditClient,
    /// The request (`X-Request-Id`) the act belonged to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Act-specific facts; never secrets.
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl From<engine::Recorded> for AuditEntry {
    fn from(r: engine::Recorded) -> AuditEntry {
        let e = r.event;
        let kind = serde_json::to_value(e.actor.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        AuditEntry {
            seq: r.seq,
            id: e.id,
            at: e.at,
            node: e.node,
            actor: AuditActor {
                kind,
                id: e.actor.id,
                tenant: e.actor.tenant,
            },
            action: e.action,
            resource: e.resource.map(|r| AuditResource {
                kind: r.kind,
                id: r.id,
            }),
            outcome: engine::trail::outcome_name(e.outcome).to_owned(),
            reason: e.reason,
            client: AuditClient {
                ip: e.client.ip,
                user_agent: e.client.user_agent,
            },
            request_id: e.request_id,
            details: e.details,
        }
    }
}

/// One page of the audit trail, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    pub events: Vec<AuditEntry>,
    /// The cursor (`before`) of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}
