//! What backups read from a live engine (issue 6): the backup key, the keyring as stored, the
//! journal and the audit log with their positions, the audit signing key's file. The backup
//! crate seals and ships; this module only hands out what is already sealed, or keys through
//! the keyring.

use std::path::PathBuf;
use std::sync::Arc;

use crypto::Key256;
use journal::Position;

use crate::{Engine, Error, Result};

/// The keyring scope of the key that wraps every backup's archive key.
pub const BACKUP_SCOPE: &str = "backup";

/// The audit log as a backup copies it.
#[derive(Debug, Clone)]
pub struct AuditSource {
    /// Where its chain starts (after retention removed older segments).
    pub start: Position,
    pub head: Position,
    /// The checkpoint file in location a.
    pub checkpoints: PathBuf,
    /// The signing key file.
    pub key_file: PathBuf,
}

impl Engine {
    /// The current backup key, created in the keyring (both copies) on first use.
    pub fn backup_key(&self) -> Result<(u32, Arc<Key256>)> {
        {
            let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
            match keys.current(BACKUP_SCOPE) {
                Ok(found) => return Ok(found),
                Err(keyring::Error::UnknownScope(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let now = self.now().millis();
        self.change_keyring(|keys| match keys.current(BACKUP_SCOPE) {
            Ok(_) => Ok(()),
            Err(_) => keys.add_scope(BACKUP_SCOPE, now).map(drop),
        })?;
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.current(BACKUP_SCOPE)?)
    }

    /// The keyring as stored (already wrapped by the master key) and its generation.
    pub fn stored_keyring(&self) -> Result<(u64, Vec<u8>)> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.stored()?)
    }

    /// The audit log's extent and files.
    pub fn audit_source(&self) -> AuditSource {
        let auditor = &self.inner.audit;
        AuditSource {
            start: auditor.log.start(),
            head: auditor.log.head(),
            checkpoints: self.inner.paths.audit_dirs()[0].join(::audit::log::CHECKPOINTS),
            key_file: auditor.key_file.clone(),
        }
    }

    /// The audit log's entries from `seq` on.
    pub fn audit_entries(&self, seq: u64) -> Result<journal::Entries> {
        Ok(self.inner.audit.log.read_from(seq)?)
    }
}

/// The time a main-journal entry was sealed (its clear header), in Unix milliseconds.
pub fn entry_at(payload: &[u8]) -> Result<i64> {
    Ok(crate::envelope::decode(payload)?.0.at.millis())
}

impl Engine {
    /// The key that authenticates backup manifests (derived from the master key).
    pub fn backup_manifest_key(&self) -> Result<Key256> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.backup_manifest_key())
    }

    /// The fingerprint of the master key the keyring is wrapped under.
    pub fn master_fingerprint(&self) -> Result<String> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.master_fingerprint().to_owned())
    }

    /// The backup key of `version` (an older backup's).
    pub fn backup_key_version(&self, version: u32) -> Result<Arc<Key256>> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.key(BACKUP_SCOPE, version)?)
    }
}
