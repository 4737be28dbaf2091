//! Applying committed journal entries to the derived state. Runs on the journal's writer thread
//! (through the commit hook) for live writes, and in bulk at start-up and in `rebuild-state`.
//!
//! Apply is total: an entry that refers to something absent is a no-op, never an error that
//! would make the journal impossible to replay. Only undecryptable or malformed entries fail.
//! Apply is deterministic: every timestamp comes from the entry header, never from a clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keyring::Keyring;
use state_sqlite::{Applied, RecordRow, StateStore, TenantRow, TenantStatus, WriteTx};

use crate::envelope::{self, Header};
use crate::event::{Body, Event, Status, UserChange};
use crate::model::{
    DeletionDoc, DeletionStatus, Document, ExportDoc, ExportStatus, RecoveryCode, SessionDoc,
    TokenDoc, UserDoc, from_doc, to_doc,
};
use crate::{Error, Result};

/// What the applier needs: the keys to open bodies and the state to write.
#[derive(Clone)]
pub struct Applier {
    pub keys: Arc<RwLock<Keyring>>,
    pub state: Arc<StateStore>,
    /// Moves after every state transaction that applied an event for which
    /// [`Event::changes_definitions`] holds (see [`crate::Engine::epoch`]).
    pub epoch: Arc<AtomicU64>,
}

impl Applier {
    /// Opens an entry payload into its header and events; `None` when the entry is sealed under
    /// a destroyed scope (a deleted tenant or erased subject: it is shredded, and skipped).
    pub fn decode(&self, payload: &[u8]) -> Result<Option<(Header, Vec<Event>)>> {
        Ok(self.decode_body(payload)?.map(|(h, b)| (h, b.events)))
    }

    /// Opens an entry payload into its header and whole body; `None` when its scope's keys
    /// were destroyed.
    pub fn decode_body(&self, payload: &[u8]) -> Result<Option<(Header, Body)>> {
        let (header, body) = envelope::decode(payload)?;
        let key = {
            let keys = self.keys.read().map_err(|_| Error::Poisoned)?;
            match keys.key(&header.scope.key_name(), header.key_version) {
                Err(keyring::Error::Destroyed { .. }) => return Ok(None),
                other => other?,
            }
        };
        let plain = crate::seal::open(&key, &header.aad(), body)?;
        let body: Body = serde_json::from_slice(&plain).map_err(|e| {
            Error::Envelope(format!(
                "entry {}: body is not an event list: {e}",
                header.entry
            ))
        })?;
        Ok(Some((header, body)))
    }

    /// Applies a run of consecutive entries in one state transaction.
    pub fn apply(&self, entries: &[journal::Entry]) -> Result<()> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let decoded = entries
            .iter()
            .map(|e| self.decode(&e.payload))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        let applied = self.state.applied()?;
        let first = entries[0].seq;
        if first != applied.seq + 1 {
            return Err(Error::Gap {
                state_at: applied.seq,
                next: first,
            });
        }
        self.state.write(|tx| {
            for (header, events) in &decoded {
                for event in events {
                    apply_event(tx, header, event)?;
                }
            }
            tx.set_applied(Applied {
                seq: last.seq,
                hash: last.hash,
            })
        })?;
        // After the commit, never before: a reader that saw the old epoch and then read the new
        // state caches it under the old epoch, which is already stale.
        if decoded
            .iter()
            .any(|(_, events)| events.iter().any(Event::changes_definitions))
        {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

fn json_err(e: serde_json::Error) -> state_sqlite::Error {
    state_sqlite::Error::Corrupt {
        path: Default::default(),
        table: "docs",
        reason: e.to_string(),
    }
}

fn put<T: Document>(tx: &mut WriteTx<'_>, value: &T) -> state_sqlite::Result<()> {
    tx.put_doc(&to_doc(value).map_err(json_err)?)
}

fn get<T: Document>(tx: &WriteTx<'_>, id: &str) -> state_sqlite::Result<Option<T>> {
    tx.get_doc(T::KIND, id)?
        .map(|d| from_doc(&d).map_err(json_err))
        .transpose()
}

/// Reads a document, lets `f` change it, and writes it back; absent documents are skipped.
fn update<T: Document>(
    tx: &mut WriteTx<'_>,
    id: &str,
    f: impl FnOnce(&mut T),
) -> state_sqlite::Result<()> {
    if let Some(mut value) = get::<T>(tx, id)? {
        f(&mut value);
        put(tx, &value)?;
    }
    Ok(())
}

fn apply_event(tx: &mut WriteTx<'_>, header: &Header, event: &Event) -> state_sqlite::Result<()> {
    let at = header.at.millis();
    match event {
        Event::TenantCreated { tenant, name } => {
            if tx.find_tenant(*tenant)?.is_none() {
                tx.create_tenant(&TenantRow {
                    id: *tenant,
                    name_sealed: name.0.clone(),
                    status: TenantStatus::Active,
                    created_at: header.at,
                    updated_at: header.at,
                })?;
            }
        }
        Event::TenantStatusChanged { tenant, status } => {
            tx.update_tenant_status(*tenant, tenant_status(*status), header.at)?;
        }
        Event::TokenIssued { doc } => put(tx, doc)?,
        Event::TokenUsed { token } => {
            update::<TokenDoc>(tx, &token.to_string(), |t| t.last_used_at = Some(at))?
        }
        Event::TokenRevoked { token } => update::<TokenDoc>(tx, &token.to_string(), |t| {
            t.revoked_at = t.revoked_at.or(Some(at))
        })?,
        Event::KeyRotated { .. } | Event::LoginFailedUnknownAccount {} => {}
        Event::UserCreated { doc } => put(tx, doc)?,
        Event::UserChanged { user, change } => {
            update::<UserDoc>(tx, &user.to_string(), |u| apply_user_change(u, change, at))?
        }
        Event::UserDeleted { user } => delete_user(tx, &user.to_string())?,
        Event::SessionCreated { doc } => put(tx, doc)?,
        Event::SessionTouched { session } => update::<SessionDoc>(tx, &session.to_string(), |s| {
            s.last_seen_at = s.last_seen_at.max(at)
        })?,
        Event::SessionRevoked { session } => update::<SessionDoc>(tx, &session.to_string(), |s| {
            s.revoked_at = s.revoked_at.or(Some(at))
        })?,
        Event::UserSessionsRevoked { user, except } => {
            for doc in tx.children(SessionDoc::KIND, &user.to_string())? {
                let mut s: SessionDoc = from_doc(&doc).map_err(json_err)?;
                if Some(s.id) != *except && s.revoked_at.is_none() {
                    s.revoked_at = Some(at);
                    put(tx, &s)?;
                }
            }
        }
        Event::InvitationCreated { doc } => put(tx, doc)?,
        Event::InvitationAccepted { invitation } => {
            update::<crate::model::InvitationDoc>(tx, &invitation.to_string(), |i| {
                i.accepted_at = i.accepted_at.or(Some(at))
            })?
        }
        Event::RoleSaved { doc } => put(tx, doc)?,
        Event::RoleDeleted { role } => {
            tx.delete_doc(crate::model::RoleDoc::KIND, &role.to_string())?;
        }
        Event::SettingsChanged { doc } => put(tx, doc)?,
        Event::CollectionSaved { doc } => put(tx, doc)?,
        Event::CollectionDeleted { collection } => {
            tx.delete_doc(crate::model::CollectionDoc::KIND, &collection.to_string())?;
        }
        Event::RecordCreated {
            record,
            tenant,
            collection,
            owner,
            body,
            index,
        } => {
            let row = RecordRow {
                id: record.to_string(),
                tenant: tenant.to_string(),
                collection: collection.to_string(),
                owner: owner.to_string(),
                created_at: at,
                updated_at: at,
                version: 1,
                body: body.0.clone(),
            };
            if tx.get_record(&row.id)?.is_none() {
                tx.put_record(&row, &index.iter().map(|b| b.0.clone()).collect::<Vec<_>>())?;
            }
        }
        Event::RecordUpdated {
            record,
            version,
            body,
            index,
        } => {
            if let Some(mut row) = tx.get_record(&record.to_string())? {
                row.updated_at = at;
                row.version = *version as i64;
                row.body = body.0.clone();
                tx.put_record(&row, &index.iter().map(|b| b.0.clone()).collect::<Vec<_>>())?;
            }
        }
        Event::RecordDeleted { record } => {
            let id = record.to_string();
            for doc in tx.children(crate::model::AttachmentDoc::KIND, &id)? {
                tx.delete_doc(crate::model::AttachmentDoc::KIND, &doc.id)?;
            }
            tx.delete_record(&id)?;
        }
        Event::IdempotencySaved { doc } => put(tx, doc)?,
        Event::AttachmentAdded { doc } => put(tx, doc)?,
        Event::AttachmentDeleted { attachment } => {
            tx.delete_doc(crate::model::AttachmentDoc::KIND, &attachment.to_string())?;
        }
        Event::TenantDeletionRequested { doc } => {
            put(tx, doc)?;
            tx.update_tenant_status(doc.tenant, TenantStatus::Suspended, header.at)?;
        }
        Event::TenantDeletionCancelled { tenant } => {
            let mut previous = None;
            update::<DeletionDoc>(tx, &tenant.to_string(), |d| {
                if d.status == DeletionStatus::Pending {
                    d.status = DeletionStatus::Cancelled;
                    d.cancelled_at = Some(at);
                    previous = Some(d.previous_status);
                }
            })?;
            if let Some(status) = previous {
                tx.update_tenant_status(*tenant, tenant_status(status), header.at)?;
            }
        }
        Event::TenantRecordsPurged { tenant, records } => {
            let ids: Vec<String> = records.iter().map(ToString::to_string).collect();
            tx.purge_records(*tenant, &ids, &[crate::model::AttachmentDoc::KIND])?;
        }
        Event::TenantDeleted {
            tenant,
            keys_destroyed_at,
        } => {
            tx.purge_tenant(*tenant)?;
            update::<DeletionDoc>(tx, &tenant.to_string(), |d| {
                d.status = DeletionStatus::Destroyed;
                d.keys_destroyed_at = Some(*keys_destroyed_at);
            })?;
        }
        Event::TenantDeletionReceipt { tenant, receipt } => {
            update::<DeletionDoc>(tx, &tenant.to_string(), |d| {
                d.status = DeletionStatus::Completed;
                d.completed_at = Some(at);
                d.receipt = Some(receipt.clone());
            })?;
        }
        Event::SubjectErased {
            tenant, subject, ..
        } => {
            // Only under the tenant's own key, like a restore.
            if header.scope == crate::Scope::Tenant(*tenant) {
                tx.purge_indexed(*tenant, &subject.0, &[crate::model::AttachmentDoc::KIND])?;
            }
        }
        Event::TenantDataRestored { tenant, data, .. } => {
            // Only under the tenant's own key: no other scope may rewrite a tenant's data.
            if header.scope == crate::Scope::Tenant(*tenant) {
                tx.replace_tenant_data(
                    *tenant,
                    crate::model::TENANT_DATA_KINDS,
                    &crate::restore::rows_of(*tenant, data),
                )?;
            }
        }
        Event::ExportRequested { doc } => put(tx, doc)?,
        Event::ExportProgressed {
            export,
            done,
            total,
        } => update::<ExportDoc>(tx, &export.to_string(), |e| {
            e.status = ExportStatus::Running;
            e.started_at = e.started_at.or(Some(at));
            (e.done, e.total) = (*done, *total);
        })?,
        Event::ExportCompleted {
            export,
            size,
            digest,
        } => update::<ExportDoc>(tx, &export.to_string(), |e| {
            e.status = ExportStatus::Completed;
            e.done = e.total;
            e.completed_at = Some(at);
            (e.size, e.digest) = (Some(*size), Some(digest.clone()));
        })?,
        Event::ExportFailed { export, reason } => {
            update::<ExportDoc>(tx, &export.to_string(), |e| {
                e.status = ExportStatus::Failed;
                e.error = Some(reason.clone());
            })?
        }
        Event::ExportDownloaded { export } => update::<ExportDoc>(tx, &export.to_string(), |e| {
            e.downloads = e.downloads.saturating_add(1)
        })?,
        Event::ExportExpired { export } => update::<ExportDoc>(tx, &export.to_string(), |e| {
            e.status = ExportStatus::Expired;
            e.expired_at = Some(at);
        })?,
    }
    Ok(())
}

fn tenant_status(status: Status) -> TenantStatus {
    match status {
        Status::Active => TenantStatus::Active,
        Status::Suspended => TenantStatus::Suspended,
    }
}

fn apply_user_change(u: &mut UserDoc, change: &UserChange, at: i64) {
    u.updated_at = at;
    match change {
        UserChange::Role { role } => u.role = role.clone(),
        UserChange::Status { status } => u.status = *status,
        UserChange::Password { hash } => {
            u.password = Some(hash.clone());
            u.password_changed_at = Some(at);
            // A password reset lifts a lock.
            u.failed_logins = 0;
            u.locked_at = None;
        }
        UserChange::TotpPending { secret } => {
            u.totp = Some(secret.clone());
            u.totp_confirmed = false;
            u.totp_last_step = None;
        }
        UserChange::TotpConfirmed { step } => {
            u.totp_confirmed = u.totp.is_some();
            u.totp_last_step = Some(*step);
        }
        UserChange::TotpRemoved => {
            u.totp = None;
            u.totp_confirmed = false;
            u.totp_last_step = None;
            u.recovery.clear();
        }
        UserChange::RecoveryCodes { hashes } => {
            u.recovery = hashes
                .iter()
                .map(|h| RecoveryCode {
                    hash: h.clone(),
                    used_at: None,
                })
                .collect();
        }
        UserChange::LoginFailed { lock, .. } => {
            u.failed_logins = u.failed_logins.saturating_add(1);
            u.last_failure_at = Some(at);
            if *lock && u.locked_at.is_none() {
                u.locked_at = Some(at);
            }
        }
        UserChange::LoginSucceeded {
            totp_step,
            recovery_code,
        } => {
            u.failed_logins = 0;
            u.last_failure_at = None;
            u.last_login_at = Some(at);
            if let Some(step) = totp_step {
                u.totp_last_step = Some(u.totp_last_step.map_or(*step, |s| s.max(*step)));
            }
            if let Some(code) = recovery_code
                && let Some(rc) = u
                    .recovery
                    .iter_mut()
                    .find(|rc| rc.hash == *code && rc.used_at.is_none())
            {
                rc.used_at = Some(at);
            }
        }
        UserChange::Unlocked => {
            u.failed_logins = 0;
            u.last_failure_at = None;
            u.locked_at = None;
        }
    }
}

fn delete_user(tx: &mut WriteTx<'_>, user: &str) -> state_sqlite::Result<()> {
    for kind in [SessionDoc::KIND, TokenDoc::KIND] {
        for doc in tx.children(kind, user)? {
            tx.delete_doc(kind, &doc.id)?;
        }
    }
    tx.delete_doc(UserDoc::KIND, user)?;
    Ok(())
}
