//! The one door through which the engine seals and opens tenant and user data (journal entry
//! bodies, sealed state fields, attachment chunks): AES-256-GCM from `crypto`.
//!
//! Only a benchmark build compiled with the `bench-without-promises` feature replaces it with a
//! plain copy, so that `scripts/bench-records` can measure what encryption at rest costs; that
//! build refuses to listen anywhere but on loopback and says so at start. Default builds use
//! `crypto::seal` and `crypto::open` and nothing else; this module must never grow another way
//! around them.

#[cfg(not(feature = "bench-without-promises"))]
pub(crate) use crypto::{open, seal};

/// Benchmark build: the "sealed" bytes are the plaintext.
#[cfg(feature = "bench-without-promises")]
pub(crate) fn seal(_key: &crypto::Key256, _aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    plaintext.to_vec()
}

/// Benchmark build: the inverse of [`seal`].
#[cfg(feature = "bench-without-promises")]
pub(crate) fn open(
    _key: &crypto::Key256,
    _aad: &[u8],
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, crypto::Error> {
    Ok(zeroize::Zeroizing::new(sealed.to_vec()))
}
