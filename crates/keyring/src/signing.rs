//! The audit signing key file: the Ed25519 key that signs audit checkpoints (and later deletion
//! receipts). Kept in a file of its own, apart from the master key, so that whoever holds one
//! of them can not use it to stand in for the other. Format and checks as for every key file
//! (`strongroom-audit-signing-key v1\n<base64 of the 32-byte seed>\n`, mode 0600).

use std::path::Path;

use crypto::SigningKey;

use crate::error::{Error, Result};
use crate::keyfile::{self, Kind};

/// The audit signing key file's kind.
pub(crate) const KIND: Kind = Kind {
    what: "audit signing key",
    header: "strongroom-audit-signing-key v1",
    read_action: "read audit signing key file",
};

/// Creates a new signing key at `path` (refuses to overwrite an existing file).
pub fn create_signing_key(path: &Path) -> Result<SigningKey> {
    let key = SigningKey::generate().map_err(|e| Error::KeyFileFormat {
        what: KIND.what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    keyfile::create(KIND, path, key.seed())?;
    Ok(key)
}

/// Loads the signing key at `path`, refusing loose permissions, links and malformed files.
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let seed = keyfile::load(KIND, path)?;
    SigningKey::from_seed(seed.as_slice()).map_err(|e| Error::KeyFileFormat {
        what: KIND.what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
