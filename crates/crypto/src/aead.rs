//! Authenticated encryption: AES-256-GCM with random 96-bit nonces, and key wrapping on top of it.
//!
//! Sealed format (version 1): `0x01 | nonce (12 bytes) | ciphertext | tag (16 bytes)`. The caller's
//! associated data is passed to GCM as is, so the format is plain AES-256-GCM that any
//! implementation can check. The version byte is not authenticated; it is matched exactly, and a
//! future version must bind itself into its AAD.
//!
//! This module must never take a nonce from the caller (outside the crate-private known-answer
//! hook), never reuse a nonce on purpose, and never say why an `open` failed.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::key::Key256;
use crate::rand::random_bytes;
use crate::{Error, Result};

/// The format version byte written at the start of every sealed message.
pub const VERSION: u8 = 0x01;
/// Length of the GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed message adds to its plaintext: version, nonce and tag.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Largest plaintext AES-GCM accepts under one nonce: (2^32 − 2) blocks of 16 bytes.
const MAX_PLAINTEXT: u64 = ((1 << 32) - 2) * 16;

/// Seals `plaintext` under `key` with AES-256-GCM, binding `aad` (not stored; the reader must
/// supply the same bytes). The nonce is 96 random bits from the operating system CSPRNG.
///
/// # Panics
///
/// If `plaintext` is longer than 64 GiB, the AES-GCM limit for one message. Callers bound their
/// inputs far below that (request bodies, journal entries).
pub fn seal(key: &Key256, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce);
    seal_with_nonce(key, nonce, aad, plaintext)
}

/// [`seal`] with a caller-chosen nonce: for known-answer tests only, never for real data.
pub(crate) fn seal_with_nonce(
    key: &Key256,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    if plaintext.len() as u64 > MAX_PLAINTEXT {
        panic!(
            "plaintext of {} bytes exceeds the AES-GCM limit",
            plaintext.len()
        );
    }
    let mut out = Vec::with_capacity(plaintext.len() + SEALED_OVERHEAD);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let header = 1 + NONCE_LEN;
    // Proven invariant: sealing fails only for inputs over MAX_PLAINTEXT, refused above.
    let sealed = gcm_key(key).seal_in_place_separate_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut out[header..],
    );
    match sealed {
        Ok(tag) => out.extend_from_slice(tag.as_ref()),
        Err(_) => panic!("AES-GCM refused a plaintext within its limits"),
    }
    out
}

/// Opens a message made by [`seal`] with the same `key` and `aad`.
///
/// Returns [`Error::Format`] when the bytes cannot be a sealed message (too short, unknown
/// version) and [`Error::Open`] for everything else: wrong key, wrong AAD, any altered bit.
pub fn open(key: &Key256, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < SEALED_OVERHEAD {
        return Err(Error::Format("too short to be a sealed message"));
    }
    if sealed[0] != VERSION {
        return Err(Error::Format("unknown version byte"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    let mut buf = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
    let plain_len = gcm_key(key)
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            buf.as_mut_slice(),
        )
        .map_err(|_| Error::Open)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

/// Wraps (encrypts) `key` under the key-encryption key `kek`: [`seal`] over the 32 key bytes,
/// bound to `aad`, which should name what the key is for (scope, version, purpose).
pub fn wrap_key(kek: &Key256, aad: &[u8], key: &Key256) -> Vec<u8> {
    seal(kek, aad, key.expose())
}

/// Unwraps a key made by [`wrap_key`] with the same `kek` and `aad`.
pub fn unwrap_key(kek: &Key256, aad: &[u8], wrapped: &[u8]) -> Result<Key256> {
    let plain = open(kek, aad, wrapped)?;
    Key256::try_from_slice(&plain).map_err(|_| Error::Format("wrapped key is not 32 bytes"))
}

fn gcm_key(key: &Key256) -> LessSafeKey {
    // Proven invariant: AES-256-GCM takes exactly 32 key bytes, and a Key256 holds exactly 32.
    match UnboundKey::new(&AES_256_GCM, key.expose()) {
        Ok(unbound) => LessSafeKey::new(unbound),
        Err(_) => panic!("ring refused a 32-byte AES-256 key"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn round_trips_with_the_documented_layout() {
        let key = Key256::generate();
        let sealed = seal(&key, b"aad", b"hello");
        assert_eq!(sealed.len(), 5 + SEALED_OVERHEAD);
        assert_eq!(sealed[0], VERSION);
        assert_eq!(
            open(&key, b"aad", &sealed).map(|p| p.to_vec()),
            Ok(b"hello".to_vec())
        );
        let empty = seal(&key, b"", b"");
        assert_eq!(open(&key, b"", &empty).map(|p| p.len()), Ok(0));
    }

    /// One row of the tamper table: what is opened, under what, and the refusal expected.
    struct Tamper<'a> {
        name: &'a str,
        key: &'a Key256,
        aad: &'a [u8],
        input: Vec<u8>,
        expected: Error,
    }

    #[test]
    fn tampering_of_any_kind_is_refused() {
        let key = Key256::generate();
        let other = Key256::generate();
        let aad: &[u8] = b"strongroom/journal/v1|tn_x|1|en_y";
        let sealed = seal(&key, aad, b"a tenant's secret record");
        let flip = |at: usize| {
            let mut s = sealed.clone();
            s[at] ^= 0x01;
            s
        };
        let last = sealed.len() - 1;
        let short = Error::Format("too short to be a sealed message");
        let version = Error::Format("unknown version byte");
        let row = |name, key, aad, input, expected| Tamper {
            name,
            key,
            aad,
            input,
            expected,
        };
        let cases = [
            row("flipped first nonce bit", &key, aad, flip(1), Error::Open),
            row(
                "flipped last nonce bit",
                &key,
                aad,
                flip(NONCE_LEN),
                Error::Open,
            ),
            row(
                "flipped ciphertext bit",
                &key,
                aad,
                flip(1 + NONCE_LEN),
                Error::Open,
            ),
            row("flipped tag bit", &key, aad, flip(last), Error::Open),
            row(
                "wrong aad",
                &key,
                b"strongroom/journal/v1|tn_x|2|en_y",
                sealed.clone(),
                Error::Open,
            ),
            row("empty aad", &key, b"", sealed.clone(), Error::Open),
            row("wrong key", &other, aad, sealed.clone(), Error::Open),
            row(
                "tag dropped",
                &key,
                aad,
                sealed[..=last - TAG_LEN].to_vec(),
                Error::Open,
            ),
            row(
                "one byte short",
                &key,
                aad,
                sealed[..last].to_vec(),
                Error::Open,
            ),
            row(
                "appended byte",
                &key,
                aad,
                [&sealed[..], &[0]].concat(),
                Error::Open,
            ),
            row(
                "shorter than overhead",
                &key,
                aad,
                sealed[..SEALED_OVERHEAD - 1].to_vec(),
                short.clone(),
            ),
            row("empty input", &key, aad, Vec::new(), short),
            row(
                "version byte 0x02",
                &key,
                aad,
                [&[2u8][..], &sealed[1..]].concat(),
                version.clone(),
            ),
            row(
                "version byte 0x00",
                &key,
                aad,
                [&[0u8][..], &sealed[1..]].concat(),
                version,
            ),
        ];
        for case in cases {
            let got = open(case.key, case.aad, &case.input).map(|p| p.to_vec());
            assert_eq!(
                got,
                Err(case.expected),
                "case `{}` was not refused as expected",
                case.name
            );
        }
    }

    #[test]
    fn open_errors_say_nothing_but_authentication_failed() {
        assert_eq!(Error::Open.to_string(), "authentication failed");
    }

    #[test]
    fn nonces_differ_across_ten_thousand_seals() {
        let key = Key256::generate();
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let sealed = seal(&key, b"", b"x");
            let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN].try_into().unwrap_or_default();
            assert!(
                seen.insert(nonce),
                "nonce repeated after {} seals",
                seen.len()
            );
        }
    }

    #[test]
    fn wrapped_keys_unwrap_only_with_the_same_kek_and_aad() {
        let kek = Key256::generate();
        let key = Key256::generate();
        let wrapped = wrap_key(&kek, b"strongroom/keyring/v1|system|1|data", &key);
        assert!(
            !wrapped.windows(32).any(|w| w == key.expose()),
            "key bytes visible in wrapping"
        );
        let back = unwrap_key(&kek, b"strongroom/keyring/v1|system|1|data", &wrapped);
        assert_eq!(back.map(|k| *k.expose()), Ok(*key.expose()));
        for (kek, aad) in [
            (&kek, &b"strongroom/keyring/v1|system|2|data"[..]),
            (&kek, &b"strongroom/keyring/v1|system|1|index"[..]),
            (&key, &b"strongroom/keyring/v1|system|1|data"[..]),
        ] {
            assert_eq!(unwrap_key(kek, aad, &wrapped).err(), Some(Error::Open));
        }
    }

    #[test]
    fn unwrap_refuses_a_sealed_message_that_is_not_a_key() {
        let kek = Key256::generate();
        let sealed = seal(&kek, b"a", &[0; 31]);
        assert_eq!(
            unwrap_key(&kek, b"a", &sealed).err(),
            Some(Error::Format("wrapped key is not 32 bytes"))
        );
    }
}
