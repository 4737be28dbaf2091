//! The keyring document: its JSON shape, the MAC that seals it, the keys derived from the master
//! key to wrap and MAC, and the associated-data strings that bind each wrapped key to its place.
//!
//! On disk: `{"document": {...}, "mac": "<hex HMAC-SHA256>"}`. The MAC covers the canonical
//! (compact, fixed field order) JSON of `document`, so any change to any field, or a different
//! master key, is detected. This module must never store an unwrapped key, and must never accept
//! a document whose MAC has not been checked in constant time.

use std::collections::BTreeMap;

use crypto::{Key256, ct_eq, hex, keyed_hash};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::master::MasterKey;

/// Name of the keyring file in each of its two directories.
pub const KEYRING_FILE: &str = "keyring.json";
/// The scope of keys that protect system-wide data (staff, configuration).
pub const SYSTEM_SCOPE: &str = "system";

/// Value of `document.format`.
pub(crate) const FORMAT: &str = "strongroom-keyring";
/// Value of `document.version` written by this build.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// HKDF info of the key-encryption key derived from the master key.
const KEK_INFO: &[u8] = b"strongroom/keyring/v1|kek";
/// HKDF info of the MAC key derived from the master key.
const MAC_INFO: &[u8] = b"strongroom/keyring/v1|mac";
/// Derives the key that authenticates backup manifests.
const BACKUP_MANIFEST_INFO: &[u8] = b"strongroom/backup-manifest-key/v1";
/// Domain of the document MAC.
const MAC_DOMAIN: &str = "strongroom/keyring/v1|document";

/// The MACed content of a keyring copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    pub format: String,
    pub version: u32,
    /// Incremented by every write; the newest valid copy wins.
    pub generation: u64,
    pub created_at: i64,
    /// Fingerprint of the master key the keys are wrapped under.
    pub master_fingerprint: String,
    pub scopes: BTreeMap<String, ScopeRecord>,
}

/// One scope: `system` or a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopeRecord {
    pub created_at: i64,
    /// The version new data is sealed under.
    pub current: u32,
    pub versions: Vec<VersionRecord>,
    /// Base64 of the wrapped index key (blind indexes); `None` once destroyed.
    pub index_key: Option<String>,
    /// Set when the scope was crypto-shredded.
    pub destroyed_at: Option<i64>,
    /// For a child scope (a data subject's key under its tenant's): the parent's data key
    /// version that wraps this scope's keys instead of the master key's KEK. A child has one
    /// data key version; destroying the parent destroys it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentKey>,
}

/// The key that wraps a child scope's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParentKey {
    pub scope: String,
    pub version: u32,
}

/// One data key version of a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionRecord {
    pub version: u32,
    pub created_at: i64,
    /// Base64 of the wrapped data key; `None` once destroyed.
    pub wrapped: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    document: Document,
    mac: String,
}

/// The header fields read before anything else, so that a future format gets a clear error.
#[derive(Deserialize)]
struct Probe {
    document: ProbeDocument,
}

#[derive(Deserialize)]
struct ProbeDocument {
    format: String,
    version: u32,
    generation: u64,
    master_fingerprint: String,
}

/// The keys derived from one master key: the key-encryption key and the MAC key.
pub(crate) struct MasterKeys {
    pub kek: Key256,
    mac: Key256,
    /// Authenticates backup manifests.
    pub backup_manifest: Key256,
    pub fingerprint: String,
}

impl MasterKeys {
    pub(crate) fn derive(master: &MasterKey) -> Self {
        Self {
            kek: master.derive(KEK_INFO),
            mac: master.derive(MAC_INFO),
            backup_manifest: master.derive(BACKUP_MANIFEST_INFO),
            fingerprint: master.fingerprint(),
        }
    }

    fn mac(&self, document: &Document) -> Result<String> {
        let canonical = serde_json::to_vec(document).map_err(Error::Serialize)?;
        Ok(hex(keyed_hash(&self.mac, MAC_DOMAIN, &canonical)))
    }
}

/// Why a copy's bytes are not a keyring this master key opens.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// Not a keyring, an unsupported version, a bad MAC or inconsistent content.
    Corrupt(String),
    /// A well-formed keyring made for another master key (its MAC cannot be checked).
    OtherMaster {
        fingerprint: String,
        generation: u64,
    },
}

impl Document {
    pub(crate) fn new(master_fingerprint: String, now: i64) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: FORMAT_VERSION,
            generation: 0,
            created_at: now,
            master_fingerprint,
            scopes: BTreeMap::new(),
        }
    }

    /// The file content: pretty JSON of the document and its MAC, newline-terminated.
    pub(crate) fn encode(&self, keys: &MasterKeys) -> Result<Vec<u8>> {
        let envelope = Envelope {
            document: self.clone(),
            mac: keys.mac(self)?,
        };
        let mut bytes = serde_json::to_vec_pretty(&envelope).map_err(Error::Serialize)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Parses and authenticates a copy.
    pub(crate) fn decode(bytes: &[u8], keys: &MasterKeys) -> Result<Document, Rejection> {
        let corrupt = |why: String| Rejection::Corrupt(why);
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("not a keyring file ({e})")))?;
        let header = probe.document;
        if header.format != FORMAT || header.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format `{}` version {} is not supported (this build reads `{FORMAT}` version {FORMAT_VERSION})",
                header.format.chars().take(40).collect::<String>(),
                header.version
            )));
        }
        if header.master_fingerprint != keys.fingerprint {
            return Err(Rejection::OtherMaster {
                fingerprint: header.master_fingerprint.chars().take(64).collect(),
                generation: header.generation,
            });
        }
        let envelope: Envelope = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("malformed keyring ({e})")))?;
        let expected = keys
            .mac(&envelope.document)
            .map_err(|e| corrupt(e.to_string()))?;
        if !ct_eq(expected.as_bytes(), envelope.mac.as_bytes()) {
            return Err(corrupt(
                "MAC does not verify: the file was modified".to_owned(),
            ));
        }
        envelope.document.check().map_err(corrupt)?;
        Ok(envelope.document)
    }

    /// Structural invariants that the writer keeps; checked after the MAC as defence in depth.
    fn check(&self) -> Result<(), String> {
        for (scope, record) in &self.scopes {
            validate_scope(scope).map_err(|e| e.to_string())?;
            if record.destroyed_at.is_some() {
                continue;
            }
            let numbered = record
                .versions
                .iter()
                .enumerate()
                .all(|(i, v)| u32::try_from(i + 1) == Ok(v.version) && v.wrapped.is_some());
            let current_ok = usize::try_from(record.current) == Ok(record.versions.len());
            if !numbered || !current_ok || record.index_key.is_none() {
                return Err(format!("scope `{scope}` has inconsistent key versions"));
            }
        }
        Ok(())
    }
}

/// The scopes of a stored copy that still hold a wrapped key (a data key version or the index
/// key), read without checking the MAC: the copy may be made for an older master key, and the
/// answer only decides whether the copy must go. A copy that is not a keyring is an error.
pub(crate) fn scopes_with_keys(bytes: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Loose {
        document: LooseDocument,
    }
    #[derive(Deserialize)]
    struct LooseDocument {
        format: String,
        scopes: BTreeMap<String, ScopeRecord>,
    }
    let loose: Loose =
        serde_json::from_slice(bytes).map_err(|e| format!("not a keyring file ({e})"))?;
    if loose.document.format != FORMAT {
        return Err("not a keyring file (unknown format)".to_owned());
    }
    Ok(loose
        .document
        .scopes
        .into_iter()
        .filter(|(_, r)| r.index_key.is_some() || r.versions.iter().any(|v| v.wrapped.is_some()))
        .map(|(scope, _)| scope)
        .collect())
}

/// Checks a scope name: `system` or a tenant id, in general `[a-z0-9_]{1,64}`.
pub(crate) fn validate_scope(scope: &str) -> Result<()> {
    let ok = (1..=64).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidScope(scope.chars().take(80).collect()))
    }
}

/// AAD binding a wrapped data key to its scope and version.
pub(crate) fn data_aad(scope: &str, version: u32) -> String {
    format!("strongroom/keyring/v1|{scope}|{version}|data")
}

/// AAD binding a wrapped index key to its scope.
pub(crate) fn index_aad(scope: &str) -> String {
    format!("strongroom/keyring/v1|{scope}|index")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_are_validated() {
        let long = "a".repeat(64);
        for good in [
            "system",
            "tn_0123456789abcdef0123456789abcdef",
            "a",
            long.as_str(),
        ] {
            assert!(validate_scope(good).is_ok(), "refused {good:?}");
        }
        let too_long = "a".repeat(65);
        for bad in ["", "System", "tn-1", "a|b", "../x", "é", too_long.as_str()] {
            assert!(validate_scope(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn documents_round_trip_and_any_change_breaks_the_mac() {
        let master = MasterKey::from_key(Key256::generate());
        let keys = MasterKeys::derive(&master);
        let mut doc = Document::new(keys.fingerprint.clone(), 1_700_000_000_000);
        doc.generation = 3;
        let bytes = doc.encode(&keys).unwrap_or_default();
        assert_eq!(Document::decode(&bytes, &keys).ok(), Some(doc.clone()));

        let text = String::from_utf8(bytes).unwrap_or_default();
        let tampered = text.replace("\"generation\": 3", "\"generation\": 4");
        assert_ne!(tampered, text);
        match Document::decode(tampered.as_bytes(), &keys) {
            Err(Rejection::Corrupt(why)) => assert!(why.contains("MAC"), "{why}"),
            other => panic!("tampered generation accepted: {other:?}"),
        }
    }
}
