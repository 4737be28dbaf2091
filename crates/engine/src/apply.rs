//! Applying committed journal entries to the derived state. Runs on the journal's writer thread
//! (through the commit hook) for live writes, and in bulk at start-up and in `rebuild-state`.
//!
//! Apply is total: an entry that refers to something absent is a no-op, never an error that
//! would make the journal impossible to replay. Only undecryptable or malformed entries fail.

use std::sync::{Arc, RwLock};

use keyring::Keyring;
use state_sqlite::{Applied, StateStore, TenantRow, TenantStatus, TokenRow, WriteTx};

use crate::envelope::{self, Header};
use crate::event::{Event, Status};
use crate::{Error, Result};

/// What the applier needs: the keys to open bodies and the state to write.
#[derive(Clone)]
pub struct Applier {
    pub keys: Arc<RwLock<Keyring>>,
    pub state: Arc<StateStore>,
}

impl Applier {
    /// Opens an entry payload into its header and event.
    pub fn decode(&self, payload: &[u8]) -> Result<(Header, Event)> {
        let (header, body) = envelope::decode(payload)?;
        let key = {
            let keys = self.keys.read().map_err(|_| Error::Poisoned)?;
            keys.key(&header.scope.key_name(), header.key_version)?
        };
        let plain = crypto::open(&key, &header.aad(), body)?;
        let event: Event = serde_json::from_slice(&plain).map_err(|e| {
            Error::Envelope(format!("entry {}: body is not an event: {e}", header.entry))
        })?;
        Ok((header, event))
    }

    /// Applies a run of consecutive entries in one state transaction.
    pub fn apply(&self, entries: &[journal::Entry]) -> Result<()> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let decoded = entries
            .iter()
            .map(|e| self.decode(&e.payload).map(|d| (e.seq, d)))
            .collect::<Result<Vec<_>>>()?;
        let applied = self.state.applied()?;
        let first = entries[0].seq;
        if first != applied.seq + 1 {
            return Err(Error::Gap {
                state_at: applied.seq,
                next: first,
            });
        }
        self.state.write(|tx| {
            for (_, (header, event)) in &decoded {
                apply_event(tx, header, event)?;
            }
            tx.set_applied(Applied {
                seq: last.seq,
                hash: last.hash,
            })
        })?;
        Ok(())
    }
}

fn apply_event(tx: &mut WriteTx<'_>, header: &Header, event: &Event) -> state_sqlite::Result<()> {
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
            let status = match status {
                Status::Active => TenantStatus::Active,
                Status::Suspended => TenantStatus::Suspended,
            };
            tx.update_tenant_status(*tenant, status, header.at)?;
        }
        Event::TokenIssued {
            token,
            hash,
            principal,
        } => {
            if let Ok(hash) = <[u8; 32]>::try_from(hash.0.as_slice()) {
                tx.create_token(&TokenRow {
                    id: *token,
                    hash,
                    principal: principal.as_str().to_owned(),
                    created_at: header.at,
                })?;
            }
        }
        Event::KeyRotated { .. } => {}
    }
    Ok(())
}
