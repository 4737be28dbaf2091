//! Sealed fields: values a tenant or user typed, sealed on their own for the state row.
//!
//! Format: key version (u32, big-endian) followed by `crypto::seal` output. The associated data
//! `strongroom/field/v1|<scope>|<table>|<row id>|<field>` binds the value to its place, so a
//! sealed name copied into another row or tenant does not open.

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

impl Engine {
    /// Seals `plaintext` under the scope's current key.
    pub fn seal_field(&self, at: FieldRef<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (version, key) = self.current(at.scope)?;
        let mut out = version.to_be_bytes().to_vec();
        out.extend_from_slice(&crate::seal::seal(&key, &at.aad(), plaintext));
        Ok(out)
    }

    /// Opens a field sealed by [`Engine::seal_field`], under whichever key version sealed it.
    pub fn open_field(&self, at: FieldRef<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let Some((version, body)) = sealed.split_first_chunk::<4>() else {
            return Err(Error::Envelope(format!(
                "sealed {}.{} is too short",
                at.table, at.field
            )));
        };
        let key = self.key_of(at.scope, u32::from_be_bytes(*version))?;
        Ok(crate::seal::open(&key, &at.aad(), body)?)
    }
}

/// A scope's current data key, for sealing many values with caller-chosen associated data (the
/// chunks of an attachment). Output format as for fields: key version (u32 BE) then the seal.
pub struct SealingKey {
    version: u32,
    key: std::sync::Arc<crypto::Key256>,
}

impl SealingKey {
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = self.version.to_be_bytes().to_vec();
        out.extend_from_slice(&crate::seal::seal(&self.key, aad, plaintext));
        out
    }
}

impl Engine {
    /// The current data key of `scope`.
    pub fn current_key(&self, scope: Scope) -> Result<SealingKey> {
        let (version, key) = self.current(scope)?;
        Ok(SealingKey { version, key })
    }

    /// Opens what a [`SealingKey`] sealed, under the key version it names.
    pub fn open_sealed(
        &self,
        scope: Scope,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let Some((version, body)) = sealed.split_first_chunk::<4>() else {
            return Err(Error::Envelope("sealed value too short".into()));
        };
        let key = self.key_of(scope, u32::from_be_bytes(*version))?;
        Ok(crate::seal::open(&key, aad, body)?)
    }
}
