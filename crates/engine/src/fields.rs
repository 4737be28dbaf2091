//! Sealed fields: values a tenant or user typed, sealed on their own for the state row.
//!
//! Format: key version (u32, big-endian) followed by `crypto::seal` output. The associated data
//! `strongroom/field/v1|<scope>|<table>|<row id>|<field>` binds the value to its place, so a
//! sealed name copied into another row or tenant does not open.
//!
//! A value about a data subject (P15's erasure) is sealed under the subject's key, a child scope
//! of the tenant's in the keyring, and names it in front: `0xFF | name length (u8) | subject
//! scope name | key version (u32 BE) | seal`, with the same associated data. A key version never
//! starts with 0xFF, so the two forms can not be confused; opening reads the form it finds.

use zeroize::Zeroizing;

use crate::{Engine, Error, Result, Scope};

/// Where a sealed field belongs.
#[derive(Debug, Clone, Copy)]
pub struct FieldRef<'a> {
    pub scope: Scope,
    pub table: &'a str,
    pub row: &'a str,
    pub field: &'a str,
}

impl FieldRef<'_> {
    fn aad(&self) -> Vec<u8> {
        format!(
            "strongroom/field/v1|{}|{}|{}|{}",
            self.scope.key_name(),
            self.table,
            self.row,
            self.field
        )
        .into_bytes()
    }
}

/// First byte of a value sealed under a data subject's key.
const SUBJECT_MARK: u8 = 0xFF;
/// Domain of the keyed hash that names a subject's scope.
const SUBJECT_DOMAIN: &str = "strongroom/subject/v1";

/// The subject scope a sealed value names and the rest (key version and seal), or `None` for a
/// value sealed under its scope's own key.
pub fn subject_of(sealed: &[u8]) -> Option<(&str, &[u8])> {
    let (&mark, rest) = sealed.split_first()?;
    if mark != SUBJECT_MARK {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let name = rest.get(..usize::from(len))?;
    Some((std::str::from_utf8(name).ok()?, &rest[usize::from(len)..]))
}

fn subject_prefix(subject: &str) -> Vec<u8> {
    let mut out = vec![SUBJECT_MARK, subject.len() as u8];
    out.extend_from_slice(subject.as_bytes());
    out
}

impl Engine {
    /// Seals `plaintext` under the scope's current key.
    pub fn seal_field(&self, at: FieldRef<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.seal_field_for(None, at, plaintext)
    }

    /// Seals `plaintext` under the current key of `subject` (a scope
    /// [`Engine::subject_scope`] named and [`Engine::ensure_subject_key`] made), or of the
    /// field's scope when `None`.
    pub fn seal_field_for(
        &self,
        subject: Option<&str>,
        at: FieldRef<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let key = self.current_key_for(at.scope, subject)?;
        Ok(key.seal(&at.aad(), plaintext))
    }

    /// Opens a field sealed by [`Engine::seal_field`] or [`Engine::seal_field_for`], under
    /// whichever key and version sealed it.
    pub fn open_field(&self, at: FieldRef<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.open_sealed(at.scope, &at.aad(), sealed)
    }

    /// The keyring scope of a data subject of `tenant`: a child of the tenant's scope, named by
    /// a keyed hash of the subject's id under the tenant's index key (the id itself is never
    /// stored).
    pub fn subject_scope(&self, tenant: types::TenantId, subject: &str) -> Result<String> {
        let hash = self.blind_index(Scope::Tenant(tenant), SUBJECT_DOMAIN, subject.as_bytes())?;
        Ok(format!("{tenant}_s{}", &crypto::hex(hash)[..20]))
    }

    /// Creates the key of a subject scope of `tenant` (both keyring copies) unless it exists.
    pub fn ensure_subject_key(&self, tenant: types::TenantId, subject: &str) -> Result<()> {
        if self
            .inner
            .keys
            .read()
            .map_err(|_| Error::Poisoned)?
            .contains(subject)
        {
            return Ok(());
        }
        let now = self.now().millis();
        self.change_keyring(|keys| keys.add_child_scope(subject, &tenant.to_string(), now))
    }
}

/// A scope's current data key, for sealing many values with caller-chosen associated data (the
/// chunks of an attachment). Output format as for fields: key version (u32 BE) then the seal.
pub struct SealingKey {
    /// Empty, or the subject mark and name.
    prefix: Vec<u8>,
    version: u32,
    key: std::sync::Arc<crypto::Key256>,
}

impl SealingKey {
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = self.prefix.clone();
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&crate::seal::seal(&self.key, aad, plaintext));
        out
    }
}

impl Engine {
    /// The current data key of `scope`.
    pub fn current_key(&self, scope: Scope) -> Result<SealingKey> {
        self.current_key_for(scope, None)
    }

    /// The current data key of `subject` (a subject scope of the tenant), or of `scope`.
    pub fn current_key_for(&self, scope: Scope, subject: Option<&str>) -> Result<SealingKey> {
        let Some(subject) = subject else {
            let (version, key) = self.current(scope)?;
            return Ok(SealingKey {
                prefix: Vec::new(),
                version,
                key,
            });
        };
        let owner = scope.key_name();
        if !subject.starts_with(&format!("{owner}_s")) || subject.len() > usize::from(u8::MAX) {
            return Err(Error::Envelope(format!(
                "subject scope {subject} does not belong to {owner}"
            )));
        }
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        let (version, key) = keys.current(subject)?;
        Ok(SealingKey {
            prefix: subject_prefix(subject),
            version,
            key,
        })
    }

    /// Opens what a [`SealingKey`] sealed, under the key (the scope's, or the subject's it
    /// names, which must belong to the scope) and version it names.
    pub fn open_sealed(
        &self,
        scope: Scope,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (subject, rest) = match subject_of(sealed) {
            Some((subject, rest)) => (Some(subject), rest),
            None => (None, sealed),
        };
        let Some((version, body)) = rest.split_first_chunk::<4>() else {
            return Err(Error::Envelope("sealed value too short".into()));
        };
        let version = u32::from_be_bytes(*version);
        let key = match subject {
            None => self.key_of(scope, version)?,
            Some(subject) => {
                if !subject.starts_with(&format!("{}_s", scope.key_name())) {
                    return Err(Error::Envelope(
                        "sealed under another tenant's subject".into(),
                    ));
                }
                let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
                keys.key(subject, version)?
            }
        };
        Ok(crate::seal::open(&key, aad, body)?)
    }
}
