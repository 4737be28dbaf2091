//! Attachments: files attached to a record, sealed in 64 KiB chunks under the tenant key and
//! stored in both locations through the blob store before the event that makes them visible is
//! committed. Names and types are checked; a client never names a storage path.
//!
//! Blob layout: a sequence of frames `len (u32 BE) | crypto::seal(chunk)`, each chunk's AAD
//! `strongroom/attachment/v1|<tenant>|<attachment>|<index>|<last>`, so reordering, dropping,
//! truncating or moving chunks to another file or tenant is detected on download.
//!
//! Uploads stream: [`Records::begin_upload`] checks everything that can be checked before the
//! first byte (name, type, record, declared length), [`Upload::push`] seals each 64 KiB chunk as
//! it fills (one chunk is held back, since only the end of the stream tells which one is last)
//! and refuses the byte that crosses the tenant's limit, and [`Upload::finish`] makes the file
//! durable in both locations, then commits the event. An upload dropped before `finish` leaves
//! no file behind.

use engine::Scope;
use engine::event::{Blob, Event};
use engine::fields::{FieldRef, SealingKey};
use engine::model::{AttachmentDoc, SettingsDoc};
use types::{AttachmentId, CollectionId, RecordId, TenantId};

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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
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

    /// The largest attachment `tenant` may upload: the system limit, or the tenant's own when
    /// its settings set a lower one.
    pub fn attachment_limit(&self, tenant: TenantId) -> Result<u64> {
        let own = self
            .engine
            .get_doc::<SettingsDoc>(&tenant.to_string())?
            .and_then(|s| s.attachment_max_bytes);
        Ok(own.map_or(self.max_attachment_bytes, |own| {
            u64::from(own).min(self.max_attachment_bytes)
        }))
    }

    /// The media type without parameters, lower-cased, when the allowlist holds it.
    fn allowed_type(&self, content_type: &str) -> Result<String> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if self.allowed_types.contains(&essence) {
            return Ok(essence);
        }
        Err(Error::UnsupportedType {
            got: essence.chars().take(100).collect(),
            allowed: self.allowed_types.to_vec(),
        })
    }

    /// Starts an upload to `record` after checking the name, the type, the record and, when
    /// the client declared it, the length against the tenant's limit.
    pub fn begin_upload(
        &self,
        tenant: TenantId,
        collection: &str,
        record: RecordId,
        name: &str,
        content_type: &str,
        declared_len: Option<u64>,
    ) -> Result<Upload> {
        check_file_name(name)?;
        let content_type = self.allowed_type(content_type)?;
        let limit = self.attachment_limit(tenant)?;
        if declared_len.is_some_and(|n| n > limit) {
            return Err(Error::TooLarge { limit });
        }
        let c = self.collection(tenant, collection)?;
        let row = self.row(tenant, &c, record)?;
        let id = AttachmentId::random();
        // A record about a data subject has its files sealed under the subject's key too.
        let subject = engine::fields::subject_of(&row.body).map(|(s, _)| s.to_owned());
        let key = self
            .engine
            .current_key_for(Scope::Tenant(tenant), subject.as_deref())?;
        let writer = self
            .blobs()?
            .create(&id.to_string())
            .map_err(|e| Error::Storage(e.to_string()))?;
        Ok(Upload {
            records: self.clone(),
            tenant,
            collection: c.doc.id,
            record,
            id,
            name: name.to_owned(),
            content_type,
            limit,
            subject,
            key,
            writer,
            pending: Vec::with_capacity(CHUNK),
            chunks: 0,
            size: 0,
            digest: crypto::Sha256::new(),
        })
    }

    /// Seals `bytes` and stores them as a new attachment of the record (a one-piece upload).
    pub async fn add_attachment(
        &self,
        tenant: TenantId,
        collection: &str,
        record: RecordId,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<AttachmentView> {
        let mut upload = self.begin_upload(
            tenant,
            collection,
            record,
            name,
            content_type,
            Some(bytes.len() as u64),
        )?;
        upload.push(bytes)?;
        upload.finish().await
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

    /// Reads, opens and checks every chunk of an attachment. Nothing is returned unless the
    /// whole file opens, so a client never receives a prefix of a damaged file.
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
        self.remove_blobs(&[id])
    }

    /// Removes the files of attachments whose event is committed (deleted ones).
    pub(crate) fn remove_blobs(&self, ids: &[AttachmentId]) -> Result<()> {
        let blobs = self.blobs()?;
        for id in ids {
            blobs
                .delete(&id.to_string())
                .map_err(|e| Error::Storage(e.to_string()))?;
        }
        Ok(())
    }

    /// Removes attachment files no committed attachment refers to: uploads interrupted by a
    /// crash between the file and its event, and files of attachments deleted by a process that
    /// died before removing them. Call it before serving (an upload in flight has a file but no
    /// event yet). Returns how many were removed: orphaned blobs (by name, whichever locations
    /// held them) and leftover files.
    pub fn collect_garbage(&self) -> Result<usize> {
        let blobs = self.blobs()?;
        let mut removed = 0;
        for path in blobs
            .leftovers()
            .map_err(|e| Error::Storage(e.to_string()))?
        {
            blobs
                .remove_leftover(&path)
                .map_err(|e| Error::Storage(e.to_string()))?;
            removed += 1;
        }
        for name in blobs.list().map_err(|e| Error::Storage(e.to_string()))? {
            let known = self.engine.get_doc::<AttachmentDoc>(&name)?.is_some();
            if !known {
                blobs
                    .delete(&name)
                    .map_err(|e| Error::Storage(e.to_string()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// An attachment being uploaded; see the module documentation.
pub struct Upload {
    records: Records,
    tenant: TenantId,
    collection: CollectionId,
    record: RecordId,
    id: AttachmentId,
    name: String,
    content_type: String,
    limit: u64,
    key: SealingKey,
    /// The record's data subject scope, whose key seals the file and its name.
    subject: Option<String>,
    writer: blobstore::BlobWriter,
    /// Plaintext not sealed yet: at most one chunk, held back until more arrives or the end.
    pending: Vec<u8>,
    chunks: u32,
    size: u64,
    digest: crypto::Sha256,
}

impl Upload {
    /// The largest size this upload may reach.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Adds bytes; refuses (and the upload is then void) when they cross the limit.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        self.digest.update(bytes);
        while !bytes.is_empty() {
            if self.pending.len() == CHUNK {
                let full = std::mem::take(&mut self.pending);
                self.seal(&full, false)?;
                self.pending.reserve(CHUNK);
            }
            let take = (CHUNK - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        Ok(())
    }

    fn seal(&mut self, plain: &[u8], last: bool) -> Result<()> {
        let sealed = self
            .key
            .seal(&aad(self.tenant, self.id, self.chunks, last), plain);
        let storage = |e: blobstore::Error| Error::Storage(e.to_string());
        self.writer
            .write(&(sealed.len() as u32).to_be_bytes())
            .map_err(storage)?;
        self.writer.write(&sealed).map_err(storage)?;
        self.chunks += 1;
        Ok(())
    }

    /// Seals the last chunk, makes the file durable in both locations and commits the event
    /// that makes the attachment visible; on any failure nothing is left behind.
    pub async fn finish(mut self) -> Result<AttachmentView> {
        let last = std::mem::take(&mut self.pending);
        self.seal(&last, true)?;
        let Upload {
            records,
            tenant,
            collection,
            record,
            id,
            name,
            content_type,
            writer,
            chunks,
            size,
            digest,
            subject,
            ..
        } = self;
        tokio::task::spawn_blocking(move || writer.finish())
            .await
            .map_err(|e| Error::Storage(format!("the file writer stopped: {e}")))?
            .map_err(|e| Error::Storage(e.to_string()))?;
        let engine = &records.engine;
        let row = id.to_string();
        let doc = AttachmentDoc {
            id,
            tenant,
            collection,
            record,
            name: Blob(engine.seal_field_for(
                subject.as_deref(),
                name_field(tenant, &row),
                name.as_bytes(),
            )?),
            content_type,
            size,
            chunks,
            digest: Blob(
                engine
                    .blind_index(
                        Scope::Tenant(tenant),
                        "strongroom/attachment-digest/v1",
                        &digest.finish(),
                    )?
                    .to_vec(),
            ),
            created_at: engine.now().millis(),
        };
        // Under the record's lock, so that a concurrent deletion of the record can not slip
        // between the check and the commit and leave an attachment of nothing.
        let lock = records.version_lock(&record.to_string());
        let guard = lock.lock().await;
        let committed = match records.record_exists(tenant, collection, record) {
            Ok(()) => engine
                .commit(
                    Scope::Tenant(tenant),
                    &Event::AttachmentAdded { doc: doc.clone() },
                )
                .await
                .map_err(Error::from),
            Err(e) => Err(e),
        };
        drop(guard);
        if let Err(e) = committed {
            // Not committed (or the record went away meanwhile): the file must not linger.
            let _ = records.remove_blobs(&[id]);
            return Err(e);
        }
        records.view_attachment(&doc)
    }
}
