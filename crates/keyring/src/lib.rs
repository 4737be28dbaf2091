//! Strongroom's key store: the master key file and the keyring of wrapped per-scope keys.
//!
//! Hierarchy: the master key (a file, mode 0600, apart from all data) → keys derived from it by
//! HKDF (a key-encryption key and a MAC key) → the keyring, stored as `keyring.json` in two
//! directories apart from the journal, holding for each scope (`system` or a tenant id) its
//! versioned data keys and its index key, each wrapped with AES-256-GCM, the whole document
//! MACed. Destroying a scope removes its wrapped keys from both copies (crypto-shredding).
//! See `docs/design/keys.md`.
//!
//! Architecture invariant: this crate is the only one that reads or writes the master key file
//! and the keyring. It never writes an unwrapped key anywhere, never logs key material, and never
//! acknowledges a change that is not durable in both keyring locations.

mod backup;
mod copies;
mod document;
mod error;
mod fsutil;
mod keyfile;
mod keyring;
mod master;
mod rotation;
mod signing;

pub use backup::{
    backup_manifest_key, check_stored, install_signing_seed, install_stored, signing_seed,
};
pub use document::{KEYRING_FILE, SYSTEM_SCOPE};
pub use error::{Error, Result};
pub use keyring::{Keyring, ScopeInfo, VersionInfo};
pub use master::MasterKey;
pub use rotation::{MasterRotation, load_master_for, next_key_path, rotate_master};
pub use signing::{create_signing_key, load_signing_key};
