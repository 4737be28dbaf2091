//! Opening (and on first run, initialising) the engine: locks, master key, keyring, journal
//! recovery, derived-state catch-up, and the bootstrap token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crypto::Secret;
use keyring::{Keyring, MasterKey};
use state_sqlite::StateStore;
use types::{Clock, SystemClock};

use crate::apply::Applier;
use crate::trail::Auditor;
use crate::{Engine, Error, Inner, Paths, Result, lock};

/// Entries applied per state transaction during catch-up.
const REPLAY_CHUNK: usize = 512;

/// How to open.
#[derive(Clone)]
pub struct Options {
    pub segment_bytes: u64,
    pub clock: Arc<dyn Clock>,
    /// Initialise empty locations (serve) or refuse them (admin commands).
    pub create: bool,
    /// The audit signing key file; `None`: [`Paths::default_audit_key_file`].
    pub audit_key_file: Option<std::path::PathBuf>,
    /// Events between two audit checkpoints.
    pub audit_checkpoint_events: u64,
    /// This node's name in audit events; `None`: the host name.
    pub node: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            segment_bytes: 64 * 1024 * 1024,
            clock: Arc::new(SystemClock),
            create: false,
            audit_key_file: None,
            audit_checkpoint_events: audit::log::DEFAULT_EVERY,
            node: None,
        }
    }
}

/// An open engine and what opening it did.
pub struct Opened {
    pub engine: Engine,
    /// Human-readable lines: what was created, repaired or replayed.
    pub report: Vec<String>,
    /// Present only on the run that initialised the locations: print once, never store.
    pub bootstrap_token: Option<Secret<String>>,
}

fn load_keys(paths: &Paths, fresh: bool, now: i64, report: &mut Vec<String>) -> Result<Keyring> {
    let dirs = paths.keyring_dirs();
    if !fresh {
        let master = keyring::load_master_for(&paths.key_file, &dirs)?;
        let (keys, lines) = Keyring::open(dirs, &master)?;
        report.extend(lines);
        return Ok(keys);
    }
    let master = if paths.key_file.exists() {
        report.push(format!(
            "using the existing master key {}",
            paths.key_file.display()
        ));
        MasterKey::load(&paths.key_file)?
    } else {
        let key = MasterKey::create(&paths.key_file)?;
        report.push(format!(
            "created master key {} (mode 0600, fingerprint {}); keep a copy offline: without it \
             the data cannot be read",
            paths.key_file.display(),
            key.fingerprint()
        ));
        key
    };
    let mut keys = Keyring::create(dirs.clone(), &master, now)?;
    keys.add_scope("system", now)?;
    report.push(format!(
        "created keyring in {} and {}",
        dirs[0].display(),
        dirs[1].display()
    ));
    Ok(keys)
}

impl Engine {
    /// Opens the engine at `paths`; see [`Options::create`].
    pub fn open(paths: &Paths, options: Options) -> Result<Opened> {
        let locks = lock::acquire(&paths.lock_files())?;
        let fresh = paths.is_fresh();
        if fresh && !options.create {
            return Err(Error::NotInitialised {
                data: paths.data.clone(),
            });
        }
        let mut report = Vec::new();
        let now = options.clock.now().millis();
        let keys = Arc::new(RwLock::new(load_keys(paths, fresh, now, &mut report)?));
        let state = Arc::new(StateStore::open(&paths.state())?);
        let epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let applier = Applier {
            keys: Arc::clone(&keys),
            state: Arc::clone(&state),
            epoch: Arc::clone(&epoch),
        };
        let state_failed = Arc::new(AtomicBool::new(false));
        let hook = {
            let applier = applier.clone();
            let failed = Arc::clone(&state_failed);
            Box::new(move |entries: &[journal::Entry]| {
                applier.apply(entries).map_err(|e| {
                    failed.store(true, Ordering::SeqCst);
                    tracing::error!(error = %e, "derived state update failed; writes now refused");
                    e.to_string()
                })
            })
        };
        let mut config = journal::JournalConfig::new(paths.journal_a(), paths.journal_b());
        config.segment_bytes = options.segment_bytes;
        let (journal, journal_report) = journal::Journal::open(config, hook)?;
        report.extend(journal_report.to_string().lines().map(str::to_owned));
        catch_up(&journal, &applier, &mut report)?;
        let audit = open_audit(paths, &options, &mut report)?;
        let engine = Engine {
            inner: Arc::new(Inner {
                paths: paths.clone(),
                journal,
                keys,
                state,
                clock: options.clock,
                state_failed,
                epoch,
                audit,
                keyring_failed: std::sync::OnceLock::new(),
                restoring: std::sync::Mutex::new(()),
                _locks: locks,
            }),
        };
        crate::trail::catch_up_index(&engine, &mut report)?;
        crate::trail::recover_unaudited(&engine, &applier, &mut report)?;
        let bootstrap_token = if fresh {
            let (_, secret) = engine.issue_bootstrap_token_blocking()?;
            report
                .push("issued the bootstrap system-admin token (shown once, stored hashed)".into());
            Some(secret)
        } else {
            None
        };
        Ok(Opened {
            engine,
            report,
            bootstrap_token,
        })
    }
}

/// The audit signing key (created beside the master key on first use), the audit log and its
/// index.
fn open_audit(paths: &Paths, options: &Options, report: &mut Vec<String>) -> Result<Auditor> {
    let key_file = options
        .audit_key_file
        .clone()
        .unwrap_or_else(|| paths.default_audit_key_file());
    let key = if key_file.exists() {
        keyring::load_signing_key(&key_file)?
    } else {
        let key = keyring::create_signing_key(&key_file)?;
        report.push(format!(
            "created the audit signing key {} (mode 0600, public key fingerprint {}); \
             `strongroom audit pubkey` prints the public key: store it apart from this server",
            key_file.display(),
            crypto::public_key_fingerprint(&key.public_key())
        ));
        key
    };
    let [a, b] = paths.audit_dirs();
    let mut config = journal::JournalConfig::new(a, b);
    config.segment_bytes = options.segment_bytes;
    let log = audit::AuditLog::open_with(
        config,
        key,
        Arc::clone(&options.clock),
        options.audit_checkpoint_events,
    )?;
    let index = state_sqlite::AuditIndex::open(&paths.audit_index())?;
    let node = options.node.clone().unwrap_or_else(host_name);
    Ok(Auditor {
        log,
        index,
        node,
        key_file,
        feed: tokio::sync::broadcast::channel(crate::trail::FEED_CAPACITY).0,
        failed: std::sync::OnceLock::new(),
    })
}

/// The host's name (Linux), or `strongroom` when it can not be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "strongroom".to_owned())
}

/// Brings the state up to the journal head; resets it when it does not belong to this journal.
pub(crate) fn catch_up(
    journal: &journal::Journal,
    applier: &Applier,
    report: &mut Vec<String>,
) -> Result<()> {
    let head = journal.head();
    let applied = applier.state.applied()?;
    let matches = if applied.seq == 0 {
        true
    } else if applied.seq > head.seq {
        false
    } else {
        let entry = journal.read_from(applied.seq)?.next().transpose()?;
        entry.is_some_and(|e| e.seq == applied.seq && e.hash == applied.hash)
    };
    if !matches {
        report.push(format!(
            "derived state (at seq {}) does not match the journal (head {}); rebuilding it",
            applied.seq, head.seq
        ));
        applier.state.reset()?;
    }
    let from = applier.state.applied()?.seq + 1;
    let mut chunk = Vec::with_capacity(REPLAY_CHUNK);
    let mut replayed = 0u64;
    for entry in journal.read_from(from)? {
        chunk.push(entry?);
        if chunk.len() == REPLAY_CHUNK {
            applier.apply(&chunk)?;
            replayed += chunk.len() as u64;
            chunk.clear();
        }
    }
    applier.apply(&chunk)?;
    replayed += chunk.len() as u64;
    if replayed > 0 {
        report.push(format!(
            "replayed {replayed} journal entries into the derived state"
        ));
    }
    Ok(())
}
