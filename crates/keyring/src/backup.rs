//! What backups need from the key store: the keyring as stored (it is already wrapped by the
//! master key and MACed, so it travels as it is), installing such a copy on a bare machine once
//! the master key has opened it, and the audit signing key's seed for the backup to seal.
//!
//! Nothing here writes an unwrapped data key anywhere; the signing key's seed leaves this crate
//! only to be sealed by the caller.

use std::path::{Path, PathBuf};

use crypto::Zeroizing;

use crate::copies;
use crate::document::{Document, KEYRING_FILE, MasterKeys, Rejection};
use crate::error::{Error, Result};
use crate::fsutil::replace_file;
use crate::keyfile;
use crate::master::MasterKey;
use crate::signing::KIND;

/// The key that authenticates backup manifests, derived from the master key: a bare machine
/// holding the master key alone can tell a genuine manifest from an edited one.
pub fn backup_manifest_key(master: &MasterKey) -> crypto::Key256 {
    MasterKeys::derive(master).backup_manifest
}

/// Checks that `bytes` are a keyring `master` opens and returns its generation; nothing is
/// written. A keyring made for another master key is [`Error::WrongMaster`].
pub fn check_stored(bytes: &[u8], master: &MasterKey) -> Result<u64> {
    decode(bytes, &MasterKeys::derive(master)).map(|doc| doc.generation)
}

fn decode(bytes: &[u8], keys: &MasterKeys) -> Result<Document> {
    Document::decode(bytes, keys).map_err(|rejection| match rejection {
        Rejection::OtherMaster { fingerprint, .. } => Error::WrongMaster {
            given: keys.fingerprint.clone(),
            expected: fingerprint,
        },
        Rejection::Corrupt(details) => Error::NoValidCopy { details },
    })
}

/// Installs a stored keyring (as [`crate::Keyring::stored`] gave it) as both copies in `dirs`, after
/// checking that `master` opens it. Refuses when either directory already holds a keyring.
pub fn install_stored(dirs: &[PathBuf; 2], bytes: &[u8], master: &MasterKey) -> Result<u64> {
    copies::check_distinct(dirs)?;
    let generation = check_stored(bytes, master)?;
    for dir in dirs {
        let path = copies::file_in(dir);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(Error::AlreadyExists { path });
        }
    }
    for dir in dirs {
        replace_file(dir, KEYRING_FILE, bytes)?;
    }
    Ok(generation)
}

/// The audit signing key's seed, for a backup to seal (same checks as loading it).
pub fn signing_seed(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    keyfile::load(KIND, path)
}

/// Writes a signing key file from a seed a backup held (mode 0600; refuses an existing file).
pub fn install_signing_seed(path: &Path, seed: &[u8; 32]) -> Result<()> {
    keyfile::create(KIND, path, seed)
}
