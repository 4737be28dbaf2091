//! The manifest of a backup: what it covers and every part with its digest, authenticated with
//! HMAC-SHA256 under a key derived from the master key, so that a bare machine holding only the
//! master key can tell a genuine manifest from an edited or forged one.
//!
//! Stored as `<64 hex digits of the MAC>\n<the manifest's JSON>`; the MAC covers the JSON bytes
//! exactly as stored (no re-serialisation), under the domain `strongroom/backup-manifest/v1`.

use crypto::Key256;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const DOMAIN: &str = "strongroom/backup-manifest/v1";
/// What the manifest key is derived with from the master key.
const KEY_INFO: &[u8] = b"strongroom/backup-manifest-key/v1";

/// The key that authenticates manifests, derived from the master key.
pub fn manifest_key(master: &Key256) -> Key256 {
    crypto::derive_key(master, KEY_INFO)
}

/// A journal position: a seq and the chain hash after it (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub seq: u64,
    pub hash: String,
}

/// One part as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    pub name: String,
    /// Plaintext bytes.
    pub len: u64,
    pub chunks: u64,
    /// SHA-256 of the sealed part as stored (hex).
    pub sha256: String,
}

/// A backup's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    pub installation: String,
    pub backup: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The state snapshot's journal position and the state digest there (hex).
    pub snapshot: Position,
    pub state_digest: String,
    /// The last journal entry the backup holds.
    pub journal_to: Position,
    /// The keyring generation the backup was made with.
    pub keyring_generation: u64,
    /// The archive key, wrapped by the keyring's backup key (hex).
    pub archive_key: String,
    /// The backup key's version in the keyring.
    pub backup_key_version: u32,
    pub parts: Vec<PartEntry>,
}

impl Manifest {
    /// The stored form: MAC line, then the JSON.
    pub fn to_bytes(&self, key: &Key256) -> Result<Vec<u8>> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Manifest(e.to_string()))?;
        let mac = crypto::keyed_hash(key, DOMAIN, &json);
        let mut out = crypto::hex(mac).into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&json);
        Ok(out)
    }

    /// Checks the MAC first, then reads the JSON; any change to either is refused.
    pub fn from_bytes(key: &Key256, bytes: &[u8]) -> Result<Manifest> {
        let newline = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| Error::Manifest("no MAC line".into()))?;
        let (mac, json) = (&bytes[..newline], &bytes[newline + 1..]);
        let expected = crypto::hex(crypto::keyed_hash(key, DOMAIN, json));
        if !crypto::ct_eq(mac, expected.as_bytes()) {
            return Err(Error::ManifestForged);
        }
        let manifest: Manifest =
            serde_json::from_slice(json).map_err(|e| Error::Manifest(e.to_string()))?;
        if manifest.version != 1 {
            return Err(Error::Manifest(format!(
                "format version {} (this build reads 1)",
                manifest.version
            )));
        }
        Ok(manifest)
    }

    /// The entry of the part named `name`.
    pub fn part(&self, name: &str) -> Result<&PartEntry> {
        self.parts
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::MissingPart(name.to_owned()))
    }
}
