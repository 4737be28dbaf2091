//! The audit log as written: a journal of its own in `audit/` of both locations, and beside it
//! the checkpoint file `checkpoints` (append-only, fdatasynced in both).
//!
//! Every [`AuditLog::every`] events (and when asked: hourly, at shutdown, before retention) a
//! signed [`Checkpoint`] over the head is appended to the chain, then its record to the
//! checkpoint file. A record is `entry seq (u64 LE) | entry hash (32) | checkpoint (196)`. If the
//! process dies between the two, [`AuditLog::open`] writes the missing records first. A failed
//! checkpoint file write closes the log: no event is accepted that could not be signed.
//! Retention (`retention`) is the only way entries leave the log; nothing here edits or deletes
//! an event.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use journal::{Journal, JournalConfig, Position};
use types::Clock;

use crate::checkpoint::{self, Checkpoint};
use crate::retention::{Pending, RetentionRecord};

/// File name of the checkpoint file in each location's `audit/` directory.
pub const CHECKPOINTS: &str = "checkpoints";
/// Bytes per record of the checkpoint file.
pub const RECORD_LEN: usize = 8 + 32 + checkpoint::LEN;
/// Default number of events between two checkpoints.
pub const DEFAULT_EVERY: u64 = 1_000;

/// What can go wrong while writing the audit log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("audit journal: {0}")]
    Journal(#[from] journal::Error),
    #[error("audit checkpoint file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit checkpoint file {path} is damaged: {reason}; run `strongroom audit verify`")]
    Damaged { path: PathBuf, reason: String },
    #[error("the audit log is closed after a failed checkpoint write; restart to recover")]
    Closed,
    #[error("an audit event payload may not start like a checkpoint or a retention record")]
    LooksLikeCheckpoint,
}

type LogResult<T> = std::result::Result<T, LogError>;

/// The audit log of one process.
pub struct AuditLog {
    pub(crate) journal: Journal,
    key: crypto::SigningKey,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) dirs: [PathBuf; 2],
    every: u64,
    since: AtomicU64,
    pub(crate) closed: AtomicBool,
    /// The last checkpoint's own entry; held while a checkpoint (or retention) is written.
    pub(crate) previous: tokio::sync::Mutex<Position>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The records of a checkpoint file.
pub fn read_records(path: &Path) -> LogResult<Vec<(Position, Checkpoint)>> {
    let mut bytes = Vec::new();
    match std::fs::File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(io(path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    }
    let damaged = |reason: String| LogError::Damaged {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() % RECORD_LEN != 0 {
        return Err(damaged(format!(
            "{} bytes is not a whole number of {RECORD_LEN}-byte records",
            bytes.len()
        )));
    }
    bytes
        .chunks(RECORD_LEN)
        .enumerate()
        .map(|(i, r)| {
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&r[..8]);
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&r[8..40]);
            let cp = Checkpoint::decode(&r[40..])
                .map_err(|e| damaged(format!("record {}: {e}", i + 1)))?;
            Ok((
                Position {
                    seq: u64::from_le_bytes(seq),
                    hash,
                },
                cp,
            ))
        })
        .collect()
}

fn record_bytes(entry: Position, cp: &Checkpoint) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_LEN);
    out.extend_from_slice(&entry.seq.to_le_bytes());
    out.extend_from_slice(&entry.hash);
    out.extend_from_slice(&cp.encode());
    out
}

impl AuditLog {
    /// Opens (or creates) the audit log in `dirs` (`<location>/audit` of both locations).
    pub fn open(
        dirs: [PathBuf; 2],
        key: crypto::SigningKey,
        clock: Arc<dyn Clock>,
        every: u64,
    ) -> LogResult<AuditLog> {
        let config = JournalConfig::new(dirs[0].clone(), dirs[1].clone());
        AuditLog::open_with(config, key, clock, every)
    }

    /// Like [`AuditLog::open`], with the journal's sizes (segment size: what retention removes
    /// whole) given in `config`. Finishes a retention that a crash interrupted.
    pub fn open_with(
        config: JournalConfig,
        key: crypto::SigningKey,
        clock: Arc<dyn Clock>,
        every: u64,
    ) -> LogResult<AuditLog> {
        let dirs = [config.a.clone(), config.b.clone()];
        let (journal, _report) = Journal::open(config, Box::new(|_| Ok(())))?;
        let mut log = AuditLog {
            journal,
            key,
            clock,
            dirs,
            every: every.max(1),
            since: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            previous: tokio::sync::Mutex::new(Position::EMPTY),
        };
        let (last, pending) = log.reconcile()?;
        *log.previous.get_mut() = last;
        if let Some(pending) = pending {
            log.finish_retention(pending)?;
        }
        Ok(log)
    }

    /// Makes both checkpoint files hold every checkpoint entry of the chain (a crash may have
    /// come between an entry and its record); returns the last checkpoint entry and the last
    /// retention record seen, which [`AuditLog::open_with`] finishes if a crash interrupted it.
    ///
    /// Reads the chain from the checkpoint before the last one recorded: a retention record
    /// lies between the two checkpoints that retention writes.
    fn reconcile(&self) -> LogResult<(Position, Option<Pending>)> {
        let mut known = Vec::new();
        for dir in &self.dirs {
            known.push(read_records(&dir.join(CHECKPOINTS))?);
        }
        let (longest, _) = known
            .iter()
            .enumerate()
            .max_by_key(|(_, r)| r.len())
            .unwrap_or((0, &known[0]));
        let base = known[longest].clone();
        let recorded = base.last().map_or(0, |(p, _)| p.seq);
        let from = base.len().checked_sub(2).map_or(1, |i| base[i].0.seq + 1);
        let mut all = base;
        let mut since = 0;
        let mut pending: Option<Pending> = None;
        for entry in self.journal.read_from(from)? {
            let entry = entry?;
            let at = Position {
                seq: entry.seq,
                hash: entry.hash,
            };
            let damaged = |e: crate::Error| LogError::Damaged {
                path: self.dirs[0].clone(),
                reason: format!("entry {}: {e}", entry.seq),
            };
            if Checkpoint::is_checkpoint(&entry.payload) {
                let cp = Checkpoint::decode(&entry.payload).map_err(damaged)?;
                if entry.seq > recorded {
                    all.push((at, cp));
                }
                since = 0;
                if let Some(p) = pending.as_mut() {
                    p.signed = true;
                }
                continue;
            }
            if RetentionRecord::is_retention(&entry.payload) {
                let record = RetentionRecord::decode(&entry.payload).map_err(damaged)?;
                pending = Some(Pending {
                    record,
                    signed: false,
                });
            }
            since += 1;
        }
        for (i, dir) in self.dirs.iter().enumerate() {
            let have = known[i].len();
            if have > all.len() || known[i][..] != all[..have] {
                return Err(LogError::Damaged {
                    path: dir.join(CHECKPOINTS),
                    reason: "it disagrees with the chain or the other location's file".into(),
                });
            }
            for (entry, cp) in &all[have..] {
                self.append_record(dir, *entry, cp)?;
            }
        }
        self.since.store(since, Ordering::SeqCst);
        Ok((all.last().map_or(Position::EMPTY, |(p, _)| *p), pending))
    }

    fn append_record(&self, dir: &Path, entry: Position, cp: &Checkpoint) -> LogResult<()> {
        let path = dir.join(CHECKPOINTS);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(&record_bytes(entry, cp))
            .map_err(io(&path))?;
        file.sync_data().map_err(io(&path))
    }

    /// How many events a checkpoint is written after.
    pub fn every(&self) -> u64 {
        self.every
    }

    /// Appends one (sealed) event; writes a checkpoint when one is due.
    pub async fn record(&self, payload: Vec<u8>) -> LogResult<Position> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(LogError::Closed);
        }
        if Checkpoint::is_checkpoint(&payload) || RetentionRecord::is_retention(&payload) {
            return Err(LogError::LooksLikeCheckpoint);
        }
        let at = self.journal.append(payload).await?;
        if self.since.fetch_add(1, Ordering::SeqCst) + 1 >= self.every {
            self.checkpoint().await?;
        }
        Ok(at)
    }

    /// [`AuditLog::record`] for callers outside an async runtime (start-up, the command line).
    /// It never writes the checkpoint itself: the next asynchronous record, the hourly
    /// checkpoint or the shutdown does.
    pub fn record_blocking(&self, payload: Vec<u8>) -> LogResult<Position> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(LogError::Closed);
        }
        if Checkpoint::is_checkpoint(&payload) {
            return Err(LogError::LooksLikeCheckpoint);
        }
        let at = self.journal.append_blocking(payload)?;
        self.since.fetch_add(1, Ordering::SeqCst);
        Ok(at)
    }

    /// The entries (events and checkpoints) from `seq` on, up to the head at the time of the call.
    pub fn read_from(&self, seq: u64) -> LogResult<journal::Entries> {
        Ok(self.journal.read_from(seq)?)
    }

    /// The public half of the signing key.
    pub fn public_key(&self) -> [u8; crypto::PUBLIC_KEY_LEN] {
        self.key.public_key()
    }

    /// Signs a deletion receipt's document (see [`crate::statement`]).
    pub fn sign_deletion_receipt(&self, document: &[u8]) -> [u8; crypto::SIGNATURE_LEN] {
        self.key
            .sign(&crate::statement::deletion_receipt_message(document))
    }

    /// [`AuditLog::checkpoint`] outside an async runtime; skipped when a checkpoint is being
    /// written at that moment (that one covers the head).
    pub fn checkpoint_blocking(&self) -> LogResult<Option<Checkpoint>> {
        let Ok(mut previous) = self.previous.try_lock() else {
            return Ok(None);
        };
        let Some(cp) = self.next_checkpoint(&previous) else {
            return Ok(None);
        };
        let entry = self.journal.append_blocking(cp.encode())?;
        self.file_checkpoint(entry, &cp, &mut previous)?;
        Ok(Some(cp))
    }

    /// Signs the current head now (unless nothing happened since the last checkpoint).
    pub async fn checkpoint(&self) -> LogResult<Option<Checkpoint>> {
        let mut previous = self.previous.lock().await;
        self.checkpoint_locked(&mut previous).await
    }

    /// [`AuditLog::checkpoint`] with the checkpoint lock already held.
    pub(crate) async fn checkpoint_locked(
        &self,
        previous: &mut Position,
    ) -> LogResult<Option<Checkpoint>> {
        let Some(cp) = self.next_checkpoint(previous) else {
            return Ok(None);
        };
        let entry = self.journal.append(cp.encode()).await?;
        self.file_checkpoint(entry, &cp, previous)?;
        Ok(Some(cp))
    }

    /// The checkpoint over the current head, `None` when nothing happened since `previous`.
    pub(crate) fn next_checkpoint(&self, previous: &Position) -> Option<Checkpoint> {
        let head = self.journal.head();
        if head == *previous {
            return None;
        }
        self.since.store(0, Ordering::SeqCst);
        let at = self.clock.now().millis();
        Some(Checkpoint::sign(&self.key, head, at, *previous))
    }

    /// Appends the record of the checkpoint written as `entry` to both checkpoint files; a
    /// failure closes the log.
    pub(crate) fn file_checkpoint(
        &self,
        entry: Position,
        cp: &Checkpoint,
        previous: &mut Position,
    ) -> LogResult<()> {
        for dir in &self.dirs {
            if let Err(e) = self.append_record(dir, entry, cp) {
                self.closed.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        *previous = entry;
        Ok(())
    }

    /// The chain's head.
    /// Where the chain starts: `{0, zero}`, or after the segments retention removed.
    pub fn start(&self) -> Position {
        self.journal.start()
    }

    pub fn head(&self) -> Position {
        self.journal.head()
    }

    /// Writes a last checkpoint and stops the journal.
    pub async fn shutdown(&self) -> LogResult<()> {
        let result = self.checkpoint().await.map(drop);
        self.journal.shutdown();
        result
    }

    /// [`AuditLog::shutdown`] outside an async runtime.
    pub fn shutdown_blocking(&self) -> LogResult<()> {
        let result = self.checkpoint_blocking().map(drop);
        self.journal.shutdown();
        result
    }

    /// Whether the log takes events: both mirrors and the checkpoint file are writable.
    pub fn health(&self) -> journal::Health {
        if self.closed.load(Ordering::SeqCst) {
            return journal::Health::Degraded {
                cause: "the audit checkpoint file could not be written".into(),
            };
        }
        self.journal.health()
    }
}
