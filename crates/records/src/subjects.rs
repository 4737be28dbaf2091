//! Data-subject erasure (P15): a record whose collection names a `subject` field is sealed — its
//! body, its attachments' bytes and names — under its data subject's own key, a child of the
//! tenant's in the keyring. Erasing the subject destroys that key in both keyring copies (and,
//! through the backup service's shredding, at every destination), then purges the subject's
//! record rows and attachment files. (The tenant's export archives, sealed under their
//! passphrase, are the export service's to delete: `export::Service::expire_tenant`.) Every copy left anywhere — journal, old backups — is
//! ciphertext under a key that no longer exists; the tenant's other records are not touched.

use engine::Scope;
use engine::event::{Blob, Event};
use engine::model::AttachmentDoc;
use types::{AttachmentId, TenantId};

use crate::Records;
use crate::error::{Error, Result, invalid};

/// Longest subject id accepted, in characters.
pub const MAX_SUBJECT_CHARS: usize = 1024;

/// What an erasure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    /// Records about the subject that were purged.
    pub records: u64,
    /// Their attachments, whose files were deleted.
    pub attachments: u64,
    /// When the subject's key was destroyed (Unix ms).
    pub key_destroyed_at: i64,
}

impl Records {
    /// Erases everything about `subject` in `tenant`; see the module documentation. Repeating it
    /// finds nothing more to purge; a subject with no record ever is `NotFound`.
    pub async fn erase_subject(&self, tenant: TenantId, subject: &str) -> Result<Erased> {
        if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(invalid("/subject", "must be 1 to 1024 characters"));
        }
        let scope = self.engine.subject_scope(tenant, subject)?;
        let hash = self.subject_hash(tenant, subject)?;
        let records = self
            .engine
            .state()
            .records_indexed(tenant, &hash)
            .map_err(engine::Error::from)?;
        let mut files: Vec<AttachmentId> = Vec::new();
        for record in &records {
            files.extend(
                self.engine
                    .children::<AttachmentDoc>(record)?
                    .into_iter()
                    .map(|a| a.id),
            );
        }
        let Some(destroyed) = self.engine.destroy_subject(tenant, &scope)? else {
            return Err(Error::NotFound("data subject"));
        };
        self.engine
            .commit(
                Scope::Tenant(tenant),
                &Event::SubjectErased {
                    tenant,
                    subject: Blob(hash.to_vec()),
                    records: records.len() as u64,
                },
            )
            .await?;
        self.remove_blobs(&files)?;
        Ok(Erased {
            records: records.len() as u64,
            attachments: files.len() as u64,
            key_destroyed_at: destroyed.at,
        })
    }
}
