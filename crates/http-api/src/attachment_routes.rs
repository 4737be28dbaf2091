//! `/api/v1/tenants/{tenant}/records/{collection}/{record}/attachments`: files attached to a
//! record. Uploads stream into the records service chunk by chunk (never held whole in memory)
//! and are refused at the first byte past the tenant's limit; downloads carry
//! `Content-Disposition: attachment` with the sealed name, `nosniff` and a sandboxing CSP, so a
//! browser never renders a file as part of the API's origin. Files are addressed by id only.
//!
//! Rights: uploading and deleting need `Record(Update)` on the record, listing and downloading
//! `Record(Read)`, with owner-only rights decided by the record's owner.

use std::pin::Pin;
use std::sync::Arc;

use access::RecordAction;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Body as _;
use records::AttachmentView;
use types::{AttachmentId, RecordId, TenantId};

use crate::auth::TenantMember;
use crate::bodies::AttachmentList;
use crate::record_routes::{authorize_record, record_id, tenant_of};
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/{tenant}/records/{collection}/{record}/attachments",
            get(list_attachments).post(upload_attachment),
        )
        .route(
            "/{tenant}/records/{collection}/{record}/attachments/{attachment}",
            get(download_attachment).delete(delete_attachment),
        )
}

fn attachment_id(raw: &str) -> Result<AttachmentId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// The `name` query parameter, the only one an upload takes.
fn file_name(pairs: Vec<(String, String)>) -> Result<String, ApiError> {
    let mut name = None;
    for (key, value) in pairs {
        if key != "name" || name.is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!(
                    "unexpected query parameter `{}`: an upload takes one `name`",
                    key.chars().take(64).collect::<String>()
                ),
            ));
        }
        name = Some(value);
    }
    name.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the file name is missing: add `?name=<file name>`",
        )
    })
}

/// `Content-Disposition: attachment` with an ASCII fallback name and the exact name in
/// RFC 8187 encoding; nothing of the name can end the header or start another.
pub(crate) fn content_disposition(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let value = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Lists a record's attachments.
///
/// **Permissions:** `Record(Read)` on the record.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/records/{collection}/{record}/attachments", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("record" = RecordId, Path, description = "The record."),
    ),
    responses(
        (status = 200, description = "The record's attachments.", body = AttachmentList),
        (status = 404, description = "No such collection or record."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn list_attachments(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c, r)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (t, r) = (tenant_of(&t)?, record_id(&r)?);
    authorize_record(&auth, &state, t, &c, r, RecordAction::Read)?;
    let items = state.records.list_attachments(t, &c, r)?;
    Ok(axum::Json(AttachmentList { items }).into_response())
}

/// Uploads a file and attaches it to the record.
///
/// **Permissions:** `Record(Update)` on the record. The body is the file itself (streamed), its
/// `Content-Type` one of the allowed types, its name in `?name=`. Refused with 413 at the first
/// byte past the tenant's limit.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/records/{collection}/{record}/attachments", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("record" = RecordId, Path, description = "The record."),
        ("name" = String, Query, min_length = 1, max_length = 255, pattern = r"^[^/\\:\x00-\x1f\x7f]+$", description = "The file's name, for downloads only (1 to 255 bytes; no `/`, `\\`, `:`, control characters, nor a leading `..`)."),
    ),
    request_body(content((FileBytes = "application/octet-stream")), description = "The file's bytes, in one of the allowed content types (the document lists the server's)."),
    responses(
        (status = 201, description = "The attachment.", body = AttachmentView,
            headers(("Location" = String, description = "The attachment's download URL.")),
            links(
                ("DownloadAttachment" = (operation_id = "download_attachment", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$request.path.collection"), ("record" = "$request.path.record"), ("attachment" = "$response.body#/id")))),
                ("DeleteAttachment" = (operation_id = "delete_attachment", parameters(("tenant" = "$request.path.tenant"), ("collection" = "$request.path.collection"), ("record" = "$request.path.record"), ("attachment" = "$response.body#/id")))),
            )),
        (status = 400, description = "A missing or repeated `name`, an unknown query parameter, or an interrupted upload."),
        (status = 404, description = "No such collection or record."),
        (status = 413, description = "The file is larger than the tenant's limit (`file_too_large`)."),
        (status = 415, description = "The content type is not allowed (`unsupported_media_type`; the allowed ones in `detail`)."),
        (status = 422, description = "A file name that could be taken for a path (`validation_failed`)."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn upload_attachment(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c, r)): Path<(String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    mut body: Body,
) -> Result<Response, ApiError> {
    let (t, r) = (tenant_of(&t)?, record_id(&r)?);
    authorize_record(&auth, &state, t, &c, r, RecordAction::Update)?;
    let name = file_name(pairs)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let mut upload = state
        .records
        .begin_upload(t, &c, r, &name, content_type, declared)?;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "upload_interrupted",
                "the upload ended before its last byte; nothing was stored",
            )
        })?;
        if let Ok(data) = frame.into_data() {
            upload.push(&data)?;
        }
    }
    let view = upload.finish().await?;
    let location = format!(
        "/api/v1/tenants/{t}/records/{c}/{r}/attachments/{}",
        view.id
    );
    let mut response = (StatusCode::CREATED, axum::Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Downloads an attachment.
///
/// **Permissions:** `Record(Read)` on the record. Always `Content-Disposition: attachment`;
/// nothing is sent unless the whole file opens and checks.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/records/{collection}/{record}/attachments/{attachment}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("record" = RecordId, Path, description = "The record."),
        ("attachment" = AttachmentId, Path, description = "The attachment."),
    ),
    responses(
        (status = 200, description = "The file.", content((FileBytes = "application/octet-stream")),
            headers(("Content-Disposition" = String, description = "`attachment`, with the file's name."))),
        (status = 404, description = "No such collection, record or attachment."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn download_attachment(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c, r, a)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let (t, r, a) = (tenant_of(&t)?, record_id(&r)?, attachment_id(&a)?);
    authorize_record(&auth, &state, t, &c, r, RecordAction::Read)?;
    let records = state.records.clone();
    let file = tokio::task::spawn_blocking(move || records.download(t, &c, r, a))
        .await
        .map_err(|_| ApiError::internal())??;
    let content_type = HeaderValue::from_str(&file.view.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(&file.view.name),
            ),
        ],
        file.bytes,
    )
        .into_response())
}

/// Deletes an attachment and its file in both locations.
///
/// **Permissions:** `Record(Update)` on the record.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/records/{collection}/{record}/attachments/{attachment}", tag = "records",
    params(
        ("tenant" = TenantId, Path, description = "The tenant (the caller's own)."),
        ("collection" = String, Path, description = "The collection's name."),
        ("record" = RecordId, Path, description = "The record."),
        ("attachment" = AttachmentId, Path, description = "The attachment."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such collection, record or attachment."),
    ),
    security(("bearer" = []), ("session" = [])))]
async fn delete_attachment(
    TenantMember(auth): TenantMember,
    State(state): State<Arc<AppState>>,
    Path((t, c, r, a)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let (t, r, a) = (tenant_of(&t)?, record_id(&r)?, attachment_id(&a)?);
    authorize_record(&auth, &state, t, &c, r, RecordAction::Update)?;
    state.records.delete_attachment(t, &c, r, a).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The bytes of a file, in the document.
pub(crate) struct FileBytes;

impl utoipa::PartialSchema for FileBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for FileBytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_cannot_be_broken_out_of() {
        let cases = [
            (
                "report.pdf",
                "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf",
            ),
            (
                "a \"quoted\" name.txt",
                "attachment; filename=\"a _quoted_ name.txt\"; filename*=UTF-8''a%20%22quoted%22%20name.txt",
            ),
            (
                "résumé;x=1.pdf",
                "attachment; filename=\"r_sum_;x=1.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%3Bx%3D1.pdf",
            ),
        ];
        for (name, want) in cases {
            assert_eq!(content_disposition(name).to_str().expect("ascii"), want);
        }
    }
}
