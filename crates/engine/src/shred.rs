//! Crypto-shredding on the live system (P15): destroying a scope's keys in both keyring copies,
//! what a backup destination's keyring copies still hold of destroyed keys, and signing the
//! deletion receipt with the audit key. The purge of the rows is the apply of
//! [`crate::event::Event::TenantDeleted`].

use std::path::PathBuf;

use types::TenantId;

use crate::{Engine, Error, Result, Scope};

/// What destroying a scope's keys did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destroyed {
    /// The scope's key name (`tn_…`).
    pub scope: String,
    /// The data key versions that were destroyed (all of the scope's).
    pub versions: Vec<u32>,
    /// When the keyring recorded the destruction (Unix ms); an earlier destruction keeps its
    /// time.
    pub at: i64,
    /// The keyring generation that no longer holds the keys.
    pub generation: u64,
    /// The keyring's two locations, both rewritten.
    pub locations: [PathBuf; 2],
}

impl Engine {
    /// Destroys every key of `scope` (data key versions and index key) in both keyring copies;
    /// from the return on, nothing sealed under the scope opens, here or in any journal, state
    /// or backup. Safe to repeat: a destroyed scope keeps its first time.
    pub fn destroy_scope(&self, scope: Scope) -> Result<Destroyed> {
        let name = scope.key_name();
        let now = self.now().millis();
        self.change_keyring(|keys| keys.destroy_scope(&name, now))?;
        self.destroyed_info(&name, now)
    }

    /// Destroys a data subject's key (a child scope of `tenant`'s, see
    /// [`Engine::subject_scope`]) in both keyring copies. `None` when the subject never had a
    /// key; safe to repeat.
    pub fn destroy_subject(&self, tenant: TenantId, subject: &str) -> Result<Option<Destroyed>> {
        if !subject.starts_with(&format!("{tenant}_s")) {
            return Err(Error::Envelope(format!(
                "subject scope {subject} does not belong to {tenant}"
            )));
        }
        let exists = self
            .inner
            .keys
            .read()
            .map_err(|_| Error::Poisoned)?
            .contains(subject);
        if !exists {
            return Ok(None);
        }
        let now = self.now().millis();
        self.change_keyring(|keys| keys.destroy_scope(subject, now))?;
        self.destroyed_info(subject, now).map(Some)
    }

    fn destroyed_info(&self, name: &str, now: i64) -> Result<Destroyed> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        let info = keys
            .scopes()
            .into_iter()
            .find(|s| s.scope == name)
            .ok_or_else(|| Error::Keyring(keyring::Error::UnknownScope(name.to_owned())))?;
        Ok(Destroyed {
            versions: info.versions.iter().map(|v| v.version).collect(),
            at: info.destroyed_at.unwrap_or(now),
            generation: keys.generation(),
            locations: keys.dirs().clone(),
            scope: name.to_owned(),
        })
    }

    /// Whether `scope`'s keys are destroyed.
    pub fn is_destroyed(&self, scope: Scope) -> Result<bool> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        let name = scope.key_name();
        Ok(keys.destroyed().iter().any(|(s, _)| *s == name))
    }

    /// The scopes whose keys are destroyed, with when: what every backup destination's keyring
    /// copies must no longer hold.
    pub fn destroyed_scopes(&self) -> Result<Vec<(String, i64)>> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.destroyed())
    }

    /// The destroyed scopes of which a stored keyring copy (a backup destination's) still holds
    /// a key; see [`keyring::Keyring::destroyed_keys_in`].
    pub fn destroyed_keys_in(&self, copy: &[u8]) -> Result<Vec<String>> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.destroyed_keys_in(copy)?)
    }

    /// Drops the audit index rows of a deleted tenant (its events no longer open; the audit
    /// log keeps them as ciphertext and `audit verify` still checks them).
    pub fn forget_audit_tenant(&self, tenant: TenantId) -> Result<()> {
        Ok(self.auditor().index.forget_tenant(tenant)?)
    }

    /// Signs a deletion receipt's document with the audit key: the signature and the public key
    /// that verifies it (the one `strongroom audit pubkey` prints).
    pub fn sign_deletion_receipt(
        &self,
        document: &[u8],
    ) -> ([u8; crypto::PUBLIC_KEY_LEN], [u8; crypto::SIGNATURE_LEN]) {
        let log = &self.auditor().log;
        (log.public_key(), log.sign_deletion_receipt(document))
    }
}
