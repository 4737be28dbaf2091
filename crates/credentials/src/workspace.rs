//! Argon2id with reusable working memory. A server that hashes many passwords keeps one
//! [`Workspace`] per hashing slot instead of asking the allocator for `m_kib` of fresh memory per
//! hash: the allocator would otherwise keep freed buffers in per-thread arenas, and the process
//! would hold far more than slots × `m_kib`. Results are byte-identical to [`crate::hash`].
//!
//! The workspace is wiped after every use, so no password-derived block outlives the call.

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use crypto::random_bytes;
use zeroize::Zeroize;

use crate::hash::HashParams;
use crate::password::normalize;
use crate::{Error, Result};

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;
const MIN_VERIFY_OUTPUT_LEN: usize = 16;

/// Working memory for one Argon2 computation at a time.
pub struct Workspace {
    blocks: Vec<Block>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workspace({} KiB)", self.blocks.len())
    }
}

impl Workspace {
    /// Allocates `params.m_kib` KiB once.
    pub fn new(params: &HashParams) -> Workspace {
        Workspace {
            blocks: vec![Block::default(); params.m_kib as usize],
        }
    }

    /// Runs `f` over exactly `count` blocks (growing once if needed), then wipes them.
    fn with<T>(&mut self, count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        let out = f(&mut self.blocks[..count]);
        for block in &mut self.blocks[..count] {
            block.as_mut().zeroize();
        }
        out
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// [`crate::hash_password`] in `ws`.
pub fn hash_password_in(password: &str, params: &HashParams, ws: &mut Workspace) -> Result<String> {
    let normalized = normalize(password);
    let p = Params::new(params.m_kib, params.t, params.p, Some(OUTPUT_LEN))
        .map_err(|e| Error::HashParams(e.to_string()))?;
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt);
    let mut out = [0u8; OUTPUT_LEN];
    let a = argon2(p.clone());
    ws.with(p.block_count(), |blocks| {
        a.hash_password_into_with_memory(normalized.as_bytes(), &salt, &mut out, blocks)
    })
    .map_err(|e| Error::Hashing(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Hashing(e.to_string()))?;
    let output = Output::new(&out).map_err(|e| Error::Hashing(e.to_string()))?;
    out.zeroize();
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_kib,
        params.t,
        params.p,
        salt.as_str(),
        output
    ))
}

/// [`crate::verify_password`] in `ws`.
pub fn verify_password_in(password: &str, phc: &str, ws: &mut Workspace) -> Result<bool> {
    let parsed = PasswordHash::new(phc).map_err(|e| Error::MalformedHash(e.to_string()))?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(Error::MalformedHash("not an Argon2id hash".to_owned()));
    }
    let expected = parsed
        .hash
        .ok_or_else(|| Error::MalformedHash("no hash output".to_owned()))?;
    if expected.len() < MIN_VERIFY_OUTPUT_LEN {
        return Err(Error::MalformedHash("hash output too short".to_owned()));
    }
    let salt = parsed
        .salt
        .ok_or_else(|| Error::MalformedHash("no salt".to_owned()))?;
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| Error::MalformedHash(e.to_string()))?;
    let p = Params::try_from(&parsed).map_err(|e| Error::MalformedHash(e.to_string()))?;
    let p = Params::new(p.m_cost(), p.t_cost(), p.p_cost(), Some(expected.len()))
        .map_err(|e| Error::MalformedHash(e.to_string()))?;
    let normalized = normalize(password);
    let mut out = vec![0u8; expected.len()];
    let a = argon2(p.clone());
    ws.with(p.block_count(), |blocks| {
        a.hash_password_into_with_memory(normalized.as_bytes(), salt, &mut out, blocks)
    })
    .map_err(|e| Error::MalformedHash(e.to_string()))?;
    let ok = crypto::ct_eq(&out, expected.as_bytes());
    out.zeroize();
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{HashParams, hash_password, verify_password};

    const P: HashParams = HashParams {
        m_kib: 1024,
        t: 2,
        p: 1,
    };

    #[test]
    fn workspace_hashes_interoperate_with_the_plain_functions() {
        let mut ws = Workspace::new(&P);
        let a = hash_password_in("correct horse battery staple", &P, &mut ws).expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=2,p=1$"), "{a}");
        assert!(verify_password("correct horse battery staple", &a).expect("verify"));
        let b = hash_password("correct horse battery staple", &P).expect("hash");
        assert!(verify_password_in("correct horse battery staple", &b, &mut ws).expect("verify"));
        assert!(!verify_password_in("correct horse battery stapl", &b, &mut ws).expect("verify"));
        assert!(
            verify_password_in(
                "x",
                "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                &mut ws
            )
            .is_err()
        );
    }

    #[test]
    fn a_small_workspace_grows_for_a_costlier_stored_hash() {
        let small = HashParams {
            m_kib: 64,
            t: 1,
            p: 1,
        };
        let mut ws = Workspace::new(&small);
        let phc = hash_password("passphrase of some length", &P).expect("hash");
        assert!(verify_password_in("passphrase of some length", &phc, &mut ws).expect("verify"));
    }
}
