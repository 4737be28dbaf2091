//! Password hashing with Argon2id (RFC 9106) at OWASP's parameters, stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), with a random 16-byte salt from the OS
//! CSPRNG and a 32-byte output.
//!
//! Passwords are hashed and verified in their NFKC form ([`crate::password::normalize`]), whole:
//! nothing is truncated. This module must never store, log or return a password, must never
//! compare hash outputs in variable time (the `password-hash` crate's `Output` compares in
//! constant time), and must never verify against anything but Argon2id.

use argon2::password_hash::{self, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use crypto::{Zeroizing, random_bytes};

use crate::encoding::base64;
use crate::password::normalize;
use crate::{Error, Result};

/// Bytes of random salt in every hash this crate writes.
const SALT_LEN: usize = 16;
/// Bytes of Argon2 output in every hash this crate writes.
const OUTPUT_LEN: usize = 32;
/// Shortest stored output this crate will verify against: anything shorter is not its own and
/// would make a guess too likely to pass.
const MIN_VERIFY_OUTPUT_LEN: usize = 16;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations (passes over the memory).
    pub t: u32,
    /// Lanes (degree of parallelism).
    pub p: u32,
}

impl HashParams {
    /// OWASP Password Storage Cheat Sheet: Argon2id with 19 MiB, 2 iterations, 1 lane.
    pub const OWASP: Self = Self {
        m_kib: 19_456,
        t: 2,
        p: 1,
    };

    /// The nearest parameters Argon2 accepts: at least 1 lane (at most 2²⁴ − 1), 1 iteration
    /// and 8 KiB per lane.
    fn clamped(&self) -> Self {
        let p = self.p.clamp(Params::MIN_P_COST, Params::MAX_P_COST);
        Self {
            m_kib: self.m_kib.max(p * 8).max(Params::MIN_M_COST),
            t: self.t.max(Params::MIN_T_COST),
            p,
        }
    }
}

impl Default for HashParams {
    fn default() -> Self {
        Self::OWASP
    }
}

/// [`HashParams::OWASP`], as a free constant.
pub const OWASP: HashParams = HashParams::OWASP;

/// Hashes the NFKC form of `password` with Argon2id under `params` and a fresh random salt.
/// Fails only for parameters Argon2 refuses ([`Error::HashParams`]).
pub fn hash_password(password: &str, params: &HashParams) -> Result<String> {
    let normalized = normalize(password);
    hash_bytes(normalized.as_bytes(), params)
}

/// Whether the NFKC form of `password` matches the Argon2id PHC string `phc`, computed with the
/// parameters stored in `phc`. `Err` only when `phc` is malformed or not Argon2id.
pub fn verify_password(password: &str, phc: &str) -> Result<bool> {
    let parsed = parse(phc)?;
    let normalized = normalize(password);
    match Argon2::default().verify_password(normalized.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Error::MalformedHash(e.to_string())),
    }
}

/// Whether `phc` should be replaced by a fresh hash at `params` (do it right after a successful
/// verification, while the password is at hand): true when its parameters differ from `params`
/// (weaker or stronger), when it is not Argon2id version 19 with a 16-byte salt and a 32-byte
/// output, or when it is malformed.
pub fn needs_rehash(phc: &str, params: &HashParams) -> bool {
    let Ok(parsed) = parse(phc) else {
        return true;
    };
    let Ok(stored) = Params::try_from(&parsed) else {
        return true;
    };
    let mut salt_buf = [0u8; 64];
    let salt_len = parsed
        .salt
        .and_then(|salt| salt.decode_b64(&mut salt_buf).ok())
        .map_or(0, <[u8]>::len);
    let output_len = parsed.hash.map_or(0, |output| output.len());
    parsed.version != Some(u32::from(Version::V0x13))
        || stored.m_cost() != params.m_kib
        || stored.t_cost() != params.t
        || stored.p_cost() != params.p
        || salt_len != SALT_LEN
        || output_len != OUTPUT_LEN
}

/// A valid Argon2id hash of a random, forgotten 32-byte secret at `params` (clamped to what
/// Argon2 accepts). Verify unknown users' passwords against it so that an unknown user costs the
/// same time as a known one (no user enumeration). Compute it once at start-up and keep it; no
/// password verifies against it.
pub fn dummy_hash(params: &HashParams) -> String {
    let params = params.clamped();
    let mut secret = Zeroizing::new([0u8; 32]);
    random_bytes(secret.as_mut_slice());
    match hash_bytes(secret.as_slice(), &params) {
        Ok(phc) => phc,
        // Unreachable with clamped parameters; still never panic: random output bytes are as
        // good as the hash of a forgotten secret, and verifying against them costs the same.
        Err(_) => unverifiable_phc(&params),
    }
}

/// Argon2id of `secret` under `params` and a fresh 16-byte salt, as a PHC string.
fn hash_bytes(secret: &[u8], params: &HashParams) -> Result<String> {
    let argon2 = argon2id(params)?;
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Hashing(e.to_string()))?;
    let phc = argon2
        .hash_password(secret, &salt)
        .map_err(|e| Error::Hashing(e.to_string()))?;
    Ok(phc.to_string())
}

/// An Argon2id v19 hasher with `params` and a 32-byte output.
fn argon2id(params: &HashParams) -> Result<Argon2<'static>> {
    let params = Params::new(params.m_kib, params.t, params.p, Some(OUTPUT_LEN))
        .map_err(|e| Error::HashParams(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Parses `phc`, refusing anything but Argon2id with a salt and an output of at least
/// [`MIN_VERIFY_OUTPUT_LEN`] bytes.
fn parse(phc: &str) -> Result<PasswordHash<'_>> {
    let parsed = PasswordHash::new(phc).map_err(|e| Error::MalformedHash(e.to_string()))?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(Error::MalformedHash("not an Argon2id hash".to_owned()));
    }
    if parsed.salt.is_none() {
        return Err(Error::MalformedHash("no salt".to_owned()));
    }
    match parsed.hash {
        Some(output) if output.len() >= MIN_VERIFY_OUTPUT_LEN => Ok(parsed),
        Some(_) => Err(Error::MalformedHash("hash output too short".to_owned())),
        None => Err(Error::MalformedHash("no hash output".to_owned())),
    }
}

/// A well-formed Argon2id PHC string at `params` with a random salt and a random output.
fn unverifiable_phc(params: &HashParams) -> String {
    let mut salt = [0u8; SALT_LEN];
    let mut output = [0u8; OUTPUT_LEN];
    random_bytes(&mut salt);
    random_bytes(&mut output);
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_kib,
        params.t,
        params.p,
        base64(&salt).as_str(),
        base64(&output).as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashParams = HashParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[test]
    fn clamping_reaches_parameters_argon2_accepts() {
        let cases = [
            ((0, 0, 0), (8, 1, 1)),
            ((8, 1, 4), (32, 1, 4)),
            ((19_456, 2, 1), (19_456, 2, 1)),
            ((1, 1, u32::MAX), (0xFF_FFFF * 8, 1, 0xFF_FFFF)),
        ];
        for ((m_kib, t, p), (want_m, want_t, want_p)) in cases {
            let clamped = HashParams { m_kib, t, p }.clamped();
            assert_eq!(
                (clamped.m_kib, clamped.t, clamped.p),
                (want_m, want_t, want_p),
                "clamping m={m_kib} t={t} p={p}"
            );
        }
        assert!(
            argon2id(
                &HashParams {
                    m_kib: 0,
                    t: 0,
                    p: 0
                }
                .clamped()
            )
            .is_ok()
        );
    }

    #[test]
    fn the_fallback_dummy_is_well_formed_and_never_verifies() {
        let phc = unverifiable_phc(&CHEAP);
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(!needs_rehash(&phc, &CHEAP), "{phc}");
        assert_eq!(verify_password("", &phc), Ok(false));
    }

    #[test]
    fn the_dummy_is_a_real_hash_at_the_given_parameters() {
        let phc = dummy_hash(&CHEAP);
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(!needs_rehash(&phc, &CHEAP));
        assert_eq!(verify_password("", &phc), Ok(false));
        let invalid = dummy_hash(&HashParams {
            m_kib: 0,
            t: 0,
            p: 0,
        });
        assert!(
            invalid.starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
            "{invalid}"
        );
    }
}
