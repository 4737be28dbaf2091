//! Bearer tokens (API tokens, session tokens): generation, the hash that is stored instead of
//! the token, and constant-time comparison.
//!
//! A token is `prefix` followed by 256 random bits in unpadded base64url. Tokens are
//! high-entropy, so a fast domain-separated SHA-256 is the right stored form (a slow password
//! hash adds nothing). This module must never store, log or compare a token in plaintext.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::hash::domain_sha256;
use crate::rand::random_bytes;
use crate::secret::Secret;

/// Domain of [`token_hash`].
const TOKEN_DOMAIN: &str = "strongroom/token/v1";
/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;
/// Length of 32 bytes in unpadded base64.
const TOKEN_CHARS: usize = 43;

/// A fresh token: `prefix` (e.g. `srt_`) followed by 256 random bits, base64url without padding.
pub fn generate_token(prefix: &str) -> Secret<String> {
    let mut raw = Zeroizing::new([0u8; TOKEN_BYTES]);
    random_bytes(raw.as_mut_slice());
    // Sized up front so the string never reallocates and leaves a copy of the token behind.
    let mut token = String::with_capacity(prefix.len() + TOKEN_CHARS);
    token.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(raw.as_slice(), &mut token);
    Secret::new(token)
}

/// The stored form of a token: SHA-256 of the domain-separated token text.
pub fn token_hash(token: &str) -> [u8; 32] {
    domain_sha256(TOKEN_DOMAIN, token.as_bytes())
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// differ. Lengths are not secret (hashes and MACs have fixed lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn tokens_have_the_prefix_and_256_bits_of_base64url() {
        let token = generate_token("srt_");
        let text = token.expose();
        let body = text
            .strip_prefix("srt_")
            .unwrap_or_else(|| panic!("prefix missing: {token:?}"));
        assert_eq!(body.len(), TOKEN_CHARS);
        assert!(
            body.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(body).map(|b| b.len()),
            Ok(TOKEN_BYTES)
        );
        assert_eq!(text.capacity(), text.len(), "token string reallocated");
    }

    #[test]
    fn tokens_are_unique_and_redacted() {
        let tokens: HashSet<String> = (0..1000)
            .map(|_| generate_token("t_").expose().clone())
            .collect();
        assert_eq!(tokens.len(), 1000);
        let token = generate_token("srt_");
        assert_eq!(format!("{token:?}"), "Secret([REDACTED])");
    }

    #[test]
    fn token_hash_is_domain_separated_and_stable() {
        let token = generate_token("srt_");
        let hash = token_hash(token.expose());
        assert_eq!(hash, token_hash(token.expose()));
        assert_ne!(hash, crate::sha256(token.expose().as_bytes()));
        assert_ne!(hash, token_hash("srt_other"));
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        let cases: [(&[u8], &[u8], bool); 6] = [
            (b"", b"", true),
            (b"abc", b"abc", true),
            (b"abc", b"abd", false),
            (b"abc", b"bbc", false),
            (b"abc", b"ab", false),
            (b"", b"a", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(ct_eq(a, b), want, "ct_eq({a:?}, {b:?})");
        }
    }
}
