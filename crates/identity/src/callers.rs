//! A cache of authenticated callers, keyed by the hash of their session or token secret, so that
//! a request does not read the session or token, the user, the tenant and the custom role from
//! the state and open the role's sealed definition every time.
//!
//! Correctness rests on [`engine::Engine::epoch`]: an entry is stored with the epoch read
//! *before* its documents were read, and is used only while the epoch has not moved. Every
//! committed change other than record data and activity moves it (logout, revocation, disabling,
//! deletion, role or role-definition change, password change, tenant suspension, a new login),
//! so a cached caller never outlives a change that could affect it. What depends on time
//! (expiry, idle timeout) is checked on every request by the callers of this cache, on the
//! cached document. Only callers that passed every check are stored; failures are never cached.
//! Bounded: at most [`MAX_ENTRIES`]; when full, stale entries go, then everything.

use std::collections::HashMap;
use std::sync::Mutex;

use engine::model::{SessionDoc, TokenDoc};

use crate::Caller;

/// Largest number of cached callers.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// The document whose time-dependent checks run on every request.
#[derive(Clone)]
pub(crate) enum Credential {
    Session(SessionDoc),
    Token(TokenDoc),
}

#[derive(Clone)]
struct Entry {
    epoch: u64,
    credential: Credential,
    caller: Caller,
}

#[derive(Default)]
pub(crate) struct Callers {
    map: Mutex<HashMap<[u8; 32], Entry>>,
}

impl Callers {
    /// The cached caller behind `hash`, if it was cached at `epoch` (the current one).
    pub(crate) fn get(&self, hash: &[u8; 32], epoch: u64) -> Option<(Credential, Caller)> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .filter(|e| e.epoch == epoch)
            .map(|e| (e.credential.clone(), e.caller.clone()))
    }

    /// Remembers a caller whose documents were read after `epoch` was read.
    pub(crate) fn put(&self, hash: [u8; 32], epoch: u64, credential: Credential, caller: Caller) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.epoch == epoch);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            hash,
            Entry {
                epoch,
                credential,
                caller,
            },
        );
    }
}
