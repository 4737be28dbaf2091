//! Hashing, keyed hashing and key derivation: SHA-256, HMAC-SHA256 with length-prefixed domain
//! separation (blind indexes, document MACs), and HKDF-SHA256 (RFC 5869).
//!
//! Domain separation: every domain string is fed as its length (8 bytes, big-endian) followed by
//! its bytes, so `("ab", "c")` and `("a", "bc")` never collide. This module must never hash a
//! secret without a domain, and must never return a truncated MAC for comparison.

use ring::{digest, hkdf, hmac};

use crate::key::Key256;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    to_array(digest::digest(&digest::SHA256, data).as_ref())
}

/// An incremental SHA-256, for digests over data too large to hold at once.
pub struct Sha256(digest::Context);

impl Sha256 {
    pub fn new() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 32] {
        to_array(self.0.finish().as_ref())
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

/// SHA-256 of `len(domain) || domain || data`.
pub(crate) fn domain_sha256(domain: &str, data: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&domain_prefix(domain));
    ctx.update(domain.as_bytes());
    ctx.update(data);
    to_array(ctx.finish().as_ref())
}

/// HMAC-SHA256 of `len(domain) || domain || data` under `key`.
///
/// Used for blind indexes (equality search over sealed fields) and for MACs over documents. Each
/// use picks its own `domain`, e.g. `strongroom/index/v1|<table>|<field>`, so a hash made for one
/// purpose is useless for any other. Compare results with [`crate::ct_eq`].
pub fn keyed_hash(key: &Key256, domain: &str, data: &[u8]) -> [u8; 32] {
    hmac_sha256(
        key.expose(),
        &[&domain_prefix(domain), domain.as_bytes(), data],
    )
}

/// A subkey of `key` for the purpose named by `info`: HKDF-SHA256 (RFC 5869) with no salt,
/// `key` as input keying material and `info` as the context, 32 bytes of output.
///
/// Different `info` strings give independent keys; the same `info` always gives the same key.
pub fn derive_key(key: &Key256, info: &[u8]) -> Key256 {
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    hkdf_sha256(&[], key.expose(), info, out.as_mut_slice());
    Key256::from_bytes(*out)
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    to_array(ctx.sign().as_ref())
}

/// HKDF-SHA256 extract-and-expand into `out` (at most 255 × 32 bytes).
pub(crate) fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    // Proven invariant: expand and fill fail only when the length exceeds 255 × HashLen, and
    // every caller in this crate asks for 32 or 42 bytes.
    let filled = prk
        .expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out));
    if filled.is_err() {
        panic!("HKDF output length {} exceeds 255 × 32 bytes", out.len());
    }
}

fn domain_prefix(domain: &str) -> [u8; 8] {
    (domain.len() as u64).to_be_bytes()
}

/// Copies a SHA-256-sized output into an array. `ring` always returns 32 bytes for SHA-256.
fn to_array(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[..32]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_separates_domains() {
        let key = Key256::from_bytes([1; 32]);
        let base = keyed_hash(&key, "strongroom/index/v1|users|email", b"a@example.com");
        assert_eq!(
            base,
            keyed_hash(&key, "strongroom/index/v1|users|email", b"a@example.com")
        );
        assert_ne!(
            base,
            keyed_hash(&key, "strongroom/index/v1|users|name", b"a@example.com")
        );
        assert_ne!(
            base,
            keyed_hash(
                &Key256::from_bytes([2; 32]),
                "strongroom/index/v1|users|email",
                b"a@example.com"
            )
        );
        // Moving bytes across the domain/data boundary changes the hash.
        assert_ne!(keyed_hash(&key, "ab", b"c"), keyed_hash(&key, "a", b"bc"));
    }

    #[test]
    fn keyed_hash_is_hmac_over_the_length_prefixed_domain() {
        let key = Key256::from_bytes([3; 32]);
        let mut message = 4u64.to_be_bytes().to_vec();
        message.extend_from_slice(b"demo");
        message.extend_from_slice(b"data");
        assert_eq!(
            keyed_hash(&key, "demo", b"data"),
            hmac_sha256(&[3; 32], &[&message])
        );
    }

    #[test]
    fn derive_key_is_hkdf_without_salt_and_separates_info() {
        let key = Key256::from_bytes([5; 32]);
        let a = derive_key(&key, b"strongroom/a");
        let mut expected = [0u8; 32];
        hkdf_sha256(&[], &[5; 32], b"strongroom/a", &mut expected);
        assert_eq!(a.expose(), &expected);
        assert_eq!(a.expose(), derive_key(&key, b"strongroom/a").expose());
        assert_ne!(a.expose(), derive_key(&key, b"strongroom/b").expose());
        assert_ne!(a.expose(), key.expose());
    }
}

#[cfg(test)]
mod incremental_tests {
    use super::*;

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = Sha256::new();
        for chunk in data.chunks(77) {
            h.update(chunk);
        }
        assert_eq!(h.finish(), sha256(&data));
    }
}
