//! A signed checkpoint over the head of the audit chain.
//!
//! Layout (little-endian), 196 bytes:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `SRCKPT01` |
//! | 8 | 8 | covered seq: the entry just before this checkpoint |
//! | 16 | 32 | covered hash: the chain hash after that entry |
//! | 48 | 8 | at: Unix milliseconds |
//! | 56 | 8 | previous checkpoint's seq (0: none) |
//! | 64 | 32 | previous checkpoint's chain hash (zeros: none) |
//! | 96 | 32 | the signer's Ed25519 public key |
//! | 128 | 64 | signature over `"strongroom/audit-checkpoint/v1" ‖ bytes 0..128` |
//!
//! Each checkpoint names the one before it, so checkpoints form a signed chain of their own.

use journal::Position;

use crate::{Error, Result};

/// The first bytes of every checkpoint payload.
pub const MAGIC: &[u8; 8] = b"SRCKPT01";
/// Length of an encoded checkpoint.
pub const LEN: usize = 128 + crypto::SIGNATURE_LEN;
/// Domain of the signed message.
const DOMAIN: &[u8] = b"strongroom/audit-checkpoint/v1";

/// A checkpoint, signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The head it signs: the entry just before the checkpoint's own entry.
    pub covered: Position,
    pub at: i64,
    /// The previous checkpoint's own entry (seq 0: the first checkpoint).
    pub previous: Position,
    pub public_key: [u8; crypto::PUBLIC_KEY_LEN],
    pub signature: [u8; crypto::SIGNATURE_LEN],
}

fn body(covered: Position, at: i64, previous: Position, public_key: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&covered.seq.to_le_bytes());
    out.extend_from_slice(&covered.hash);
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&previous.seq.to_le_bytes());
    out.extend_from_slice(&previous.hash);
    out.extend_from_slice(public_key);
    out
}

fn message(body: &[u8]) -> Vec<u8> {
    [DOMAIN, body].concat()
}

impl Checkpoint {
    /// Signs `covered` (with the time and the previous checkpoint) with `key`.
    pub fn sign(
        key: &crypto::SigningKey,
        covered: Position,
        at: i64,
        previous: Position,
    ) -> Checkpoint {
        let public_key = key.public_key();
        let signature = key.sign(&message(&body(covered, at, previous, &public_key)));
        Checkpoint {
            covered,
            at,
            previous,
            public_key,
            signature,
        }
    }

    /// The payload of the checkpoint's journal entry (and of its line in the checkpoint file).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = body(self.covered, self.at, self.previous, &self.public_key);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Whether a journal payload is a checkpoint (by its magic; [`Checkpoint::decode`] checks
    /// the rest).
    pub fn is_checkpoint(payload: &[u8]) -> bool {
        payload.starts_with(MAGIC)
    }

    /// Reads a checkpoint; refuses anything that is not exactly one.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint> {
        if bytes.len() != LEN {
            return Err(Error::Malformed("wrong length"));
        }
        if !bytes.starts_with(MAGIC) {
            return Err(Error::Malformed("wrong magic"));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let array = |at: usize| {
            let mut b = [0u8; 32];
            b.copy_from_slice(&bytes[at..at + 32]);
            b
        };
        let mut signature = [0u8; crypto::SIGNATURE_LEN];
        signature.copy_from_slice(&bytes[128..LEN]);
        Ok(Checkpoint {
            covered: Position {
                seq: u64_at(8),
                hash: array(16),
            },
            at: u64_at(48) as i64,
            previous: Position {
                seq: u64_at(56),
                hash: array(64),
            },
            public_key: array(96),
            signature,
        })
    }

    /// Checks the signature, and that the signer is `trusted` (the published public key).
    pub fn verify(&self, trusted: &[u8; crypto::PUBLIC_KEY_LEN]) -> Result<()> {
        let body = body(self.covered, self.at, self.previous, &self.public_key);
        let signed = crypto::verify_signature(trusted, &message(&body), &self.signature);
        if self.public_key == *trusted && signed {
            Ok(())
        } else {
            Err(Error::BadSignature {
                seq: self.covered.seq,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(key: &crypto::SigningKey) -> Checkpoint {
        let covered = Position {
            seq: 1000,
            hash: [7u8; 32],
        };
        let previous = Position {
            seq: 1,
            hash: [9u8; 32],
        };
        Checkpoint::sign(key, covered, 1_800_000_000_000, previous)
    }

    #[test]
    fn round_trips_and_verifies() {
        let key = crypto::SigningKey::generate().expect("key");
        let cp = sample(&key);
        let bytes = cp.encode();
        assert_eq!(bytes.len(), LEN);
        assert!(Checkpoint::is_checkpoint(&bytes));
        let back = Checkpoint::decode(&bytes).expect("decode");
        assert_eq!(back, cp);
        back.verify(&key.public_key()).expect("verifies");
    }

    #[test]
    fn every_flipped_bit_or_another_key_is_caught() {
        let key = crypto::SigningKey::generate().expect("key");
        let other = crypto::SigningKey::generate().expect("key");
        let bytes = sample(&key).encode();
        for byte in 0..LEN {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[byte] ^= 1 << bit;
                let verdict = Checkpoint::decode(&bad).and_then(|cp| cp.verify(&key.public_key()));
                assert!(verdict.is_err(), "byte {byte} bit {bit} went unnoticed");
            }
        }
        // Signed by someone else, even validly: not the published key.
        let forged = sample(&other);
        assert!(forged.verify(&key.public_key()).is_err());
        assert!(Checkpoint::decode(&bytes[..LEN - 1]).is_err());
        assert!(Checkpoint::decode(&[bytes.clone(), vec![0]].concat()).is_err());
    }
}
