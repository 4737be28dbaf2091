//! [`Key256`]: a 32-byte symmetric key (AES-256-GCM, HMAC-SHA256, HKDF input) in zeroizing heap
//! storage.
//!
//! The key lives in one heap allocation for its whole life, so moving a `Key256` never leaves
//! copies of the bytes behind on the stack, and the allocation is zeroized on drop. This type must
//! never implement `Clone`, `Display` or `Serialize`, nor print its bytes in `Debug`: share it
//! through `Arc<Key256>` and identify it by [`Key256::fingerprint`].

use std::fmt;

use zeroize::Zeroize;

use crate::encoding::hex;
use crate::hash::domain_sha256;
use crate::rand::random_bytes;
use crate::{Error, Result};

/// Domain of [`Key256::fingerprint`]: a fingerprint can never equal another digest of the key.
const FINGERPRINT_DOMAIN: &str = "strongroom/key-fingerprint/v1";

/// A 256-bit symmetric key. Zeroized on drop, redacted in `Debug`, deliberately not `Clone`.
pub struct Key256(Box<[u8; 32]>);

impl Key256 {
    /// Length of the key in bytes.
    pub const LEN: usize = 32;

    /// A fresh key from the operating system CSPRNG.
    pub fn generate() -> Self {
        let mut key = Self(Box::new([0u8; 32]));
        random_bytes(key.0.as_mut_slice());
        key
    }

    /// Takes a key from raw bytes. `bytes` is a copy: zeroize the caller's copy if it came from
    /// somewhere sensitive (or use [`Key256::try_from_slice`] on a zeroizing buffer).
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let key = Self(Box::new(bytes));
        bytes.zeroize();
        key
    }

    /// Copies a key out of a slice, refusing anything but exactly 32 bytes.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != Self::LEN {
            return Err(Error::KeyLength(bytes.len()));
        }
        let mut key = Self(Box::new([0u8; 32]));
        key.0.copy_from_slice(bytes);
        Ok(key)
    }

    /// The raw key bytes. Only cryptographic code should call this.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// 16 lowercase hex digits (64 bits) of a domain-separated SHA-256 of the key. Safe to print
    /// and to store beside the data the key protects: it identifies the key, it does not reveal it.
    pub fn fingerprint(&self) -> String {
        let digest = domain_sha256(FINGERPRINT_DOMAIN, self.0.as_slice());
        hex(&digest[..8])
    }
}

impl Drop for Key256 {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key256([REDACTED], fingerprint {})", self.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ() {
        assert_ne!(Key256::generate().expose(), Key256::generate().expose());
    }

    #[test]
    fn debug_shows_the_fingerprint_and_never_the_bytes() {
        // A canary key whose bytes are easy to spot in any rendering.
        let key = Key256::from_bytes([0xC3; 32]);
        let shown = format!("{key:?} {key:#?}");
        for leak in ["c3c3", "C3C3", "195", "w8PD"] {
            assert!(
                !shown.contains(leak),
                "Debug leaked key bytes ({leak}): {shown}"
            );
        }
        assert!(
            shown.contains("[REDACTED]") && shown.contains(&key.fingerprint()),
            "{shown}"
        );
    }

    #[test]
    fn fingerprint_is_16_hex_digits_and_stable() {
        let key = Key256::from_bytes([7; 32]);
        let fp = key.fingerprint();
        assert_eq!(fp.len(), 16);
        assert!(
            fp.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{fp}"
        );
        assert_eq!(fp, Key256::from_bytes([7; 32]).fingerprint());
        assert_ne!(fp, Key256::from_bytes([8; 32]).fingerprint());
        // Not a prefix of the plain SHA-256 of the key: the domain separates them.
        assert!(!hex(crate::sha256(&[7; 32])).starts_with(&fp));
    }

    #[test]
    fn slices_of_the_wrong_length_are_refused() {
        assert_eq!(
            Key256::try_from_slice(&[0; 31]).err(),
            Some(Error::KeyLength(31))
        );
        assert_eq!(
            Key256::try_from_slice(&[0; 33]).err(),
            Some(Error::KeyLength(33))
        );
        let key = Key256::try_from_slice(&[9; 32]).map(|k| *k.expose());
        assert_eq!(key, Ok([9; 32]));
    }
}
