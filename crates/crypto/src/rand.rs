//! The one door to the operating system's CSPRNG (`getrandom(2)` via `ring::rand::SystemRandom`).
//!
//! Every nonce, key and token in Strongroom is drawn here. This module must never fall back to a
//! weaker source (time, counters, a userspace PRNG) when the OS refuses: it panics instead,
//! because no key, nonce or token may ever be minted without real randomness.

use ring::rand::{SecureRandom, SystemRandom};

/// Fills `buf` with bytes from the operating system's CSPRNG.
///
/// # Panics
///
/// If the operating system random source fails. On Linux this cannot happen once the kernel's
/// pool is initialised; continuing without randomness would be worse than stopping.
pub fn random_bytes(buf: &mut [u8]) {
    if SystemRandom::new().fill(buf).is_err() {
        panic!("the operating system random source failed; refusing to continue without it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_whole_buffer_with_fresh_bytes() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        random_bytes(&mut a);
        random_bytes(&mut b);
        assert_ne!(a, [0u8; 64]);
        assert_ne!(a, b);
    }
}
