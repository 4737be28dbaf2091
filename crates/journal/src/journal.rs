//! The `Journal` handle: open, append (async and blocking), head, health, reads, stats, shutdown.
//!
//! Cheap to clone; every clone talks to the same writer thread. This module must never write to
//! the segment files itself (only the writer thread does) and never let an appender wait on a
//! writer that is gone: every failed hand-over becomes an error.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::ack::{Acker, Reply, blocking_pair};
use crate::config::JournalConfig;
use crate::error::{Error, Result};
use crate::mirror::{MirrorFile, MirrorWorker};
use crate::read::Entries;
use crate::recover::{OpenReport, recover};
use crate::stats::{Counters, Stats};
use crate::writer::{Msg, Request, Writer};
use crate::{Entry, Health, MAX_PAYLOAD, Position};

/// Called by the writer thread with every committed batch, in seq order, after the batch is
/// durable in both mirrors and before any appender of the batch is acknowledged. An `Err` fails
/// the batch's appends with [`Error::Hook`] and degrades the journal.
pub type CommitHook = Box<dyn FnMut(&[Entry]) -> std::result::Result<(), String> + Send>;

/// How long a lone blocking appender polls for its answer before sleeping.
const LONE_APPENDER_SPIN: Duration = Duration::from_millis(2);

/// State shared by the handles and the writer thread.
pub(crate) struct Shared {
    head: Mutex<Position>,
    /// The position before the first entry; moves only in `remove_segments_before`.
    start: Mutex<Position>,
    health: Mutex<Health>,
    closed: AtomicBool,
    /// Blocking appends submitted and not yet answered.
    blocking_in_flight: AtomicUsize,
    pub(crate) counters: Counters,
    pub(crate) dirs: [PathBuf; 2],
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn head(&self) -> Position {
        *lock(&self.head)
    }

    pub(crate) fn set_head(&self, head: Position) {
        *lock(&self.head) = head;
    }

    /// Marks the journal degraded; the first cause is kept.
    pub(crate) fn degrade(&self, cause: String) {
        let mut health = lock(&self.health);
        if *health == Health::Healthy {
            tracing::error!(%cause, "journal degraded: writes are refused from now on");
            *health = Health::Degraded { cause };
        }
    }

    pub(crate) fn degraded_cause(&self) -> Option<String> {
        match &*lock(&self.health) {
            Health::Healthy => None,
            Health::Degraded { cause } => Some(cause.clone()),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The error for an appender whose request the writer can no longer answer.
    fn gone(&self) -> Error {
        if self.is_closed() {
            return Error::Closed;
        }
        Error::Unavailable {
            cause: self
                .degraded_cause()
                .unwrap_or_else(|| "the journal writer thread stopped".to_owned()),
        }
    }
}

/// Handle to an open journal. Clones share one writer thread.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Msg>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Held while leading segments are removed, so that two removals never interleave.
    trimming: Mutex<()>,
    writer_thread: std::thread::ThreadId,
}

impl Journal {
    /// Opens the journal mirrored in `config.a` and `config.b`.
    ///
    /// Creates both directories and a first segment when both are absent or empty. Otherwise
    /// recovers: truncates torn tails of the last segments, copies what a lagging mirror lacks
    /// from the other, and refuses with [`Error::Damaged`], [`Error::Disagree`] or
    /// [`Error::MirrorMissing`] when that is not enough. The report says what was done.
    pub fn open(config: JournalConfig, hook: CommitHook) -> Result<(Journal, OpenReport)> {
        config.validate()?;
        let recovered = recover(&config.a, &config.b)?;
        let counters = Counters::default();
        let name = &recovered.last_segment;
        let a = MirrorFile::open(
            &config.a,
            name,
            recovered.last_len,
            counters.mirrors[0].clone(),
        )?;
        let b = MirrorFile::open(
            &config.b,
            name,
            recovered.last_len,
            counters.mirrors[1].clone(),
        )?;
        let b = MirrorWorker::spawn(b)?;
        let head = recovered.report.head;
        let shared = Arc::new(Shared {
            head: Mutex::new(head),
            start: Mutex::new(recovered.start),
            health: Mutex::new(Health::Healthy),
            closed: AtomicBool::new(false),
            blocking_in_flight: AtomicUsize::new(0),
            counters,
            dirs: [config.a.clone(), config.b.clone()],
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            rx,
            shared: Arc::clone(&shared),
            a,
            b,
            hook,
            head,
            seg_len: recovered.last_len,
            segment_bytes: config.segment_bytes,
            max_batch_bytes: config.max_batch_bytes,
            carry: None,
            acker: Acker::spawn(),
        };
        let handle = std::thread::Builder::new()
            .name("journal-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(|e| Error::io(&config.a, e))?;
        tracing::info!(
            a = %config.a.display(),
            b = %config.b.display(),
            head = head.seq,
            segment = %recovered.last_segment,
            first_seq = recovered.last_first_seq,
            "journal open"
        );
        let journal = Journal {
            inner: Arc::new(Inner {
                shared,
                tx,
                writer_thread: handle.thread().id(),
                writer: Mutex::new(Some(handle)),
                trimming: Mutex::new(()),
            }),
        };
        Ok((journal, recovered.report))
    }

    /// Appends one entry. Resolves when the entry is durable in both mirrors and the commit hook
    /// ran. Dropping the future does not cancel the append.
    pub async fn append(&self, payload: Vec<u8>) -> Result<Position> {
        let (tx, rx) = oneshot::channel();
        self.inner.submit(payload, Reply::Async(tx))?;
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(self.inner.shared.gone()),
        }
    }

    /// Like [`Journal::append`], blocking the calling thread. Do not call it on a tokio runtime
    /// worker thread (use `spawn_blocking` or the async `append`).
    pub fn append_blocking(&self, payload: Vec<u8>) -> Result<Position> {
        let (reply, wait) = blocking_pair();
        let shared = &self.inner.shared;
        // A lone appender polls for its answer instead of sleeping (see `BlockingWait::wait`);
        // with company it sleeps, leaving the CPU to the writer and the others.
        shared.blocking_in_flight.fetch_add(1, Ordering::SeqCst);
        let alone = || shared.blocking_in_flight.load(Ordering::Relaxed) == 1;
        let result = self
            .inner
            .submit(payload, Reply::Blocking(reply))
            .and_then(|()| {
                wait.wait(LONE_APPENDER_SPIN, alone)
                    .unwrap_or_else(|| Err(shared.gone()))
            });
        shared.blocking_in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// The last committed entry.
    pub fn head(&self) -> Position {
        self.inner.shared.head()
    }

    /// Whether writes are accepted.
    pub fn health(&self) -> Health {
        match self.inner.shared.degraded_cause() {
            None => Health::Healthy,
            Some(cause) => Health::Degraded { cause },
        }
    }

    /// Committed entries with `seq >= from_seq`, in order, up to the head at the time of the
    /// call, from the first kept entry on (see [`Journal::start`]). Reads mirror a and falls
    /// back to mirror b on any error.
    pub fn read_from(&self, from_seq: u64) -> Result<Entries> {
        let shared = &self.inner.shared;
        let first = lock(&shared.start).seq + 1;
        Ok(Entries::new(
            shared.dirs.clone(),
            from_seq.max(first),
            shared.head().seq,
        ))
    }

    /// The position before the first entry kept: [`Position::EMPTY`] until leading segments are
    /// removed.
    pub fn start(&self) -> Position {
        *lock(&self.inner.shared.start)
    }

    /// First seqs of the segment files, oldest first, from the first kept one. The last one is
    /// the segment being appended to.
    pub fn segments(&self) -> Result<Vec<u64>> {
        let start = self.start().seq;
        let listing = crate::scan::list_dir(&self.inner.shared.dirs[0])?;
        Ok(listing
            .segments
            .iter()
            .map(|s| s.first_seq)
            .filter(|s| *s > start)
            .collect())
    }

    /// Removes, in both mirrors, the whole segments before the segment whose first entry is
    /// `first_seq`, which must exist (so the segment being appended to is never removed). First
    /// the start file naming `first_seq - 1` and its chain hash is written in both mirrors, then
    /// the old files go, so that a crash at any step reopens as the old journal or finishes the
    /// removal. The only way entries leave the journal; the caller decides that they may. A
    /// failure degrades the journal (restart to finish the removal).
    pub fn remove_segments_before(&self, first_seq: u64) -> Result<crate::Removed> {
        let shared = &self.inner.shared;
        if shared.is_closed() {
            return Err(Error::Closed);
        }
        if let Some(cause) = shared.degraded_cause() {
            return Err(Error::Unavailable { cause });
        }
        let _one_at_a_time = lock(&self.inner.trimming);
        match crate::trim::remove_segments_before(&shared.dirs, first_seq) {
            Ok(removed) => {
                *lock(&shared.start) = removed.start;
                Ok(removed)
            }
            Err(e @ (Error::Io { .. } | Error::MirrorFailed { .. })) => {
                shared.degrade(format!(
                    "removing the segments before seq {first_seq} failed: {e}"
                ));
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Counters since open.
    pub fn stats(&self) -> Stats {
        self.inner.shared.counters.snapshot()
    }

    /// The bytes of the segment files in mirror a (mirror b holds the same), read from the
    /// directory now.
    pub fn size_bytes(&self) -> Result<u64> {
        let dir = &self.inner.shared.dirs[0];
        let mut total = 0;
        for segment in crate::scan::list_dir(dir)?.segments {
            let meta = std::fs::metadata(&segment.path).map_err(|e| Error::io(&segment.path, e))?;
            total += meta.len();
        }
        Ok(total)
    }

    /// Commits what is already queued, then stops the writer thread. Later appends get
    /// [`Error::Closed`]. Idempotent.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl Inner {
    fn submit(&self, payload: Vec<u8>, reply: Reply) -> Result<()> {
        if std::thread::current().id() == self.writer_thread {
            return Err(Error::Reentrant);
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::TooLarge {
                size: payload.len(),
            });
        }
        if self.shared.is_closed() {
            return Err(Error::Closed);
        }
        if let Some(cause) = self.shared.degraded_cause() {
            return Err(Error::Unavailable { cause });
        }
        self.tx
            .send(Msg::Append(Request { payload, reply }))
            .map_err(|_| self.shared.gone())
    }

    fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Msg::Shutdown);
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            if handle.thread().id() == std::thread::current().id() {
                // Called from the commit hook: the writer stops after this batch.
                return;
            }
            if handle.join().is_err() {
                tracing::error!("the journal writer thread panicked");
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}
