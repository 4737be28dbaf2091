//! The records service (P5, P9): collections with declared schemas, records sealed under the
//! tenant key, equality filters through keyed blind indexes, optimistic concurrency (versions)
//! and idempotent creation; data subjects' records sealed under their own keys and erased by
//! destroying them (`subjects`).
//!
//! Knows neither HTTP nor SQL. Callers authorise with `access::authorize` before calling; this
//! crate applies owner-only rules to what it returns. It never stores a value a person typed
//! unsealed, and never lets a client name a storage location.

pub mod attachments;
mod collections;
mod error;
mod records;
pub mod schema;
pub mod subjects;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use engine::Engine;

pub use attachments::{AttachmentView, Download};
pub use collections::{Collection, CollectionView};
pub use error::{Error, Result};
pub use records::{Found, IfMatch, ListOptions, MAX_PAGE, RecordData, RecordPage, RecordView};

/// The records service; cheap to clone.
#[derive(Clone)]
pub struct Records {
    engine: Engine,
    locks: Arc<Locks>,
    collections: Arc<collections::CollectionCache>,
    blobs: Arc<std::sync::OnceLock<blobstore::BlobStore>>,
    /// Content types attachments may have.
    pub allowed_types: Arc<Vec<String>>,
    /// Largest attachment, in bytes.
    pub max_attachment_bytes: u64,
}

/// Default attachment size limit: 10 MiB.
pub const DEFAULT_MAX_ATTACHMENT: u64 = 10 * 1024 * 1024;

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
            collections: Arc::default(),
            blobs: Arc::new(std::sync::OnceLock::new()),
            allowed_types: Arc::new(
                attachments::DEFAULT_TYPES
                    .iter()
                    .map(|t| (*t).to_owned())
                    .collect(),
            ),
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT,
        }
    }

    /// The blob store in both locations (opened on first use).
    pub(crate) fn blobs(&self) -> Result<&blobstore::BlobStore> {
        if let Some(b) = self.blobs.get() {
            return Ok(b);
        }
        let store = blobstore::BlobStore::open(self.engine.paths().blob_dirs())
            .map_err(|e| Error::Storage(e.to_string()))?;
        Ok(self.blobs.get_or_init(|| store))
    }

    pub(crate) fn idempotency_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.get(&format!("idem:{id}"))
    }

    pub(crate) fn version_lock(&self, record: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.get(&format!("rec:{record}"))
    }
}
