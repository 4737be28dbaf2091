//! The export passphrase: 120 random bits written as 24 characters of Crockford's base32
//! alphabet in groups of four (`7K2M-…`), shown once and never stored, and the key an archive is
//! sealed under: Argon2id over the 24 characters (upper case, no separators).
//!
//! Never put a passphrase or a key into an error, a log line or `Debug`.

use argon2::{Algorithm, Argon2, Params, Version};
use crypto::{Key256, Secret, Zeroizing};

use crate::{Error, Result};

/// Crockford's base32 alphabet: no I, L, O or U, so that a passphrase read aloud or copied by
/// hand survives.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of a passphrase (120 bits).
pub const LEN: usize = 24;

/// Argon2id cost of the archive key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl KdfParams {
    /// The design's parameters: 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 65_536,
        t: 3,
        p: 1,
    };

    /// The most an archive header may ask for (a hostile file must not exhaust memory).
    pub const MAX: KdfParams = KdfParams {
        m_kib: 4 * 1024 * 1024,
        t: 64,
        p: 16,
    };
}

/// A fresh passphrase: 15 random bytes, as 24 base32 characters in six groups of four.
pub fn generate() -> Secret<String> {
    let mut raw = Zeroizing::new([0u8; 15]);
    crypto::random_bytes(raw.as_mut_slice());
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = String::with_capacity(LEN + LEN / 4);
    for byte in raw.iter() {
        bits = (bits << 8) | u32::from(*byte);
        count += 8;
        while count >= 5 {
            count -= 5;
            if !out.is_empty() && (out.len() + 1).is_multiple_of(5) {
                out.push('-');
            }
            out.push(char::from(ALPHABET[((bits >> count) & 31) as usize]));
        }
    }
    crypto::Zeroize::zeroize(&mut bits);
    Secret::new(out)
}

/// The 24 characters a passphrase stands for: separators (`-`, spaces) dropped, upper case,
/// and the letters Crockford's alphabet reads as digits (`O` → `0`, `I`/`L` → `1`) mapped.
pub fn normalize(typed: &str) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(LEN));
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' | '\t' | '\n' | '\r' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return Err(Error::Passphrase(
                "it holds a character that is not in the passphrase alphabet",
            ));
        }
        out.push(c);
    }
    if out.len() != LEN {
        return Err(Error::Passphrase("a passphrase has 24 characters"));
    }
    Ok(out)
}

/// The archive key: Argon2id(normalized passphrase, salt, params), 32 bytes.
pub fn derive_key(normalized: &str, salt: &[u8; 16], params: KdfParams) -> Result<Key256> {
    let max = KdfParams::MAX;
    if params.m_kib > max.m_kib || params.t > max.t || params.p > max.p {
        return Err(Error::Format(
            "the key derivation parameters are beyond what an archive may ask".into(),
        ));
    }
    let argon = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| Error::Format(format!("key derivation parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon)
        .hash_password_into(normalized.as_bytes(), salt, key.as_mut_slice())
        .map_err(|e| Error::Format(format!("key derivation: {e}")))?;
    Ok(Key256::from_bytes(*key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_has_six_groups_of_four_from_the_alphabet() {
        let p = generate();
        let text = p.expose();
        assert_eq!(text.len(), 29, "{}", text.len());
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(groups.len(), 6);
        assert!(groups.iter().all(|g| g.len() == 4));
        assert_eq!(normalize(text).expect("valid").len(), LEN);
        assert_ne!(generate().expose(), text, "two passphrases alike");
    }

    #[test]
    fn typing_variants_normalize_alike_and_garbage_is_refused() {
        let a = normalize("0123-4567-89AB-CDEF-GHJK-MNPQ").expect("valid");
        let b = normalize("o123 4567 89ab cdef ghjk mnpq").expect("valid");
        assert_eq!(*a, *b);
        assert!(normalize("0123-4567").is_err());
        assert!(normalize("0123-4567-89AB-CDEF-GHJK-MNPU").is_err());
        assert!(normalize("0123-4567-89AB-CDEF-GHJK-MNPQ-R").is_err());
    }

    #[test]
    fn the_key_depends_on_passphrase_salt_and_params() {
        let cheap = KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        };
        let p = normalize("0123-4567-89AB-CDEF-GHJK-MNPQ").expect("valid");
        let q = normalize("0123-4567-89AB-CDEF-GHJK-MNPR").expect("valid");
        let k = |p: &str, salt: u8, params| {
            derive_key(p, &[salt; 16], params)
                .expect("key")
                .fingerprint()
        };
        assert_eq!(k(&p, 1, cheap), k(&p, 1, cheap));
        assert_ne!(k(&p, 1, cheap), k(&q, 1, cheap));
        assert_ne!(k(&p, 1, cheap), k(&p, 2, cheap));
        assert_ne!(k(&p, 1, cheap), k(&p, 1, KdfParams { t: 2, ..cheap }));
        let huge = KdfParams {
            m_kib: u32::MAX,
            ..cheap
        };
        assert!(derive_key(&p, &[0; 16], huge).is_err());
    }
}
