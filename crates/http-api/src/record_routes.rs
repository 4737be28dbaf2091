//! `/api/v1/tenants/{tenant}/collections` and `/api/v1/tenants/{tenant}/records/{collection}`:
//! collections with declared schemas and their records. Every handler authorises the caller on
//! the collection (or the record and its owner) before reading or changing anything; owner-only
//! rights narrow listings to the caller's own records.

use std::sync::Arc;

use access::{Action, RecordAction, Resource};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use records::schema::Schema;
use records::{CollectionView, IfMatch, ListOptions, RecordPage, RecordView};
use types::{RecordId, TenantId, UserId};

use crate::auth::{Authenticated, TenantMember};
use crate::bodies::CollectionList;
use crate::json::Json;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/{tenant}/collections",
            get(list_collections).post(create_collection),
        )
        .route(
            "/{tenant}/collections/{collection}",
            get(show_collection)
                .put(update_collection)
                .delete(delete_collection),
        )
        .route(
            "/{tenant}/records/{collection}",
            get(list_records).post(create_record),
        )
        .route(
            "/{tenant}/records/{collection}/{record}",
            get(show_record)
                .put(replace_record)
                .patch(patch_record)
                .delete(delete_record),
        )
}

impl From<records::Error> for ApiError {
    fn from(e: records::Error) -> Self {
        use records::Error as E;
        let status =
            |s: StatusCode, code: &'static str, e: &E| ApiError::new(s, code, e.to_string());
        match e {
            E::NotFound(_) => ApiError::not_found(),
            E::Invalid(ref errors) => {
                let mut err = status(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", &e);
                err.extra = Some(serde_json::json!({ "errors": errors }));
                err
            }
            E::Conflict(_) => status(StatusCode::CONFLICT, "conflict", &e),
            E::PreconditionFailed { .. } => {
                status(StatusCode::PRECONDITION_FAILED, "version_mismatch", &e)
            }
            E::IdempotencyMismatch => status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                &e,
            ),
            E::Engine(inner) => inner.into(),
            E::UnsupportedType { .. } => status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                &e,
            ),
            E::TooLarge { .. } => status(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", &e),
            E::Storage(_) => {
                tracing::error!(error = %e, "attachment storage failed");
                status(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", &e)
            }
            E::Corrupt(_) => {
                tracing::error!(error = %e, "stored record data is malformed");
                ApiError::internal()
            }
        }
    }
}

pub(crate) fn tenant_of(raw: &str) -> Result<TenantId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::forbidden("another tenant"))
}

pub(crate) fn record_id(raw: &str) -> Result<RecordId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CollectionBody {
    name: String,
    schema: Schema,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SchemaBody {
    schema: Schema,
}

/// Lists the tenant's collections.
///
/// **Permissions:** any member of the tenant (`ReadCollections`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/collections", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    responses(
        (status = 200, description = "The collections with their schemas.", body = CollectionList),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn list_collections(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&t)?;
    auth.require(Action::ReadCollections, &Resource::Tenant(t))?;
    let items = state.records.list_collections(t)?;
    Ok(axum::Json(CollectionList { items }).into_response())
}

/// Creates a collection with a declared schema.
///
/// **Permissions:** owner, admin (`ManageCollections`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/collections", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
    ),
    request_body = CollectionBody,
    responses(
        (status = 201, description = "The collection.", body = CollectionView,
            headers(("Location" = String, description = "The collection's URL.")),
            links(
                ("ShowCollection" = (operation_id = "show_collection", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$response.body#/name")))),
                ("CreateRecord" = (operation_id = "create_record", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$response.body#/name")))),
                ("ListRecords" = (operation_id = "list_records", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$response.body#/name")))),
            )),
        (status = 409, description = "A collection of that name exists."),
        (status = 422, description = "An invalid name or schema (`validation_failed`, each problem in `errors`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn create_collection(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    Json(body): Json<CollectionBody>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&t)?;
    auth.require(Action::ManageCollections, &Resource::Tenant(t))?;
    let c = state
        .records
        .create_collection(t, &body.name, body.schema)
        .await?;
    let location = format!("/api/v1/tenants/{t}/collections/{}", c.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(c),
    )
        .into_response())
}

/// Shows a collection and its schema.
///
/// **Permissions:** any member of the tenant (`ReadCollections`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/collections/{collection}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
    ),
    responses(
        (status = 200, description = "The collection.", body = CollectionView),
        (status = 404, description = "No such collection."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn show_collection(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&t)?;
    auth.require(Action::ReadCollections, &Resource::Tenant(t))?;
    let c = state.records.collection(t, &c)?;
    Ok(axum::Json(records::Records::collection_view(&c)).into_response())
}

/// Declares a new version of a collection's schema.
///
/// **Permissions:** owner, admin (`ManageCollections`). A new schema version.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/collections/{collection}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
    ),
    request_body = SchemaBody,
    responses(
        (status = 200, description = "The collection.", body = CollectionView),
        (status = 404, description = "No such collection."),
        (status = 409, description = "The change is incompatible with stored records."),
        (status = 422, description = "An invalid schema (`validation_failed`, each problem in `errors`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn update_collection(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c)): Path<(String, String)>,
    Json(body): Json<SchemaBody>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&t)?;
    auth.require(Action::ManageCollections, &Resource::Tenant(t))?;
    Ok(axum::Json(state.records.update_collection(t, &c, body.schema).await?).into_response())
}

/// Deletes an empty collection.
///
/// **Permissions:** owner, admin (`ManageCollections`). Only an empty collection.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/collections/{collection}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such collection."),
        (status = 409, description = "The collection still has records."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn delete_collection(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&t)?;
    auth.require(Action::ManageCollections, &Resource::Tenant(t))?;
    state.records.delete_collection(t, &c).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn record_response(status: StatusCode, r: RecordView) -> Response {
    let tag = etag(r.version);
    let mut response = (status, axum::Json(r)).into_response();
    response.headers_mut().insert(header::ETAG, tag);
    response
}

/// `If-Match`: `*`, or a strong ETag this API issued. Anything else can never match.
fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    let raw = headers
        .get(header::IF_MATCH)?
        .to_str()
        .unwrap_or_default()
        .trim();
    if raw == "*" {
        return Some(IfMatch::Any);
    }
    let version = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .and_then(|v| v.parse().ok());
    Some(IfMatch::Version(version.unwrap_or(u64::MAX)))
}

fn caller_user(auth: &Authenticated) -> Result<UserId, ApiError> {
    auth.caller
        .user_id()
        .ok_or_else(|| ApiError::forbidden("records belong to users; this credential has none"))
}

/// True when the caller may read only its own records of the collection.
fn owner_only(auth: &Authenticated, t: TenantId, c: &str, action: RecordAction) -> bool {
    let stranger = UserId::random();
    let resource = Resource::Record {
        tenant: t,
        collection: c,
        owner: stranger,
    };
    access::authorize(&auth.caller.principal, Action::Record(action), &resource).is_err()
}

/// Lists records, filtered by indexed fields, newest or oldest first.
///
/// **Permissions:** `Record(Read)` on the collection; owner-only rights list only own records.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/records/{collection}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("after" = Option<String>, Query, description = "The cursor: the `next` of the previous page."),
        ("limit" = Option<u32>, Query, format = Int64, minimum = 0, maximum = 4_294_967_295_u64, description = "Page size, 1 to 200 (default 50; larger ones are capped)."),
        ("sort" = Option<String>, Query, description = "`created` (the default), `-created`, `updated` or `-updated`; `-` for newest first."),
        ("filter" = Option<HashMap<String, String>>, Query, style = DeepObject, explode, description = "`filter[field]=value`: equality on an indexed field."),
    ),
    responses(
        (status = 200, description = "One page of records.", body = RecordPage),
        (status = 400, description = "An unknown query parameter or a malformed limit (`invalid_query`)."),
        (status = 422, description = "A malformed cursor, or a sort or filter on a field that is not indexed (`validation_failed`)."),
        (status = 404, description = "No such collection."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn list_records(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&t)?;
    auth.require(
        Action::Record(RecordAction::Read),
        &Resource::Collection {
            tenant: t,
            name: &c,
        },
    )?;
    let mut opts = ListOptions::default();
    for (key, value) in pairs {
        match key.as_str() {
            "after" => opts.after = Some(value),
            "sort" => opts.sort = Some(value),
            "limit" => {
                opts.limit = Some(value.parse().map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_query",
                        "limit must be a number from 1 to 200",
                    )
                })?)
            }
            k => match k.strip_prefix("filter[").and_then(|f| f.strip_suffix(']')) {
                Some(field) => opts.filters.push((field.to_owned(), value)),
                None => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_query",
                        format!(
                            "unknown query parameter `{}`",
                            k.chars().take(64).collect::<String>()
                        ),
                    ));
                }
            },
        }
    }
    if owner_only(&auth, t, &c, RecordAction::Read) {
        opts.owner = Some(caller_user(&auth)?);
    }
    let records = state.records.clone();
    let page = tokio::task::spawn_blocking(move || records.list_records(t, &c, &opts))
        .await
        .map_err(|_| ApiError::internal())??;
    Ok(axum::Json(page).into_response())
}

/// Creates a record owned by the caller.
///
/// **Permissions:** `Record(Create)` on the collection; the caller owns the new record.
/// `Idempotency-Key`: a retry returns the first result (200, `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/records/{collection}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "1 to 255 visible ASCII characters: a retry with the same key and body answers the first result."),
    ),
    request_body(content = HashMap<String, serde_json::Value>, description = "The record's data: one member per declared field."),
    responses(
        (status = 201, description = "The record.", body = RecordView,
            headers(
                ("ETag" = String, description = "The record's version, a strong ETag."),
                ("Location" = String, description = "The record's URL."),
            ),
            links(
                ("ShowRecord" = (operation_id = "show_record", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$request.path.collection"), ("record" = "$response.body#/id")))),
                ("ReplaceRecord" = (operation_id = "replace_record", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$request.path.collection"), ("record" = "$response.body#/id")))),
                ("PatchRecord" = (operation_id = "patch_record", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$request.path.collection"), ("record" = "$response.body#/id")))),
                ("DeleteRecord" = (operation_id = "delete_record", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$request.path.collection"), ("record" = "$response.body#/id")))),
            )),
        (status = 200, description = "A replay of an earlier creation with the same `Idempotency-Key`.", body = RecordView,
            headers(
                ("ETag" = String, description = "The record's version, a strong ETag."),
                ("Location" = String, description = "The record's URL."),
                ("Idempotent-Replayed" = String, description = "`true`."),
            )),
        (status = 400, description = "An `Idempotency-Key` that is not visible ASCII."),
        (status = 404, description = "No such collection."),
        (status = 422, description = "The body breaks the collection's schema (`validation_failed`), or the `Idempotency-Key` was used with another body (`idempotency_key_reused`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn create_record(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&t)?;
    auth.require(
        Action::Record(RecordAction::Create),
        &Resource::Collection {
            tenant: t,
            name: &c,
        },
    )?;
    let owner = caller_user(&auth)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_header",
                        "Idempotency-Key must be visible ASCII",
                    )
                })?
                .to_owned(),
        ),
        None => None,
    };
    let principal = owner.to_string();
    let idem = key.as_deref().map(|k| (principal.as_str(), k));
    let (record, replayed) = state
        .records
        .create_record(t, &c, owner, &body, idem)
        .await?;
    let location = format!("/api/v1/tenants/{t}/records/{c}/{}", record.id);
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut response = record_response(status, record);
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Authorises `action` on one record (its owner decides owner-only rights).
pub(crate) fn authorize_record(
    auth: &Authenticated,
    state: &AppState,
    t: TenantId,
    c: &str,
    r: RecordId,
    action: RecordAction,
) -> Result<(), ApiError> {
    auth.require(
        Action::Record(action),
        &Resource::Collection { tenant: t, name: c },
    )?;
    let owner = state.records.owner_of(t, c, r)?;
    auth.require(
        Action::Record(action),
        &Resource::Record {
            tenant: t,
            collection: c,
            owner,
        },
    )
}

/// Shows a record.
///
/// **Permissions:** `Record(Read)` on the record.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/records/{collection}/{record}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("record" = RecordId, Path, description = "The record."),
    ),
    responses(
        (status = 200, description = "The record.", body = RecordView, headers(("ETag" = String, description = "The record's version, a strong ETag."))),
        (status = 404, description = "No such collection or record."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn show_record(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c, r)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (t, r) = (tenant_of(&t)?, record_id(&r)?);
    let action = Action::Record(RecordAction::Read);
    auth.require(
        action,
        &Resource::Collection {
            tenant: t,
            name: &c,
        },
    )?;
    let found = state.records.find_record(t, &c, r)?;
    auth.require(
        action,
        &Resource::Record {
            tenant: t,
            collection: &c,
            owner: found.owner,
        },
    )?;
    Ok(record_response(
        StatusCode::OK,
        state.records.open_record(&found)?,
    ))
}

async fn update(
    auth: &Authenticated,
    state: &AppState,
    (t, c, r): (String, String, String),
    headers: &HeaderMap,
    body: &serde_json::Value,
    patch: bool,
) -> Result<Response, ApiError> {
    let (t, r) = (tenant_of(&t)?, record_id(&r)?);
    authorize_record(auth, state, t, &c, r, RecordAction::Update)?;
    let record = state
        .records
        .update_record(t, &c, r, body, patch, if_match(headers))
        .await?;
    Ok(record_response(StatusCode::OK, record))
}

/// Replaces a record's data.
///
/// **Permissions:** `Record(Update)` on the record. `If-Match` with the ETag: 412 when stale.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/records/{collection}/{record}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("record" = RecordId, Path, description = "The record."),
        ("If-Match" = Option<String>, Header, nullable = false, description = "`*` or the record's ETag; 412 when it is not the current version."),
    ),
    request_body(content = HashMap<String, serde_json::Value>, description = "The record's data: one member per declared field."),
    responses(
        (status = 200, description = "The record.", body = RecordView, headers(("ETag" = String, description = "The record's version, a strong ETag."))),
        (status = 404, description = "No such collection or record."),
        (status = 412, description = "`If-Match` names another version (`version_mismatch`)."),
        (status = 422, description = "The body breaks the collection's schema (`validation_failed`, each failing field in `errors`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn replace_record(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(p): Path<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    update(&auth, &state, p, &headers, &body, false).await
}

/// Changes a record with a JSON merge patch (RFC 7396).
///
/// **Permissions:** `Record(Update)` on the record. A JSON merge patch; `If-Match` as for PUT.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/records/{collection}/{record}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("record" = RecordId, Path, description = "The record."),
        ("If-Match" = Option<String>, Header, nullable = false, description = "`*` or the record's ETag; 412 when it is not the current version."),
    ),
    request_body(content((HashMap<String, serde_json::Value> = "application/merge-patch+json"), (HashMap<String, serde_json::Value> = "application/json")), description = "A JSON merge patch of the record's data: `null` removes a field."),
    responses(
        (status = 200, description = "The record.", body = RecordView, headers(("ETag" = String, description = "The record's version, a strong ETag."))),
        (status = 404, description = "No such collection or record."),
        (status = 412, description = "`If-Match` names another version (`version_mismatch`)."),
        (status = 422, description = "The body breaks the collection's schema (`validation_failed`, each failing field in `errors`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn patch_record(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path(p): Path<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    update(&auth, &state, p, &headers, &body, true).await
}

/// Deletes a record.
///
/// **Permissions:** `Record(Delete)` on the record. `If-Match` as for PUT.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/records/{collection}/{record}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("record" = RecordId, Path, description = "The record."),
        ("If-Match" = Option<String>, Header, nullable = false, description = "`*` or the record's ETag; 412 when it is not the current version."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such collection or record."),
        (status = 412, description = "`If-Match` names another version (`version_mismatch`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn delete_record(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c, r)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (t, r) = (tenant_of(&t)?, record_id(&r)?);
    authorize_record(&auth, &state, t, &c, r, RecordAction::Delete)?;
    state
        .records
        .delete_record(t, &c, r, if_match(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
