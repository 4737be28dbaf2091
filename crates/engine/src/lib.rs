//! The system of record. Every durable change is an [`Event`], sealed under its scope's data key
//! into a journal entry, appended to the mirrored journal, and applied to the derived state
//! before the writer is acknowledged (read-your-writes).
//!
//! This crate ties the storage crates together (journal, keyring, state); it knows no HTTP and
//! writes no SQL itself. It must never write plaintext a tenant supplied anywhere but into
//! `crypto::seal`.

mod apply;
pub mod archive;
mod envelope;
pub mod event;
pub mod fields;
mod gauges;
pub mod lock;
pub mod model;
mod open;
mod paths;
mod rebuild;
mod restore;
mod seal;
pub mod shred;
pub mod trail;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crypto::Secret;
use types::{Clock, EntryId, Timestamp, TokenId};

pub use envelope::{Header, Scope};
pub use event::{Event, TokenPrincipal};
pub use gauges::DiskSpace;
pub use journal::{Health, Histogram, Position};
pub use open::{Opened, Options};
pub use paths::Paths;
pub use trail::{Draft, Recorded};

/// Takes the one-process lock on both locations without opening anything else (for commands
/// such as `repair` that must not run beside a server).
pub fn lock_dirs(paths: &Paths) -> Result<lock::DirLocks> {
    lock::acquire(&paths.lock_files())
}
pub use rebuild::{RebuildReport, rebuild_state};
pub use restore::TenantRestore;
pub use state_sqlite::{
    AuditQuery, AuditScope, RecordQuery, RecordRow, Sort, StateStore, TenantRow, TenantStatus,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is locked by another strongroom process ({holder}); stop it first, or use the \
         API of the running server"
    )]
    Locked {
        path: std::path::PathBuf,
        holder: String,
    },
    #[error(
        "no Strongroom data at {data}; run `strongroom serve` once to initialise it, or pass \
         the right --data/--mirror"
    )]
    NotInitialised { data: std::path::PathBuf },
    #[error(transparent)]
    Journal(#[from] journal::Error),
    #[error(transparent)]
    Keyring(#[from] keyring::Error),
    #[error("decryption failed: {0}")]
    Crypto(#[from] crypto::Error),
    #[error(transparent)]
    State(#[from] state_sqlite::Error),
    #[error("malformed journal entry: {0}")]
    Envelope(String),
    #[error("derived state is at seq {state_at} but the next entry to apply is {next}")]
    Gap { state_at: u64, next: u64 },
    #[error(
        "writes are refused: the derived state could not be updated ({0}); restart strongroom \
         to replay the journal"
    )]
    StateFailed(String),
    #[error(transparent)]
    Audit(#[from] ::audit::LogError),
    #[error(
        "writes are refused: the audit log could not be written ({0}); restart once both its \
         locations are writable"
    )]
    AuditRefused(String),
    #[error(
        "writes are refused: a keyring copy could not be written ({0}); restart once both \
         locations are writable (`strongroom verify`, `strongroom repair`)"
    )]
    KeyringRefused(String),
    #[error("internal lock poisoned by a panic")]
    Poisoned,
    #[error("tenant {0} does not exist")]
    UnknownTenant(types::TenantId),
    #[error("the moment {at} (Unix ms) is in the future (now: {now}); nothing to restore")]
    RestoreInFuture { at: i64, now: i64 },
    #[error(
        "tenant {tenant} did not exist yet at {at} (Unix ms; the journal up to seq {cut}): \
         nothing to restore"
    )]
    TenantAbsentAt {
        tenant: types::TenantId,
        at: i64,
        cut: u64,
    },
    #[error(
        "restoring tenant {tenant} needs a journal entry of at least {size} bytes, above the \
         journal's limit of {limit} bytes; nothing was written (restore the whole system into \
         new directories instead: `strongroom restore --at`)"
    )]
    RestoreTooLarge {
        tenant: types::TenantId,
        size: usize,
        limit: usize,
    },
    #[error(
        "the journal no longer holds its entries before seq {first}; restore that moment from \
         a backup (`strongroom restore --at`)"
    )]
    JournalTrimmed { first: u64 },
    #[error("the tenant restore stopped: {0}")]
    RestoreStopped(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the write was refused because storage cannot take it (fail closed): a journal
    /// mirror is down, the journal is degraded or closed, a keyring copy cannot be written, or
    /// the derived state failed.
    pub fn is_write_refused(&self) -> bool {
        matches!(
            self,
            Error::Journal(
                journal::Error::Unavailable { .. }
                    | journal::Error::MirrorFailed { .. }
                    | journal::Error::Closed
            ) | Error::Keyring(keyring::Error::Io { .. })
                | Error::StateFailed(_)
                | Error::Audit(_)
                | Error::AuditRefused(_)
                | Error::KeyringRefused(_)
        )
    }

    /// True when the data's keys were destroyed (a deleted tenant or erased subject): it is
    /// there as ciphertext, and nothing can open it again.
    pub fn is_shredded(&self) -> bool {
        matches!(self, Error::Keyring(keyring::Error::Destroyed { .. }))
    }
}

/// A committed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub position: Position,
    pub entry: EntryId,
    pub at: Timestamp,
}

/// The engine: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    paths: Paths,
    journal: journal::Journal,
    keys: Arc<RwLock<keyring::Keyring>>,
    state: Arc<StateStore>,
    clock: Arc<dyn Clock>,
    state_failed: Arc<AtomicBool>,
    epoch: Arc<AtomicU64>,
    audit: trail::Auditor,
    /// Why a keyring copy could not be written, once one could not: writes are refused from
    /// then on (the two copies may differ), until a restart.
    keyring_failed: std::sync::OnceLock<String>,
    /// Held by the tenant restore running (one at a time: they share a scratch file).
    restoring: std::sync::Mutex<()>,
    _locks: lock::DirLocks,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("paths", &self.inner.paths)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    pub fn state(&self) -> &StateStore {
        &self.inner.state
    }

    pub fn journal(&self) -> &journal::Journal {
        &self.inner.journal
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// A counter that moves right after the state applied an entry that changed anything but
    /// record data and activity: accounts, sessions, tokens, roles, settings, tenants,
    /// collections, keys ([`Event::changes_definitions`]). A cache of values derived from that
    /// state reads the epoch *before* reading the state, stores it beside the value, and drops
    /// the value when the epoch has moved since.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::SeqCst)
    }

    /// `Healthy` only when both mirrors take writes and the state keeps up.
    pub fn health(&self) -> Health {
        if self.inner.state_failed.load(Ordering::SeqCst) {
            return Health::Degraded {
                cause: "derived state update failed; restart to replay".into(),
            };
        }
        if let Some(cause) = self.inner.keyring_failed.get() {
            return Health::Degraded {
                cause: format!(
                    "a keyring copy could not be written ({cause}); restart once both locations are writable"
                ),
            };
        }
        if let Some(cause) = self.inner.audit.failed.get() {
            return Health::Degraded {
                cause: format!(
                    "the audit log could not be written ({cause}); restart once both its \
                     locations are writable"
                ),
            };
        }
        match self.inner.journal.health() {
            Health::Healthy => match self.inner.audit.log.health() {
                Health::Healthy => Health::Healthy,
                Health::Degraded { cause } => Health::Degraded {
                    cause: format!("audit log: {cause}"),
                },
            },
            degraded => degraded,
        }
    }

    /// `scope`'s current data key and its version.
    pub(crate) fn current(&self, scope: Scope) -> Result<(u32, Arc<crypto::Key256>)> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.current(&scope.key_name())?)
    }

    /// `scope`'s data key of `version`.
    pub(crate) fn key_of(&self, scope: Scope, version: u32) -> Result<Arc<crypto::Key256>> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.key(&scope.key_name(), version)?)
    }

    fn seal_entry(
        &self,
        scope: Scope,
        events: &[Event],
        audit: &[::audit::AuditEvent],
    ) -> Result<(Header, Vec<u8>)> {
        if self.inner.state_failed.load(Ordering::SeqCst) {
            return Err(Error::StateFailed("an earlier apply failed".into()));
        }
        if let Some(cause) = self.inner.audit.failed.get() {
            return Err(Error::AuditRefused(cause.clone()));
        }
        if let Some(cause) = self.inner.keyring_failed.get() {
            return Err(Error::KeyringRefused(cause.clone()));
        }
        let (version, key) = self.current(scope)?;
        let header = Header {
            scope,
            key_version: version,
            entry: EntryId::random(),
            at: self.now(),
        };
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&event::BodyRef { events, audit })
                .map_err(|e| Error::Envelope(e.to_string()))?,
        );
        let sealed = seal::seal(&key, &header.aad(), &body);
        Ok((header, envelope::encode(&header, &sealed)))
    }

    fn committed(&self, header: Header, appended: journal::Result<Position>) -> Result<Committed> {
        match appended {
            Ok(position) => Ok(Committed {
                position,
                entry: header.entry,
                at: header.at,
            }),
            Err(journal::Error::Hook(cause)) => Err(Error::StateFailed(cause)),
            Err(e) => Err(e.into()),
        }
    }

    /// Seals `event` under `scope`'s current key and returns once it is durable in both mirrors
    /// and applied to the state.
    pub async fn commit(&self, scope: Scope, event: &Event) -> Result<Committed> {
        self.commit_all(scope, std::slice::from_ref(event)).await
    }

    /// Commits several events as one journal entry: all of them or none.
    pub async fn commit_all(&self, scope: Scope, events: &[Event]) -> Result<Committed> {
        let audit = self.audit_events(scope, events);
        let (header, payload) = self.seal_entry(scope, events, &audit)?;
        let appended = self.inner.journal.append(payload).await;
        let committed = self.committed(header, appended)?;
        self.audit_committed(scope, committed.position.seq, audit)
            .await;
        Ok(committed)
    }

    /// [`Engine::commit`] for callers outside an async runtime (the CLI).
    pub fn commit_blocking(&self, scope: Scope, event: &Event) -> Result<Committed> {
        self.commit_all_blocking(scope, std::slice::from_ref(event))
    }

    /// [`Engine::commit_all`] for callers outside an async runtime.
    pub fn commit_all_blocking(&self, scope: Scope, events: &[Event]) -> Result<Committed> {
        let audit = self.audit_events(scope, events);
        let (header, payload) = self.seal_entry(scope, events, &audit)?;
        let appended = self.inner.journal.append_blocking(payload);
        let committed = self.committed(header, appended)?;
        self.audit_committed_blocking(scope, committed.position.seq, audit);
        Ok(committed)
    }

    /// Runs a change of the keyring; a copy that could not be written refuses every later
    /// write (fail closed: the two copies may now differ).
    fn change_keyring<T>(
        &self,
        change: impl FnOnce(&mut keyring::Keyring) -> keyring::Result<T>,
    ) -> Result<T> {
        if let Some(cause) = self.inner.keyring_failed.get() {
            return Err(Error::KeyringRefused(cause.clone()));
        }
        let mut keys = self.inner.keys.write().map_err(|_| Error::Poisoned)?;
        change(&mut keys).map_err(|e| {
            if matches!(e, keyring::Error::Io { .. }) {
                // The first cause stays.
                let _ = self.inner.keyring_failed.set(e.to_string());
                tracing::error!(error = %e, "a keyring copy could not be written; writes now refused");
            }
            Error::Keyring(e)
        })
    }

    /// Creates the data key of a new scope in the keyring (both copies) before its first entry.
    pub fn create_scope(&self, scope: Scope) -> Result<()> {
        let now = self.now().millis();
        self.change_keyring(|keys| keys.add_scope(&scope.key_name(), now))
            .map(drop)
    }

    /// Starts a new data key version for `scope`; older entries stay readable.
    pub fn rotate_key_blocking(&self, scope: Scope) -> Result<u32> {
        let now = self.now().millis();
        let version = self.change_keyring(|keys| keys.rotate(&scope.key_name(), now))?;
        self.commit_blocking(
            Scope::System,
            &Event::KeyRotated {
                scope: scope.key_name(),
                version,
            },
        )?;
        Ok(version)
    }

    /// The keyring's view of every scope (no key material).
    pub fn key_scopes(&self) -> Result<Vec<keyring::ScopeInfo>> {
        let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
        Ok(keys.scopes())
    }

    /// Issues the bootstrap system-administrator token; the secret is returned once and only
    /// its hash is kept.
    pub fn issue_bootstrap_token_blocking(&self) -> Result<(TokenId, Secret<String>)> {
        let secret = crypto::generate_token("srt_");
        let token = TokenId::random();
        let doc = model::TokenDoc {
            id: token,
            tenant: None,
            principal: TokenPrincipal::SystemAdmin,
            owner: None,
            hash: event::Blob(crypto::token_hash(secret.expose()).to_vec()),
            scopes: None,
            label: None,
            created_at: self.now().millis(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        self.commit_blocking(Scope::System, &Event::TokenIssued { doc })?;
        Ok((token, secret))
    }

    /// The token a bearer secret belongs to, if any (revoked and expired ones included: the
    /// caller decides).
    pub fn find_token(&self, secret: &str) -> Result<Option<model::TokenDoc>> {
        self.find_doc("tokens", &crypto::token_hash(secret))
    }

    /// A document by id.
    pub fn get_doc<T: model::Document>(&self, id: &str) -> Result<Option<T>> {
        let doc = self.inner.state.get_doc(T::KIND, id)?;
        doc.map(|d| model::from_doc(&d).map_err(|e| Error::Envelope(e.to_string())))
            .transpose()
    }

    /// A document by its unique lookup key in a realm.
    pub fn find_doc<T: model::Document>(&self, realm: &str, lookup: &[u8]) -> Result<Option<T>> {
        let doc = self.inner.state.find_doc(T::KIND, realm, lookup)?;
        doc.map(|d| model::from_doc(&d).map_err(|e| Error::Envelope(e.to_string())))
            .transpose()
    }

    /// Documents of a realm ordered by id, after `after`.
    pub fn list_docs<T: model::Document>(
        &self,
        realm: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<T>> {
        let docs = self.inner.state.list_docs(T::KIND, realm, after, limit)?;
        docs.iter()
            .map(|d| model::from_doc(d).map_err(|e| Error::Envelope(e.to_string())))
            .collect()
    }

    /// Documents belonging to `parent`.
    pub fn children<T: model::Document>(&self, parent: &str) -> Result<Vec<T>> {
        let docs = self.inner.state.children(T::KIND, parent)?;
        docs.iter()
            .map(|d| model::from_doc(d).map_err(|e| Error::Envelope(e.to_string())))
            .collect()
    }

    /// A keyed hash under the scope's index key (stable across data-key rotations): the blind
    /// index for equality lookups of sealed values.
    pub fn blind_index(&self, scope: Scope, domain: &str, value: &[u8]) -> Result<[u8; 32]> {
        let key = {
            let keys = self.inner.keys.read().map_err(|_| Error::Poisoned)?;
            keys.index_key(&scope.key_name())?
        };
        Ok(crypto::keyed_hash(&key, domain, value))
    }

    /// Stops the journal writer after it drains, then signs the audit log's head and stops it.
    pub fn shutdown(&self) {
        self.inner.journal.shutdown();
        if let Err(e) = self.inner.audit.log.shutdown_blocking() {
            tracing::error!(error = %e, "the audit log's shutdown checkpoint failed");
        }
    }
}
