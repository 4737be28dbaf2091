//! Strongroom's cryptographic primitives: AES-256-GCM sealing and key wrapping, HMAC-SHA256
//! keyed hashes (blind indexes), HKDF-SHA256 key derivation, SHA-256, Ed25519 signatures,
//! API/session tokens, and
//! the zeroizing [`Secret`] and [`Key256`] wrappers.
//!
//! Architecture invariant: this crate does no I/O. Its only contact with the operating system is
//! the CSPRNG, reached through `ring::rand::SystemRandom`. It never logs, never prints key
//! material (every secret type has a redacted `Debug` and no `Display`), and it is the only crate
//! of the workspace that calls `ring` for anything but TLS.
//!
//! Every operation is built on `ring`, the one cryptographic provider of the workspace (rustls
//! uses it too). Formats and domain-separation strings are described in `docs/design/keys.md`.

mod aead;
mod encoding;
mod hash;
mod key;
mod rand;
mod secret;
mod sign;
mod token;

#[cfg(test)]
mod vectors;

pub use aead::{NONCE_LEN, SEALED_OVERHEAD, TAG_LEN, VERSION, open, seal, unwrap_key, wrap_key};
pub use encoding::{from_hex, hex};
pub use hash::{Sha256, derive_key, keyed_hash, sha256};
pub use key::Key256;
pub use rand::random_bytes;
pub use secret::Secret;
pub use sign::{
    PUBLIC_KEY_LEN, SIGNATURE_LEN, SigningKey, public_key_fingerprint, verify_signature,
};
pub use token::{ct_eq, generate_token, token_hash};
pub use zeroize::{Zeroize, Zeroizing};

/// What can go wrong in this crate. Messages never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The sealed data does not authenticate under this key and associated data. Deliberately
    /// says nothing more: wrong key, wrong AAD and tampering are indistinguishable.
    #[error("authentication failed")]
    Open,
    /// The sealed data is not in a format this crate writes (bad version byte, too short).
    #[error("malformed sealed data: {0}")]
    Format(&'static str),
    /// A key was given with the wrong number of bytes.
    #[error("a key must be exactly 32 bytes, got {0}")]
    KeyLength(usize),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
