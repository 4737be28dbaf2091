//! Crash-safe master key rotation.
//!
//! Steps: load the old key; create `<key>.next` (0600); rewrap both keyring copies under it; rename
//! `<key>.next` over the key file and fsync the directory. A crash between the rewrap and the
//! rename leaves a keyring made for `<key>.next`; [`load_master_for`] notices and finishes the
//! rename. This module must never delete or replace the key a keyring copy is made for, and must
//! never leave the key file itself half-written (the new key only ever arrives by rename).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::copies;
use crate::document::MasterKeys;
use crate::error::{Error, Result, io_error};
use crate::fsutil::{parent_dir, sync_dir};
use crate::keyring::Keyring;
use crate::master::MasterKey;

/// The outcome of [`rotate_master`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterRotation {
    pub old_fingerprint: String,
    pub new_fingerprint: String,
    /// Keyring generation written under the new key.
    pub generation: u64,
    /// Repairs done while opening the keyring, and any rotation left over from a crash.
    pub report: Vec<String>,
}

/// Where a rotation stages the new master key: `<key_path>.next`.
pub fn next_key_path(key_path: &Path) -> PathBuf {
    let mut name = key_path.as_os_str().to_owned();
    name.push(OsString::from(".next"));
    PathBuf::from(name)
}

/// Loads the master key the keyring in `dirs` is made for. If that is the key in
/// `<key_path>.next` (a rotation interrupted after its rewrap), the rename is finished first.
/// Otherwise this is [`MasterKey::load`] of `key_path`; a stale `.next` is left for
/// [`rotate_master`] to clear.
pub fn load_master_for(key_path: &Path, dirs: &[PathBuf; 2]) -> Result<MasterKey> {
    let next = next_key_path(key_path);
    match fs::symlink_metadata(&next) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return MasterKey::load(key_path),
        Err(e) => return Err(io_error("inspect", &next)(e)),
    }
    match MasterKey::load(&next) {
        Ok(candidate) if copies::is_made_for(dirs, &MasterKeys::derive(&candidate)) => {
            promote(&next, key_path)?;
            tracing::warn!(
                target: "keyring",
                fingerprint = %candidate.fingerprint(),
                "finished an interrupted master key rotation: {} now holds the new key",
                key_path.display()
            );
            Ok(candidate)
        }
        Ok(_) => MasterKey::load(key_path),
        Err(e) => {
            tracing::warn!(target: "keyring", "ignoring unusable {}: {e}", next.display());
            MasterKey::load(key_path)
        }
    }
}

/// Replaces the master key at `key_path` with a new random key and rewraps the keyring in `dirs`
/// under it, crash-safely (see the module documentation). The old key file is replaced by rename.
pub fn rotate_master(key_path: &Path, dirs: [PathBuf; 2]) -> Result<MasterRotation> {
    let old = load_master_for(key_path, &dirs)?;
    let (mut keyring, mut report) = Keyring::open(dirs, &old)?;
    let next = next_key_path(key_path);
    if fs::symlink_metadata(&next).is_ok() {
        // load_master_for just established that no keyring copy is made for this file.
        fs::remove_file(&next).map_err(io_error("remove stale", &next))?;
        sync_dir(&parent_dir(&next))?;
        report.push(format!(
            "removed {} left by an interrupted rotation (no keyring copy used it)",
            next.display()
        ));
    }
    let new = MasterKey::create(&next)?;
    if let Err(source) = keyring.rewrap(&new) {
        return Err(Error::RotationIncomplete {
            next,
            source: Box::new(source),
        });
    }
    promote(&next, key_path)?;
    Ok(MasterRotation {
        old_fingerprint: old.fingerprint(),
        new_fingerprint: new.fingerprint(),
        generation: keyring.generation(),
        report,
    })
}

/// Renames `next` over `key_path` and makes the rename durable.
fn promote(next: &Path, key_path: &Path) -> Result<()> {
    fs::rename(next, key_path).map_err(io_error("rename the new master key over", key_path))?;
    sync_dir(&parent_dir(key_path))
}
