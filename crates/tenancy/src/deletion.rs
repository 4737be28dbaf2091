//! Tenant deletion (P15): a request with a grace period during which the tenant is suspended and
//! the request can be cancelled; then crypto-shredding (the tenant's keys destroyed in both
//! keyring copies), the purge of its rows and blob files, and a receipt signed with the audit
//! key. Backup destinations are shredded by the caller between [`Tenancy::destroy`] and
//! [`Tenancy::finish`] (this crate knows no destinations); their outcomes go into the receipt.
//!
//! Every step is safe to repeat after a crash: the keys go before the rows, so the journal never
//! records a deletion whose keys still exist. See `docs/design/data-rights.md`.

use std::time::{Duration, Instant};

use crypto::Secret;
use engine::event::{Blob, Event, Status};
use engine::model::{AttachmentDoc, DeletionDoc, DeletionStatus, ExportDoc, SYSTEM_REALM};
use engine::shred::Destroyed;
use engine::{Scope, TenantStatus};
use types::{RecordId, TenantId};

use crate::receipt::{self, DestroyedKeys, Place, Purged, Receipt};
use crate::{Error, Result, Tenancy};

/// Grace period when the request names none.
pub const DEFAULT_GRACE_DAYS: u32 = 7;
/// Longest grace period: the deletion must be done within the 30-day promise.
pub const MAX_GRACE_DAYS: u32 = 30;
/// Days from a request to its deadline (P15).
pub const DEADLINE_DAYS: i64 = 30;
/// Days before a deadline at which an open request is reported (`data_rights.deadline_near`).
pub const WARN_DAYS: i64 = 7;

/// Records purged by one journal entry by default (about 20 ms of the writer's time).
pub const PURGE_CHUNK: u32 = 2_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// First characters of a cancellation code.
const CANCEL_CODE_PREFIX: &str = "src_";
/// Page size when listing documents.
const PAGE: u32 = 500;

/// The grace period asked for, checked: 1 to 30 days, 7 when none is named.
pub fn check_grace(grace_days: Option<u32>) -> Result<u32> {
    let grace = grace_days.unwrap_or(DEFAULT_GRACE_DAYS);
    if (1..=MAX_GRACE_DAYS).contains(&grace) {
        Ok(grace)
    } else {
        Err(Error::InvalidGrace)
    }
}

/// A deletion request as an API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Deletion {
    pub tenant: TenantId,
    /// `pending`, `cancelled`, `destroyed` (keys gone, receipt not yet issued) or `completed`.
    pub status: &'static str,
    pub requested_at: i64,
    pub requested_by: String,
    /// The end of the grace period (Unix ms): the deletion is carried out from then on.
    pub execute_after: i64,
    /// The promise: 30 days after the request (Unix ms).
    pub deadline: i64,
    pub cancelled_at: Option<i64>,
    pub keys_destroyed_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// The signed receipt, exactly as signed (save it as it is; `strongroom receipt verify`).
    pub receipt: Option<String>,
}

impl From<DeletionDoc> for Deletion {
    fn from(d: DeletionDoc) -> Self {
        Deletion {
            tenant: d.tenant,
            status: status_name(d.status),
            requested_at: d.requested_at,
            requested_by: d.requested_by,
            execute_after: d.execute_after,
            deadline: d.deadline,
            cancelled_at: d.cancelled_at,
            keys_destroyed_at: d.keys_destroyed_at,
            completed_at: d.completed_at,
            receipt: d.receipt,
        }
    }
}

fn status_name(status: DeletionStatus) -> &'static str {
    match status {
        DeletionStatus::Pending => "pending",
        DeletionStatus::Cancelled => "cancelled",
        DeletionStatus::Destroyed => "destroyed",
        DeletionStatus::Completed => "completed",
    }
}

/// What [`Tenancy::destroy`] did: the input of the receipt.
#[derive(Debug, Clone)]
pub struct Destruction {
    pub request: DeletionDoc,
    pub keys: Destroyed,
    pub purged: Purged,
    pub grace_skipped: bool,
    pub took: Took,
}

/// How long each step of [`Tenancy::destroy`] took (reported by `tenants delete-now`, measured
/// by `scripts/bench-deletion`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Took {
    /// The keys out of both keyring copies (written and fsynced).
    pub keys: Duration,
    /// The rows purged: every `TenantRecordsPurged` and `TenantDeleted` committed and applied.
    pub purge: Duration,
    /// The longest of those commits: how long other writes may have waited behind the purge.
    pub longest_entry: Duration,
    /// The blob files deleted in both locations.
    pub files: Duration,
}

impl Tenancy {
    /// The deletion request of a tenant, if one was ever made (the latest).
    pub fn deletion(&self, tenant: TenantId) -> Result<Option<DeletionDoc>> {
        Ok(self.engine.get_doc::<DeletionDoc>(&tenant.to_string())?)
    }

    /// Requests the tenant's deletion after `grace_days` (1 to 30; default 7). The tenant is
    /// suspended from now on. `requested_by` says who asked, for the trail and the receipt.
    ///
    /// Returns the request and its **cancellation code**, shown once and kept only as a hash:
    /// the tenant's members can not sign in while it is suspended, so the code is how the
    /// requester cancels ([`Tenancy::cancel_deletion_with_code`]).
    pub async fn request_deletion(
        &self,
        tenant: TenantId,
        requested_by: &str,
        grace_days: Option<u32>,
    ) -> Result<(Deletion, Secret<String>)> {
        let grace = check_grace(grace_days)?;
        let code = crypto::generate_token(CANCEL_CODE_PREFIX);
        let event = self.request_event(
            tenant,
            requested_by,
            i64::from(grace) * DAY_MS,
            Some(crypto::token_hash(code.expose()).to_vec()),
        )?;
        self.engine.commit(Scope::System, &event).await?;
        Ok((self.deletion_view(tenant)?, code))
    }

    fn request_event(
        &self,
        tenant: TenantId,
        by: &str,
        grace_ms: i64,
        cancel_hash: Option<Vec<u8>>,
    ) -> Result<Event> {
        let row = self
            .engine
            .state()
            .find_tenant(tenant)
            .map_err(engine::Error::from)?
            .ok_or(Error::NotFound(tenant))?;
        if let Some(d) = self.deletion(tenant)?
            && matches!(
                d.status,
                DeletionStatus::Pending | DeletionStatus::Destroyed
            )
        {
            return Err(Error::DeletionPending(tenant));
        }
        let now = self.engine.now().millis();
        Ok(Event::TenantDeletionRequested {
            doc: DeletionDoc {
                tenant,
                status: DeletionStatus::Pending,
                requested_at: now,
                requested_by: by.chars().take(200).collect(),
                execute_after: now + grace_ms,
                deadline: now + DEADLINE_DAYS * DAY_MS,
                previous_status: match row.status {
                    TenantStatus::Active => Status::Active,
                    TenantStatus::Suspended => Status::Suspended,
                },
                cancel_hash: cancel_hash.map(Blob),
                cancelled_at: None,
                keys_destroyed_at: None,
                completed_at: None,
                receipt: None,
            },
        })
    }

    /// Cancels a pending deletion with the code its request returned (the requester, whose
    /// sessions the suspension refuses).
    pub async fn cancel_deletion_with_code(
        &self,
        tenant: TenantId,
        code: &str,
    ) -> Result<Deletion> {
        let request = self.pending(tenant)?;
        let given = crypto::token_hash(code);
        let matches = request
            .cancel_hash
            .as_ref()
            .is_some_and(|h| crypto::ct_eq(&h.0, &given));
        if !matches {
            return Err(Error::WrongCancelCode);
        }
        self.cancel_pending(request).await
    }

    fn pending(&self, tenant: TenantId) -> Result<DeletionDoc> {
        self.deletion(tenant)?
            .filter(|d| d.status == DeletionStatus::Pending)
            .ok_or(Error::NoPendingDeletion(tenant))
    }

    /// Cancels a pending deletion before its grace period ends (a system administrator); the
    /// tenant gets back the status it had before the request.
    pub async fn cancel_deletion(&self, tenant: TenantId) -> Result<Deletion> {
        let request = self.pending(tenant)?;
        self.cancel_pending(request).await
    }

    async fn cancel_pending(&self, request: DeletionDoc) -> Result<Deletion> {
        let tenant = request.tenant;
        if self.engine.now().millis() >= request.execute_after {
            return Err(Error::DeletionStarted(tenant));
        }
        self.engine
            .commit(Scope::System, &Event::TenantDeletionCancelled { tenant })
            .await?;
        self.deletion_view(tenant)
    }

    /// The request as an API shows it.
    pub fn deletion_view(&self, tenant: TenantId) -> Result<Deletion> {
        self.deletion(tenant)?
            .map(Deletion::from)
            .ok_or(Error::NoPendingDeletion(tenant))
    }

    /// Requests that are due: pending past their grace period, or begun and not finished (keys
    /// destroyed, no receipt yet: a stop in between).
    pub fn deletions_due(&self) -> Result<Vec<DeletionDoc>> {
        let now = self.engine.now().millis();
        Ok(self
            .all_deletions()?
            .into_iter()
            .filter(|d| match d.status {
                DeletionStatus::Pending => now >= d.execute_after,
                DeletionStatus::Destroyed => true,
                DeletionStatus::Cancelled | DeletionStatus::Completed => false,
            })
            .collect())
    }

    /// Open requests (pending, or begun and not finished) whose deadline is at most `within_ms`
    /// away (or past): what the deadline alert reports.
    pub fn deadlines_near(&self, within_ms: i64) -> Result<Vec<DeletionDoc>> {
        let now = self.engine.now().millis();
        Ok(self
            .all_deletions()?
            .into_iter()
            .filter(|d| {
                matches!(
                    d.status,
                    DeletionStatus::Pending | DeletionStatus::Destroyed
                )
            })
            .filter(|d| d.deadline - now <= within_ms)
            .collect())
    }

    /// Every deletion request ever made (the latest per tenant).
    pub fn all_deletions(&self) -> Result<Vec<DeletionDoc>> {
        self.docs_in::<DeletionDoc>(SYSTEM_REALM)
    }

    /// Carries out the deletion: destroys the tenant's keys in both keyring copies, commits
    /// `TenantDeleted` (which purges its rows), forgets its audit index rows and deletes its
    /// blob files. Refused before the grace period ends unless `skip_grace` (an operator's
    /// decision, said in the receipt). With `skip_grace` and no pending request (a tenant that
    /// came back with an old backup, say), a request by `operator` is made first.
    pub async fn destroy(&self, tenant: TenantId, skip_grace: bool) -> Result<Destruction> {
        let mut made_now = false;
        let request = match self.deletion(tenant)? {
            Some(d)
                if matches!(
                    d.status,
                    DeletionStatus::Pending | DeletionStatus::Destroyed
                ) =>
            {
                d
            }
            Some(d) if d.status == DeletionStatus::Completed && !self.has_rows(tenant)? => {
                return Err(Error::AlreadyDeleted(tenant));
            }
            _ if skip_grace => {
                let event = self.request_event(tenant, "operator", 0, None)?;
                self.engine.commit(Scope::System, &event).await?;
                made_now = true;
                self.deletion(tenant)?
                    .ok_or(Error::NoPendingDeletion(tenant))?
            }
            _ => return Err(Error::NoPendingDeletion(tenant)),
        };
        let now = self.engine.now().millis();
        let early = now < request.execute_after;
        if early && !skip_grace {
            return Err(Error::GraceNotOver {
                tenant,
                execute_after: request.execute_after,
            });
        }
        let attachments = self.attachment_files(tenant)?;
        // Export archives are sealed under their passphrase, not the tenant's key: shredding
        // does not reach them, so they are deleted.
        let archives: Vec<std::path::PathBuf> = self
            .docs_of::<ExportDoc>(tenant)?
            .iter()
            .map(|e| self.engine.paths().export_file(e.id))
            .collect();
        let state_rows = self
            .engine
            .state()
            .tenant_rows(tenant)
            .map_err(engine::Error::from)?;
        let started = Instant::now();
        let keys = self.engine.destroy_scope(Scope::Tenant(tenant))?;
        let keys_took = started.elapsed();
        // The records in chunks, each one short apply on the journal's writer, so that a large
        // tenant's purge never holds up everyone else's writes for long; then the rest.
        let mut longest = Duration::ZERO;
        loop {
            let ids = self
                .engine
                .state()
                .record_ids(tenant, self.purge_chunk.max(1))
                .map_err(engine::Error::from)?;
            if ids.is_empty() {
                break;
            }
            let records = ids
                .iter()
                .map(|id| id.parse::<RecordId>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| engine::Error::Envelope(format!("a stored record id: {e}")))?;
            let chunk = Instant::now();
            self.engine
                .commit(
                    Scope::System,
                    &Event::TenantRecordsPurged { tenant, records },
                )
                .await?;
            longest = longest.max(chunk.elapsed());
        }
        let last = Instant::now();
        self.engine
            .commit(
                Scope::System,
                &Event::TenantDeleted {
                    tenant,
                    keys_destroyed_at: keys.at,
                },
            )
            .await?;
        longest = longest.max(last.elapsed());
        self.engine.forget_audit_tenant(tenant)?;
        let purge_took = started.elapsed() - keys_took;
        let blob_files = self.delete_files(&attachments)?;
        let mut export_archives = 0;
        for path in &archives {
            match std::fs::remove_file(path) {
                Ok(()) => export_archives += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Files(format!("{}: {e}", path.display()))),
            }
        }
        let took = Took {
            keys: keys_took,
            purge: purge_took,
            longest_entry: longest,
            files: started.elapsed() - keys_took - purge_took,
        };
        Ok(Destruction {
            request,
            keys,
            purged: Purged {
                state_rows,
                blob_files,
                export_archives,
            },
            grace_skipped: early || made_now,
            took,
        })
    }

    fn has_rows(&self, tenant: TenantId) -> Result<bool> {
        Ok(self
            .engine
            .state()
            .tenant_rows(tenant)
            .map_err(engine::Error::from)?
            > 0)
    }

    fn attachment_files(&self, tenant: TenantId) -> Result<Vec<String>> {
        Ok(self
            .docs_of::<AttachmentDoc>(tenant)?
            .iter()
            .map(|a| a.id.to_string())
            .collect())
    }

    /// Every document of kind `T` in the tenant's realm.
    fn docs_of<T: engine::model::Document>(&self, tenant: TenantId) -> Result<Vec<T>> {
        self.docs_in(&tenant.to_string())
    }

    /// Every document of kind `T` in `realm`, page by page.
    fn docs_in<T: engine::model::Document>(&self, realm: &str) -> Result<Vec<T>> {
        let mut out: Vec<T> = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.engine.list_docs::<T>(realm, &after, PAGE)?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            after = last.id();
            let full = page.len() == PAGE as usize;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// Deletes blob files in both locations; returns how many names were deleted.
    fn delete_files(&self, names: &[String]) -> Result<u64> {
        if names.is_empty() {
            return Ok(0);
        }
        let blobs = blobstore::BlobStore::open(self.engine.paths().blob_dirs())
            .map_err(|e| Error::Files(e.to_string()))?;
        for name in names {
            blobs
                .delete(name)
                .map_err(|e| Error::Files(e.to_string()))?;
        }
        Ok(names.len() as u64)
    }

    /// Signs and stores the receipt of a destruction; `destinations` are the backup
    /// destinations' outcomes (a pending one names why).
    pub async fn finish(
        &self,
        destruction: &Destruction,
        destinations: Vec<Place>,
    ) -> Result<Receipt> {
        let request = &destruction.request;
        let keys = &destruction.keys;
        let mut places: Vec<Place> = keys
            .locations
            .iter()
            .map(|dir| Place {
                place: "keyring copy".into(),
                location: dir.display().to_string(),
                at: Some(keys.at),
                copies_removed: None,
                pending: None,
            })
            .collect();
        places.extend(destinations);
        let now = self.engine.now().millis();
        let mut id = [0u8; 16];
        crypto::random_bytes(&mut id);
        let mut document = receipt::Document {
            format: receipt::FORMAT.into(),
            version: receipt::VERSION,
            receipt: format!("dr_{}", crypto::hex(id)),
            tenant: request.tenant,
            requested_at: request.requested_at,
            requested_by: request.requested_by.clone(),
            execute_after: request.execute_after,
            deadline: request.deadline,
            grace_skipped: destruction.grace_skipped,
            keys_destroyed_at: keys.at,
            destroyed: vec![DestroyedKeys {
                scope: keys.scope.clone(),
                data_key_versions: keys.versions.clone(),
                index_key: true,
            }],
            places,
            purged: destruction.purged,
            remains: receipt::REMAINS.into(),
            not_covered: receipt::NOT_COVERED.into(),
            issued_at: now,
            public_key: String::new(),
        };
        document.public_key = crypto::hex(self.engine.audit_public_key());
        let (_, signature) = self.engine.sign_deletion_receipt(&document.signed_bytes());
        let signed = Receipt {
            document,
            signature: crypto::hex(signature),
        };
        self.engine
            .commit(
                Scope::System,
                &Event::TenantDeletionReceipt {
                    tenant: request.tenant,
                    receipt: signed.encode(),
                },
            )
            .await?;
        Ok(signed)
    }
}
