//! Attachments: files attached to a record, sealed in 64 KiB chunks under the tenant key and
//! stored in both locations through the blob store before the event that makes them visible is
//! committed. Names and types are checked; a client never names a storage path.
//!
//! Blob layout: a sequence of frames `len (u32 BE) | crypto::seal(chunk)`, each chunk's AAD
//! `strongroom/attachment/v1|<tenant>|<attachment>|<index>|<last>`, so reordering, dropping,
//! truncating or moving chunks to another file or tenant is detected on download.

use engine::Scope;
use engine::event::{Blob, Event};
use engine::fields::FieldRef;
use engine::model::AttachmentDoc;
use types::{AttachmentId, RecordId, TenantId};

use crate::error::invalid;
use crate::{Error, Records, Result};

/// Bytes of plaintext per sealed chunk.
pub const CHUNK: usize = 64 * 1024;
/// Content types accepted unless configured otherwise.
pub const DEFAULT_TYPES: &[&str] = &[
    "application/pdf",
    "application/json",
    "application/zip",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
];

/// An attachment as its users see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttachmentView {
    pub id: AttachmentId,
    pub record: RecordId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub created_at: i64,
}

/// A downloaded attachment.
pub struct Download {
    pub view: AttachmentView,
    pub bytes: Vec<u8>,
}

/// Refuses names that could be taken for a path or carry control characters.
pub fn check_file_name(name: &str) -> Result<()> {
    let bad = |why: &str| invalid("name", format!("file name {why}"));
    if name.is_empty() || name.len() > 255 {
        return Err(bad("must be 1 to 255 bytes"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '/' | '\\' | ':'))
    {
        return Err(bad("must not contain /, \\, : or control characters"));
    }
    if name == "." || name == ".." || name.starts_with("..") {
        return Err(bad("must not look like a path (.., .)"));
    }
    Ok(())
}

fn aad(tenant: TenantId, id: AttachmentId, index: u32, last: bool) -> Vec<u8> {
    format!(
        "strongroom/attachment/v1|{tenant}|{id}|{index}|{}",
        u8::from(last)
    )
    .into_bytes()
}

fn name_field(tenant: TenantId, row: &str) -> FieldRef<'_> {
    FieldRef {
        scope: Scope::Tenant(tenant),
        table: "attachments",
        row,
        field: "name",
    }
}

impl Records {
    fn view_attachment(&self, d: &AttachmentDoc) -> Result<AttachmentView> {
        let row = d.id.to_string();
        let name = self
            .engine
            .open_field(name_field(d.tenant, &row), &d.name.0)?;
        Ok(AttachmentView {
            id: d.id,
            record: d.record,
            name: String::from_utf8_lossy(&name).into_owned(),
            content_type: d.content_type.clone(),
            size: d.size,
            created_at: d.created_at,
        })
    }

    /// Seals `bytes` and stores them as a new attachment of the record.
    pub async fn add_attachment(
        &self,
        tenant: TenantId,
        collection: &str,
        record: RecordId,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<AttachmentView> {
        check_file_name(name)?;
        let content_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !self.allowed_types.contains(&content_type) {
            return Err(invalid(
                "content_type",
                format!(
                    "`{}` is not allowed; allowed: {}",
                    content_type.chars().take(100).collect::<String>(),
                    self.allowed_types.join(", ")
                ),
            ));
        }
        if bytes.len() as u64 > self.max_attachment_bytes {
            return Err(Error::TooLarge {
                limit: self.max_attachment_bytes,
            });
        }
        let c = self.collection(tenant, collection)?;
        self.owner_of(tenant, collection, record)?;
        let id = AttachmentId::random();
        let key = self.engine.current_key(Scope::Tenant(tenant))?;
        let blobs = self.blobs()?;
        let mut writer = blobs
            .create(&id.to_string())
            .map_err(|e| Error::Storage(e.to_string()))?;
        let pieces: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[][..]]
        } else {
            bytes.chunks(CHUNK).collect()
        };
        let count = pieces.len() as u32;
        for (i, piece) in pieces.iter().enumerate() {
            let last = i as u32 + 1 == count;
            let sealed = key.seal(&aad(tenant, id, i as u32, last), piece);
            writer
                .write(&(sealed.len() as u32).to_be_bytes())
                .map_err(|e| Error::Storage(e.to_string()))?;
            writer
                .write(&sealed)
                .map_err(|e| Error::Storage(e.to_string()))?;
        }
        let blob_id = id.to_string();
        writer.finish().map_err(|e| Error::Storage(e.to_string()))?;
        let row = id.to_string();
        let doc = AttachmentDoc {
            id,
            tenant,
            collection: c.doc.id,
            record,
            name: Blob(
                self.engine
                    .seal_field(name_field(tenant, &row), name.as_bytes())?,
            ),
            content_type,
            size: bytes.len() as u64,
            chunks: count,
            digest: Blob(
                self.engine
                    .blind_index(
                        Scope::Tenant(tenant),
                        "strongroom/attachment-digest/v1",
                        bytes,
                    )?
                    .to_vec(),
            ),
            created_at: self.engine.now().millis(),
        };
        if let Err(e) = self
            .engine
            .commit(
                Scope::Tenant(tenant),
                &Event::AttachmentAdded { doc: doc.clone() },
            )
            .await
        {
            // Not committed: the blob must not linger.
            let _ = blobs.delete(&blob_id);
            return Err(e.into());
        }
        self.view_attachment(&doc)
    }

    fn attachment(
        &self,
        tenant: TenantId,
        record: RecordId,
        id: AttachmentId,
    ) -> Result<AttachmentDoc> {
        match self.engine.get_doc::<AttachmentDoc>(&id.to_string())? {
            Some(d) if d.tenant == tenant && d.record == record => Ok(d),
            _ => Err(Error::NotFound("attachment")),
        }
    }

    pub fn list_attachments(
        &self,
        tenant: TenantId,
        collection: &str,
        record: RecordId,
    ) -> Result<Vec<AttachmentView>> {
        self.owner_of(tenant, collection, record)?;
        let docs = self.engine.children::<AttachmentDoc>(&record.to_string())?;
        docs.iter()
            .filter(|d| d.tenant == tenant)
            .map(|d| self.view_attachment(d))
            .collect()
    }

    /// Reads, opens and checks every chunk of an attachment.
    pub fn download(
        &self,
        tenant: TenantId,
        collection: &str,
        record: RecordId,
        id: AttachmentId,
    ) -> Result<Download> {
        self.owner_of(tenant, collection, record)?;
        let doc = self.attachment(tenant, record, id)?;
        let raw = self
            .blobs()?
            .read(&id.to_string())
            .map_err(|e| Error::Storage(e.to_string()))?;
        let corrupt = |why: &str| Error::Corrupt(format!("attachment {id}: {why}"));
        let mut bytes = Vec::with_capacity(doc.size as usize);
        let mut rest = raw.as_slice();
        for i in 0..doc.chunks {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt("truncated"))?;
            let len = u32::from_be_bytes(*len) as usize;
            let sealed = tail.get(..len).ok_or_else(|| corrupt("truncated"))?;
            let plain = self
                .engine
                .open_sealed(
                    Scope::Tenant(tenant),
                    &aad(tenant, id, i, i + 1 == doc.chunks),
                    sealed,
                )
                .map_err(|_| corrupt("a chunk does not open"))?;
            bytes.extend_from_slice(&plain);
            rest = &tail[len..];
        }
        if !rest.is_empty() || bytes.len() as u64 != doc.size {
            return Err(corrupt("size mismatch"));
        }
        Ok(Download {
            view: self.view_attachment(&doc)?,
            bytes,
        })
    }

    pub async fn delete_attachment(
        &self,
        tenant: TenantId,
        collection: &str,
        record: RecordId,
        id: AttachmentId,
    ) -> Result<()> {
        self.owner_of(tenant, collection, record)?;
        self.attachment(tenant, record, id)?;
        self.engine
            .commit(
                Scope::Tenant(tenant),
                &Event::AttachmentDeleted { attachment: id },
            )
            .await?;
        // The sealed bytes become unreachable with the event; remove the files too.
        self.blobs()?
            .delete(&id.to_string())
            .map_err(|e| Error::Storage(e.to_string()))?;
        Ok(())
    }
}
