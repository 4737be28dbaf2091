//! The deletion receipt (P15): what was destroyed, where and when, signed with the audit key
//! (Ed25519). It holds ids, times, key version numbers, locations and counts, never tenant
//! plaintext.
//!
//! Stored form: compact JSON `{"document":{...},"signature":"<hex>"}` and a newline. The
//! signature covers the compact JSON of `document` (fields in declaration order) under the
//! domain of [`audit::statement`]. [`verify`] refuses a receipt whose bytes are not exactly that
//! form, so every altered byte — whitespace included — fails. See `docs/design/data-rights.md`.

use serde::{Deserialize, Serialize};
use types::TenantId;

/// `document.format`.
pub const FORMAT: &str = "strongroom-deletion-receipt";
/// `document.version` written by this build.
pub const VERSION: u32 = 1;

/// What remains of a deleted tenant, said in every receipt.
pub const REMAINS: &str = "journal entries, audit events and backup sets sealed under the \
    destroyed keys: ciphertext that no key can open";
/// What deletion does not reach, said in every receipt.
pub const NOT_COVERED: &str = "old blocks a file system or SSD may keep of rewritten keyring \
    files, and keyring copies made by hand outside Strongroom; both hold keys wrapped by the \
    master key, and a master key rotation makes them unreadable";

/// The signed content of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub format: String,
    pub version: u32,
    pub receipt: String,
    pub tenant: TenantId,
    pub requested_at: i64,
    pub requested_by: String,
    pub execute_after: i64,
    pub deadline: i64,
    /// Carried out before `execute_after` (an operator's `tenants delete-now --skip-grace`).
    pub grace_skipped: bool,
    pub keys_destroyed_at: i64,
    pub destroyed: Vec<DestroyedKeys>,
    pub places: Vec<Place>,
    pub purged: Purged,
    pub remains: String,
    pub not_covered: String,
    pub issued_at: i64,
    /// Hex of the Ed25519 public key that signed (the audit key).
    pub public_key: String,
}

/// Keys of one scope that were destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestroyedKeys {
    /// The keyring scope (`tn_…`, or a subject scope of the tenant).
    pub scope: String,
    /// Every data key version of the scope.
    pub data_key_versions: Vec<u32>,
    /// Its index key (blind indexes).
    pub index_key: bool,
}

/// One place a key was destroyed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// `keyring copy` or `backup destination`.
    pub place: String,
    /// A directory, or a destination's name.
    pub location: String,
    /// When the place stopped holding the keys; `None` while pending.
    pub at: Option<i64>,
    /// Stale keyring copies removed there (backup destinations).
    pub copies_removed: Option<u64>,
    /// Why the place is not done yet; it is retried at every backup run.
    pub pending: Option<String>,
}

/// What was purged on this system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purged {
    pub state_rows: u64,
    pub blob_files: u64,
    /// Export archives kept for download (sealed under their passphrase, not the tenant's key).
    pub export_archives: u64,
}

/// A signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub document: Document,
    /// Hex of the Ed25519 signature.
    pub signature: String,
}

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("not a deletion receipt: {0}")]
    Malformed(String),
    #[error("the receipt is not in its signed form (a byte was changed, added or removed)")]
    NotCanonical,
    #[error("the receipt was signed by public key {found}, not by the expected {expected}")]
    OtherKey { found: String, expected: String },
    #[error("the signature does not verify: the receipt was altered")]
    BadSignature,
}

impl Document {
    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Receipt {
    /// The stored form.
    pub fn encode(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Checks a stored receipt: its exact form, then its signature, against `expected` (hex) when
/// given — what a third party should do, with the key the operator published — or else against
/// the key the receipt names.
pub fn verify(bytes: &[u8], expected: Option<&str>) -> Result<Receipt, Invalid> {
    let receipt: Receipt =
        serde_json::from_slice(bytes).map_err(|e| Invalid::Malformed(e.to_string()))?;
    if receipt.encode().as_bytes() != bytes {
        return Err(Invalid::NotCanonical);
    }
    let document = &receipt.document;
    if document.format != FORMAT || document.version != VERSION {
        return Err(Invalid::Malformed(format!(
            "format {:?} version {} (this build reads {FORMAT} version {VERSION})",
            document.format.chars().take(40).collect::<String>(),
            document.version
        )));
    }
    let key = match expected {
        Some(expected) => {
            let expected = expected.trim().to_ascii_lowercase();
            if expected != document.public_key {
                return Err(Invalid::OtherKey {
                    found: document.public_key.chars().take(64).collect(),
                    expected,
                });
            }
            expected
        }
        None => document.public_key.clone(),
    };
    let (Some(key), Some(signature)) =
        (crypto::from_hex(&key), crypto::from_hex(&receipt.signature))
    else {
        return Err(Invalid::Malformed(
            "the public key or signature is not hex".into(),
        ));
    };
    if audit::statement::verify_deletion_receipt(&key, &document.signed_bytes(), &signature) {
        Ok(receipt)
    } else {
        Err(Invalid::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(key: &crypto::SigningKey) -> Receipt {
        let document = Document {
            format: FORMAT.into(),
            version: VERSION,
            receipt: "dr_00".into(),
            tenant: TenantId::random(),
            requested_at: 1,
            requested_by: "operator".into(),
            execute_after: 2,
            deadline: 3,
            grace_skipped: false,
            keys_destroyed_at: 4,
            destroyed: vec![DestroyedKeys {
                scope: "tn_x".into(),
                data_key_versions: vec![1, 2],
                index_key: true,
            }],
            places: vec![Place {
                place: "keyring copy".into(),
                location: "/k/a".into(),
                at: Some(4),
                copies_removed: None,
                pending: None,
            }],
            purged: Purged {
                state_rows: 9,
                blob_files: 1,
                export_archives: 0,
            },
            remains: REMAINS.into(),
            not_covered: NOT_COVERED.into(),
            issued_at: 5,
            public_key: crypto::hex(key.public_key()),
        };
        let signature = key.sign(&audit::statement::deletion_receipt_message(
            &document.signed_bytes(),
        ));
        Receipt {
            document,
            signature: crypto::hex(signature),
        }
    }

    #[test]
    fn a_receipt_verifies_and_every_altered_byte_fails() {
        let key = crypto::SigningKey::generate().expect("key");
        let text = signed(&key).encode();
        let public = crypto::hex(key.public_key());
        assert!(verify(text.as_bytes(), None).is_ok());
        assert!(verify(text.as_bytes(), Some(&public)).is_ok());
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x20] {
                let mut altered = bytes.to_vec();
                altered[i] ^= flip;
                assert!(
                    verify(&altered, Some(&public)).is_err(),
                    "byte {i} ^ {flip:#x} still verifies"
                );
            }
        }
        assert!(verify(&bytes[..bytes.len() - 2], None).is_err());
    }

    #[test]
    fn a_receipt_signed_by_another_key_fails_against_the_published_one() {
        let key = crypto::SigningKey::generate().expect("key");
        let other = crypto::SigningKey::generate().expect("key");
        let forged = signed(&other).encode();
        let published = crypto::hex(key.public_key());
        assert!(matches!(
            verify(forged.as_bytes(), Some(&published)),
            Err(Invalid::OtherKey { .. })
        ));
        // Naming the published key while signing with another fails the signature.
        let mut receipt = signed(&other);
        receipt.document.public_key = published.clone();
        assert_eq!(
            verify(receipt.encode().as_bytes(), Some(&published)),
            Err(Invalid::BadSignature)
        );
    }
}
