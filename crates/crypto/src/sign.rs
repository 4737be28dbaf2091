//! Ed25519 signatures (RFC 8032) for what must be verifiable by someone holding only a public
//! key: audit checkpoints, and later deletion receipts.
//!
//! [`SigningKey`] holds the 32-byte seed in zeroizing storage and never shows it; the seed is
//! what a key file stores (the caller does the file I/O). Signatures are deterministic.

use std::fmt;

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::encoding::hex;
use crate::hash::domain_sha256;
use crate::rand::random_bytes;
use crate::{Error, Result};

/// Length of a signature in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a public key (and of a seed) in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Domain of [`public_key_fingerprint`].
const FINGERPRINT_DOMAIN: &str = "strongroom/signing-key-fingerprint/v1";

/// An Ed25519 private key. Redacted in `Debug`; not `Clone`.
pub struct SigningKey {
    seed: Zeroizing<[u8; 32]>,
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// A fresh key from the operating system CSPRNG.
    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        random_bytes(seed.as_mut_slice());
        Self::from_seed(seed.as_slice())
    }

    /// The key whose seed is `seed` (the 32 bytes RFC 8032 calls the private key).
    pub fn from_seed(seed: &[u8]) -> Result<Self> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| Error::KeyLength(seed.len()))?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| Error::Format("not an Ed25519 seed"))?;
        Ok(Self {
            seed: Zeroizing::new(seed),
            pair,
        })
    }

    /// The seed, for the key file. Handle with care.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public = public_key_fingerprint(&self.public_key());
        write!(f, "SigningKey(public {public})")
    }
}

/// Whether `signature` is `public_key`'s signature of `message`.
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

/// A short, stable name for a public key: 16 hex digits of a domain-separated SHA-256.
pub fn public_key_fingerprint(public_key: &[u8]) -> String {
    hex(&domain_sha256(FINGERPRINT_DOMAIN, public_key)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 8032 section 7.1, tests 1 to 3.
    #[test]
    fn rfc8032_vectors() {
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
            (
                "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
                "af82",
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
            ),
        ];
        for (seed, public, message, signature) in cases {
            let key = SigningKey::from_seed(&unhex(seed)).expect("seed");
            assert_eq!(key.public_key().to_vec(), unhex(public));
            let sig = key.sign(&unhex(message));
            assert_eq!(sig.to_vec(), unhex(signature));
            assert!(verify_signature(&unhex(public), &unhex(message), &sig));
        }
    }

    #[test]
    fn altered_messages_signatures_and_keys_do_not_verify() {
        let key = SigningKey::generate().expect("key");
        let other = SigningKey::generate().expect("key");
        let message = b"checkpoint 1000";
        let sig = key.sign(message);
        assert!(verify_signature(&key.public_key(), message, &sig));
        assert!(!verify_signature(
            &key.public_key(),
            b"checkpoint 1001",
            &sig
        ));
        assert!(!verify_signature(&other.public_key(), message, &sig));
        for i in 0..SIGNATURE_LEN {
            let mut bad = sig;
            bad[i] ^= 0x01;
            assert!(
                !verify_signature(&key.public_key(), message, &bad),
                "bit in byte {i}"
            );
        }
        assert!(!verify_signature(&key.public_key(), message, &sig[..63]));
        assert!(!verify_signature(&[0u8; 31], message, &sig));
        assert!(SigningKey::from_seed(&[0u8; 31]).is_err());
    }

    #[test]
    fn the_seed_round_trips_and_debug_hides_it() {
        let key = SigningKey::generate().expect("key");
        let again = SigningKey::from_seed(key.seed()).expect("seed");
        assert_eq!(key.public_key(), again.public_key());
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex(key.seed())), "{shown}");
        assert!(shown.contains(&public_key_fingerprint(&key.public_key())));
    }
}
