//! The records service (P5, P9): collections with declared schemas, records sealed under the
//! tenant key, equality filters through keyed blind indexes, optimistic concurrency (versions)
//! and idempotent creation.
//!
//! Knows neither HTTP nor SQL. Callers authorise with `access::authorize` before calling; this
//! crate applies owner-only rules to what it returns. It never stores a value a person typed
//! unsealed, and never lets a client name a storage location.

mod collections;
mod error;
mod records;
pub mod schema;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use engine::Engine;

pub use collections::{Collection, CollectionView};
pub use error::{Error, Result};
pub use records::{IfMatch, ListOptions, MAX_PAGE, RecordPage, RecordView};

/// The records service; cheap to clone.
#[derive(Clone)]
pub struct Records {
    engine: Engine,
    locks: Arc<Locks>,
}

/// Per-key locks that serialise concurrent duplicates (idempotency keys, record updates).
#[derive(Default)]
struct Locks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Locks {
    fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        Arc::clone(map.entry(key.to_owned()).or_default())
    }
}

impl Records {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            locks: Arc::new(Locks::default()),
        }
    }

    pub(crate) fn idempotency_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.get(&format!("idem:{id}"))
    }

    pub(crate) fn version_lock(&self, record: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.get(&format!("rec:{record}"))
    }
}
