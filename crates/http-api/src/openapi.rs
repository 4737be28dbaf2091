//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the whole HTTP surface, generated from
//! the handlers' `#[utoipa::path]` annotations and the `ToSchema` types of their bodies.
//!
//! Each handler declares its success answers and the errors only it gives. The errors every
//! route of a kind can give are added here, from the operation itself, so that none is
//! forgotten: 429 and 503 everywhere (rate limits, time-outs, storage refusing writes); 401 and
//! 403 where a credential is required; 400, 413, 415 and 422 where a JSON body is read; 404 where
//! the path names something. Every error body is the RFC 9457 [`Problem`].
//!
//! Must never describe a route that the router does not mount, nor leave one out: the test
//! `tests/openapi.rs` compares the document with the routers' sources.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response as OaResponse, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Header, RefOr, Schema};

use crate::AppState;
use crate::error::Problem;
use crate::{
    attachment_routes, audit_routes, backup_routes, deletion_routes, export_routes, health,
    metrics, record_routes, session_routes, tenant_admin, tenants,
};

/// The document's media type for errors.
const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Strongroom",
        description = "Strongroom's HTTPS API: tenants, identity, and records sealed under each \
                       tenant's key. Every error is an RFC 9457 problem (`application/problem+json`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/")),
    paths(
        health::get_healthz,
        health::get_readyz,
        audit_routes::tenant_trail,
        audit_routes::system_trail,
        audit_routes::stream,
        get_openapi,
        metrics::get_metrics,
        backup_routes::status,
        backup_routes::run,
        backup_routes::restore_tenant,
        deletion_routes::request_as_owner,
        deletion_routes::cancel_with_code,
        deletion_routes::request_as_admin,
        deletion_routes::show_deletion,
        deletion_routes::cancel_as_admin,
        deletion_routes::list_deletions,
        deletion_routes::erase_subject,
        tenants::create_tenant,
        tenants::list_tenants,
        tenants::show_tenant,
        tenants::suspend_tenant,
        tenants::resume_tenant,
        tenants::invite_owner,
        tenants::invite_system_admin,
        session_routes::login,
        session_routes::complete_mfa,
        session_routes::logout,
        session_routes::get_csrf,
        session_routes::accept_invitation,
        session_routes::finish_password_reset,
        session_routes::get_me,
        session_routes::list_sessions,
        session_routes::revoke_session,
        session_routes::change_password,
        session_routes::begin_totp,
        session_routes::confirm_totp,
        session_routes::remove_totp,
        session_routes::regenerate_recovery_codes,
        session_routes::list_tokens,
        session_routes::create_token,
        session_routes::revoke_token,
        tenant_admin::list_users,
        tenant_admin::show_user,
        tenant_admin::delete_user,
        tenant_admin::disable_user,
        tenant_admin::enable_user,
        tenant_admin::unlock_user,
        tenant_admin::set_role,
        tenant_admin::start_password_reset,
        tenant_admin::list_user_tokens,
        tenant_admin::invite,
        tenant_admin::create_service_account,
        tenant_admin::create_service_token,
        tenant_admin::revoke_token,
        tenant_admin::list_roles,
        tenant_admin::create_role,
        tenant_admin::show_role,
        tenant_admin::update_role,
        tenant_admin::delete_role,
        tenant_admin::get_settings,
        tenant_admin::put_settings,
        tenant_admin::access_review,
        record_routes::list_collections,
        record_routes::create_collection,
        record_routes::show_collection,
        record_routes::update_collection,
        record_routes::delete_collection,
        record_routes::list_records,
        record_routes::create_record,
        record_routes::show_record,
        record_routes::replace_record,
        record_routes::patch_record,
        record_routes::delete_record,
        attachment_routes::list_attachments,
        attachment_routes::upload_attachment,
        attachment_routes::download_attachment,
        attachment_routes::delete_attachment,
        export_routes::request_export,
        export_routes::list_exports,
        export_routes::show_export,
        export_routes::create_link,
        export_routes::download,
    ),
    components(schemas(Problem)),
    modifiers(&SecuritySchemes, &CommonErrors),
    tags(
        (name = "health", description = "Liveness, readiness and metrics."),
        (name = "audit", description = "The audit trail: reading and export."),
        (name = "data rights", description = "Tenant deletion and data-subject erasure by crypto-shredding, with a signed receipt."),
        (name = "authentication", description = "Logins, second factors, invitations, resets."),
        (name = "account", description = "The caller's own account, sessions and tokens."),
        (name = "tenants", description = "The system administrator's tenant lifecycle."),
        (name = "backups", description = "Backups in several regions: each destination's state, and a run now."),
        (name = "tenant administration", description = "A tenant's users, roles, tokens and settings."),
        (name = "records", description = "Collections with declared schemas, their records and the records' attachments."),
        (name = "exports", description = "Complete, encrypted exports of a tenant and their single-use download links."),
    )
)]
pub(crate) struct ApiDoc;

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/openapi.json", get(get_openapi))
}

/// This document.
///
/// **Permissions:** none (describes the API, reveals no data).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object)))]
async fn get_openapi(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(document(&state.records.allowed_types)).into_response()
}

/// The document as JSON, with the attachment content types this server allows. utoipa 5 spells
/// the members of a link in snake case (`operation_id`, `request_body`) where OpenAPI spells
/// them in camel case (fixed in utoipa 6); they are renamed here.
pub(crate) fn document(attachment_types: &[String]) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    file_types(&mut doc, attachment_types);
    let links = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses")?.as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links")?.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(|link| link.as_object_mut());
    for link in links {
        for (from, to) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(from) {
                link.insert(to.to_owned(), value);
            }
        }
    }
    doc
}

/// Replaces the placeholder `application/octet-stream` of the file upload and download with the
/// allowed types, so the document states what the server takes and gives (bytes; for JSON
/// types any JSON value, since that is how a client reads them).
fn file_types(doc: &mut serde_json::Value, types: &[String]) {
    let file = "~1api~1v1~1tenants~1{tenant}~1records~1{collection}~1{record}~1attachments";
    let places = [
        format!("/paths/{file}/post/requestBody/content"),
        format!("/paths/{file}~1{{attachment}}/get/responses/200/content"),
    ];
    for place in places {
        let content = doc.pointer_mut(&place).and_then(|c| c.as_object_mut());
        if let Some(content) = content
            && let Some(schema) = content.remove("application/octet-stream")
        {
            for t in types {
                // A JSON file is read as JSON by clients and fuzzers: any JSON value.
                let json = t == "application/json" || t.ends_with("+json");
                let schema = match json {
                    true => serde_json::json!({ "schema": {} }),
                    false => schema.clone(),
                };
                content.insert(t.clone(), schema);
            }
        }
    }
}

/// The two ways to present a credential.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A session secret (`srs_…`, from a login) or an API token (`srt_…`).",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let cookie = ApiKeyValue::with_description(
            crate::auth::SESSION_COOKIE,
            "The browser session cookie set by a login. Unsafe methods also need the session's \
             `X-CSRF-Token` and a same-origin `Origin` or `Referer`.",
        );
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(cookie)));
    }
}

/// The errors a route can give because of what it is, each with a [`Problem`] body.
struct CommonErrors;

/// (status, reusable response name, description).
const COMMON: [(&str, &str, &str); 9] = [
    (
        "400",
        "BadRequest",
        "A malformed request: JSON syntax, query or header (`bad_request`, `invalid_body`, …).",
    ),
    (
        "401",
        "Unauthorized",
        "No valid credential (`unauthorized`).",
    ),
    (
        "403",
        "Forbidden",
        "The credential may not do this, or belongs to another tenant (`forbidden`).",
    ),
    ("404", "NotFound", "No such resource (`not_found`)."),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than 1 MiB (`body_too_large`).",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not `application/json` (`unsupported_media_type`).",
    ),
    (
        "422",
        "UnprocessableEntity",
        "The body does not have the expected members or types (`invalid_body`), or breaks a rule.",
    ),
    (
        "429",
        "TooManyRequests",
        "A rate limit is spent (`rate_limited`, `throttled`).",
    ),
    (
        "503",
        "ServiceUnavailable",
        "Writes are refused (`storage_unavailable`), the server is busy (`busy`), or the request took too long (`timeout`).",
    ),
];

fn problem_content() -> Content {
    Content::new(Some(RefOr::<Schema>::Ref(
        utoipa::openapi::Ref::from_schema_name("Problem"),
    )))
}

fn text_header(description: &str) -> Header {
    let schema = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .build();
    let mut header = Header::new(schema);
    header.description = Some(description.to_owned());
    header
}

/// Gives an error response its problem body and the headers its status implies.
fn complete_error(status: &str, response: &mut OaResponse) {
    if response.content.is_empty() {
        response
            .content
            .insert(PROBLEM_JSON.to_owned(), problem_content());
    }
    let header = match status {
        "401" => Some(("WWW-Authenticate", "`Bearer`.")),
        "429" => Some(("Retry-After", "Seconds to wait.")),
        _ => None,
    };
    if let Some((name, description)) = header {
        response
            .headers
            .entry(name.to_owned())
            .or_insert_with(|| text_header(description));
    }
}

fn statuses_for(op: &Operation) -> Vec<&'static str> {
    let secured = op
        .security
        .as_ref()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|r| r != &Default::default()));
    let path_params = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Path);
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let body = op.request_body.is_some();
    let mut wanted = vec!["429", "503"];
    if secured {
        wanted.extend(["401", "403"]);
    }
    if body {
        wanted.extend(["400", "413", "415", "422"]);
    }
    if has_query {
        wanted.push("400");
    }
    if path_params {
        wanted.push("404");
    }
    wanted
}

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for status in statuses_for(op) {
                    let name = COMMON
                        .iter()
                        .find(|(s, ..)| *s == status)
                        .map_or("Error", |(_, name, _)| *name);
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::Ref(utoipa::openapi::Ref::from_response_name(name))
                        });
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (RefOr::T(response), true) =
                        (response, status.starts_with('4') || status.starts_with('5'))
                    {
                        complete_error(status, response);
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        for (status, name, description) in COMMON {
            let mut response: OaResponse = ResponseBuilder::new().description(description).build();
            complete_error(status, &mut response);
            components
                .responses
                .insert(name.to_owned(), RefOr::T(response));
        }
    }
}
