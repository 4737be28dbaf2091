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

/// A journal position: a seq and the chain hash after it (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub seq: u64,
    pub hash: String,
}

impl Position {
    /// The journal's form of this position; a malformed hash is refused.
    pub fn to_journal(&self) -> Result<journal::Position> {
        let hash = crypto::from_hex(&self.hash)
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| {
                Error::Manifest(format!("position {} has a malformed hash", self.seq))
            })?;
        Ok(journal::Position {
            seq: self.seq,
            hash,
        })
    }

    pub fn from_journal(p: journal::Position) -> Position {
        Position {
            seq: p.seq,
            hash: crypto::hex(p.hash),
        }
    }
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

/// What a set is: a full backup, or journal shipping after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The state snapshot, the whole journal and audit log, the audit signing key.
    Full,
    /// The journal and audit entries after the previous set at the same destination.
    Increment,
}

/// A full backup's state snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The last entry applied to the snapshot.
    pub position: Position,
    /// The latest entry time (Unix ms) up to it: a restore to a moment `T` may start from this
    /// snapshot only when `max_at <= T`.
    pub max_at: i64,
    /// The state digest of the snapshot (hex).
    pub digest: String,
}

/// A set's manifest: a full backup or an increment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// The master key's fingerprint when the set was made.
    pub installation: String,
    /// The set's id (its parts are bound to it).
    pub backup: String,
    pub kind: Kind,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The journal position before the set's first entry, and its last entry.
    pub journal_from: Position,
    pub journal_to: Position,
    /// The time (Unix ms) of the last entry the set holds; 0 when it holds none.
    pub last_at: i64,
    /// The same for the audit log.
    pub audit_from: Position,
    pub audit_to: Position,
    /// Full backups only.
    pub snapshot: Option<Snapshot>,
    /// The keyring generation the set was made with.
    pub keyring_generation: u64,
    /// The archive key, sealed by the keyring's backup key (hex).
    pub archive_key: String,
    /// The backup key's version in the keyring.
    pub backup_key_version: u32,
    pub parts: Vec<PartEntry>,
    /// Every attachment file the system held when the set was made; each is stored at the
    /// destination (`blobs/<name>`) before this manifest is, so a missing one is noticed.
    pub attachments: Vec<String>,
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
