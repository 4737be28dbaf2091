//! One-time recovery codes for a lost second factor: ten codes of the form `xxxx-xxxx-xxxx`,
//! each 60 random bits, shown once to the user and stored only as keyed hashes.
//!
//! Alphabet: Crockford's base32 symbols (`0–9 a–z` without `i l o u`), so a code is 12 × 5 =
//! 60 bits exactly. It is unambiguous by decoding rather than by omission: when a code is checked,
//! `o` is read as `0` and `i`/`l` as `1`, so whichever of the look-alikes a user types, the code
//! matches. This module must never store, log or compare a code in plaintext; a code is usable
//! once (the caller deletes its hash on use).

use crypto::{Key256, Secret, Zeroizing, keyed_hash, random_bytes};

use crate::text::collect_zeroizing;

/// Number of codes in a set.
pub const RECOVERY_CODES: usize = 10;
/// The symbols of a code (Crockford's base32, lower case): 32 symbols, 5 bits each.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols in a code, dashes excluded.
pub const SYMBOLS: usize = 12;
/// Random bits in a code.
pub const BITS: u32 = 60;

/// Domain of [`recovery_code_hash`].
const DOMAIN: &str = "strongroom/recovery/v1";
/// Symbols between two dashes.
const GROUP: usize = 4;

/// A fresh set of [`RECOVERY_CODES`] distinct codes, `xxxx-xxxx-xxxx`, 60 random bits each.
pub fn generate_recovery_codes() -> Vec<Secret<String>> {
    let mut codes: Vec<Secret<String>> = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let code = generate_code();
        // A repeat has probability 2^-60 per pair; drop it rather than hand out a set of 9.
        if codes.iter().all(|c| c.expose() != code.expose()) {
            codes.push(code);
        }
    }
    codes
}

/// The stored form of a recovery code: HMAC-SHA256 under `key`, domain
/// `strongroom/recovery/v1`, over the code normalised as the user may have typed it: lower case,
/// dashes and white space removed, `o` read as `0`, `i` and `l` as `1`. Compare with
/// [`crypto::ct_eq`].
pub fn recovery_code_hash(key: &Key256, code: &str) -> [u8; 32] {
    let normalized = normalize(code);
    keyed_hash(key, DOMAIN, normalized.as_bytes())
}

/// One code: 60 random bits as 12 symbols in groups of four.
fn generate_code() -> Secret<String> {
    let mut raw = Zeroizing::new([0u8; 8]);
    random_bytes(raw.as_mut_slice());
    let mut bits = Zeroizing::new(u64::from_be_bytes(*raw));
    let mut code = String::with_capacity(SYMBOLS + SYMBOLS / GROUP);
    for i in 0..SYMBOLS {
        if i > 0 && i.is_multiple_of(GROUP) {
            code.push('-');
        }
        code.push(char::from(ALPHABET[(*bits & 0x1F) as usize]));
        *bits >>= 5;
    }
    Secret::new(code)
}

/// `code` as it is hashed: see [`recovery_code_hash`].
fn normalize(code: &str) -> Zeroizing<String> {
    let chars = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        });
    collect_zeroizing(chars, code.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        let cases = [
            ("ABCD-efgh-2345", "abcdefgh2345"),
            ("abcd efgh 2345", "abcdefgh2345"),
            (" abcd-efgh-2345\n", "abcdefgh2345"),
            ("OoIiLl-01", "00111101"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).as_str(), want, "normalize({input:?})");
        }
    }

    #[test]
    fn the_alphabet_has_32_distinct_symbols_without_look_alikes() {
        let mut symbols = ALPHABET.to_vec();
        symbols.sort_unstable();
        symbols.dedup();
        assert_eq!(symbols.len(), 32);
        for banned in b"ilou" {
            assert!(!ALPHABET.contains(banned), "{}", char::from(*banned));
        }
        assert_eq!(SYMBOLS as u32 * ALPHABET.len().ilog2(), BITS);
    }
}
