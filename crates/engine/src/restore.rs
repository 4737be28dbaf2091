//! Point-in-time restore of one tenant on the live system (P11, `docs/design/backup.md`, "One
//! tenant, on the live system"): the tenant's data as it was at a moment is computed from the
//! live journal (its prefix up to the moment's cut, replayed into a scratch state beside the
//! live one), then written as one new journal entry ([`Event::TenantDataRestored`]) under the
//! tenant's scope, applied and audited like any change. The present is not destroyed: the
//! entries before the restore stay, so a restore is undone by restoring to a moment before it.
//!
//! Only data is restored (collections, attachments' metadata, idempotency entries, records and
//! their blind index); identity keeps its present state, so a restore never brings back a
//! revoked token or session or a deleted account. This module must never write a row of
//! another tenant, nor leave the scratch state behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use journal::MAX_PAYLOAD;
use state_sqlite::StateStore;
use types::TenantId;

use crate::apply::Applier;
use crate::event::{Blob, DataCounts, DataDoc, DataRecord, Event, TenantData};
use crate::model::TENANT_DATA_KINDS;
use crate::{Committed, Engine, Error, Result, Scope};

/// Entries applied per scratch-state transaction.
const REPLAY_CHUNK: usize = 512;

/// What a tenant restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRestore {
    pub tenant: TenantId,
    /// The moment asked for, Unix milliseconds.
    pub at: i64,
    /// The last journal entry of the moment's prefix: the data is the state after it.
    pub cut: u64,
    /// The rows the tenant's data now holds.
    pub counts: DataCounts,
    /// The restore's own journal entry.
    pub entry: Committed,
}

impl Engine {
    /// Restores `tenant`'s data to what it was at `at_ms` (Unix ms): the state after the
    /// longest prefix of the journal that ends before the first entry sealed after `at_ms`.
    /// Refuses an unknown tenant, a moment in the future, a moment before the tenant existed,
    /// and data too large for one journal entry ([`journal::MAX_PAYLOAD`]); nothing is written
    /// then. The replay runs on the blocking pool; the commit and its audit event belong to the
    /// calling task (its request context).
    pub async fn restore_tenant_data(&self, tenant: TenantId, at_ms: i64) -> Result<TenantRestore> {
        let engine = self.clone();
        let (event, found) =
            tokio::task::spawn_blocking(move || engine.restore_event(tenant, at_ms))
                .await
                .map_err(|e| Error::RestoreStopped(e.to_string()))??;
        let entry = self
            .commit(Scope::Tenant(tenant), &event)
            .await
            .map_err(|e| too_large(tenant, e))?;
        Ok(found.committed(entry))
    }

    /// [`Engine::restore_tenant_data`] for callers outside an async runtime (the CLI).
    pub fn restore_tenant_data_blocking(
        &self,
        tenant: TenantId,
        at_ms: i64,
    ) -> Result<TenantRestore> {
        let (event, found) = self.restore_event(tenant, at_ms)?;
        let entry = self
            .commit_blocking(Scope::Tenant(tenant), &event)
            .map_err(|e| too_large(tenant, e))?;
        Ok(found.committed(entry))
    }

    /// The restore's event and what it found: checks the request, replays the journal's prefix
    /// into a scratch state and reads the tenant's data from it.
    fn restore_event(&self, tenant: TenantId, at_ms: i64) -> Result<(Event, Found)> {
        let now = self.now().millis();
        if at_ms > now {
            return Err(Error::RestoreInFuture { at: at_ms, now });
        }
        if self.state().find_tenant(tenant)?.is_none() {
            return Err(Error::UnknownTenant(tenant));
        }
        let start = self.journal().start();
        if start.seq > 0 {
            return Err(Error::JournalTrimmed {
                first: start.seq + 1,
            });
        }
        // One restore at a time: they share the scratch file.
        let _one = self.inner.restoring.lock().map_err(|_| Error::Poisoned)?;
        let scratch = ScratchFile::create(&self.inner.paths.state())?;
        let state = Arc::new(StateStore::open(&scratch.0)?);
        let applier = Applier {
            keys: Arc::clone(&self.inner.keys),
            state: Arc::clone(&state),
            epoch: Arc::default(),
        };
        let cut = replay_until(self.journal(), &applier, at_ms)?;
        if state.find_tenant(tenant)?.is_none() {
            return Err(Error::TenantAbsentAt {
                tenant,
                at: at_ms,
                cut,
            });
        }
        // Base64 makes every carried byte four thirds of one: a lower bound of the entry.
        let bytes = state.tenant_data_bytes(tenant, TENANT_DATA_KINDS)?;
        let at_least = (bytes.saturating_mul(4) / 3) as usize;
        if at_least > MAX_PAYLOAD {
            return Err(Error::RestoreTooLarge {
                tenant,
                size: at_least,
                limit: MAX_PAYLOAD,
            });
        }
        let mut rows = state.tenant_data(tenant, TENANT_DATA_KINDS)?;
        self.drop_erased(&mut rows)?;
        let data = data_of(rows);
        let found = Found {
            tenant,
            at: at_ms,
            cut,
            counts: data.counts(),
        };
        let event = Event::TenantDataRestored {
            tenant,
            cut,
            at: at_ms,
            data,
        };
        Ok((event, found))
    }
}

impl Engine {
    /// Drops from restored rows the records about data subjects erased since (their keys are
    /// destroyed) and those records' attachments: a restore must not bring back what an erasure
    /// took away, not even as rows nothing opens.
    fn drop_erased(&self, rows: &mut state_sqlite::TenantData) -> Result<()> {
        let destroyed: std::collections::HashSet<String> = self
            .destroyed_scopes()?
            .into_iter()
            .map(|(scope, _)| scope)
            .collect();
        let mut gone = std::collections::HashSet::new();
        rows.records
            .retain(|r| match crate::fields::subject_of(&r.row.body) {
                Some((subject, _)) if destroyed.contains(subject) => {
                    gone.insert(r.row.id.clone());
                    false
                }
                _ => true,
            });
        rows.docs.retain(|d| {
            d.kind != <crate::model::AttachmentDoc as crate::model::Document>::KIND
                || !d.parent.as_ref().is_some_and(|p| gone.contains(p))
        });
        Ok(())
    }
}

/// A restore's findings before its entry is committed.
struct Found {
    tenant: TenantId,
    at: i64,
    cut: u64,
    counts: DataCounts,
}

impl Found {
    fn committed(self, entry: Committed) -> TenantRestore {
        TenantRestore {
            tenant: self.tenant,
            at: self.at,
            cut: self.cut,
            counts: self.counts,
            entry,
        }
    }
}

/// The journal's refusal of an entry above its limit, said for a restore.
fn too_large(tenant: TenantId, e: Error) -> Error {
    match e {
        Error::Journal(journal::Error::TooLarge { size }) => Error::RestoreTooLarge {
            tenant,
            size,
            limit: MAX_PAYLOAD,
        },
        e => e,
    }
}

/// Applies the journal's entries from seq 1 up to the first one sealed after `at_ms` (not
/// included) and returns the last one applied (0: none).
fn replay_until(journal: &journal::Journal, applier: &Applier, at_ms: i64) -> Result<u64> {
    let mut chunk = Vec::with_capacity(REPLAY_CHUNK);
    let mut cut = 0;
    for entry in journal.read_from(1)? {
        let entry = entry?;
        if crate::archive::entry_at(&entry.payload)? > at_ms {
            break;
        }
        cut = entry.seq;
        chunk.push(entry);
        if chunk.len() == REPLAY_CHUNK {
            applier.apply(&chunk)?;
            chunk.clear();
        }
    }
    applier.apply(&chunk)?;
    Ok(cut)
}

/// The file of a scratch state beside the live one, removed (with its WAL files) when dropped;
/// declared before the store that opens it, so that the store closes first.
struct ScratchFile(PathBuf);

impl ScratchFile {
    fn create(live: &Path) -> Result<ScratchFile> {
        let path = PathBuf::from(format!("{}.tenant-restore", live.display()));
        remove(&path)?;
        Ok(ScratchFile(path))
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if let Err(e) = remove(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "the scratch state of a tenant restore was left behind");
        }
    }
}

fn remove(path: &Path) -> Result<()> {
    state_sqlite::remove(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// The tenant's data rows as the event carries them.
fn data_of(rows: state_sqlite::TenantData) -> TenantData {
    TenantData {
        docs: rows
            .docs
            .into_iter()
            .map(|d| DataDoc {
                kind: d.kind.to_owned(),
                id: d.id,
                lookup: d.lookup.map(Blob),
                parent: d.parent,
                body: Blob(d.body),
            })
            .collect(),
        records: rows
            .records
            .into_iter()
            .map(|r| DataRecord {
                id: r.row.id,
                collection: r.row.collection,
                owner: r.row.owner,
                created_at: r.row.created_at,
                updated_at: r.row.updated_at,
                version: r.row.version,
                body: Blob(r.row.body),
                index: r.index.into_iter().map(Blob).collect(),
            })
            .collect(),
    }
}

/// The rows an event's data stands for, in `tenant`; documents of kinds that are not data are
/// left out.
pub(crate) fn rows_of(tenant: TenantId, data: &TenantData) -> state_sqlite::TenantData {
    let realm = tenant.to_string();
    state_sqlite::TenantData {
        docs: data
            .docs
            .iter()
            .filter_map(|d| {
                let kind = TENANT_DATA_KINDS.iter().find(|k| **k == d.kind)?;
                Some(state_sqlite::Doc {
                    kind,
                    id: d.id.clone(),
                    realm: realm.clone(),
                    lookup: d.lookup.as_ref().map(|b| b.0.clone()),
                    parent: d.parent.clone(),
                    body: d.body.0.clone(),
                })
            })
            .collect(),
        records: data
            .records
            .iter()
            .map(|r| state_sqlite::DataRecord {
                row: state_sqlite::RecordRow {
                    id: r.id.clone(),
                    tenant: realm.clone(),
                    collection: r.collection.clone(),
                    owner: r.owner.clone(),
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                    version: r.version,
                    body: r.body.0.clone(),
                },
                index: r.index.iter().map(|b| b.0.clone()).collect(),
            })
            .collect(),
    }
}
