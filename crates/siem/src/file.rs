//! The file sink: one line per event (`render_line()` and `\n`) appended to a file of mode 0600
//! by a thread of its own. Each batch of queued lines is one write; the file is fdatasynced at
//! most every `sync_ms` (and within `sync_ms` of the last write), before a rotation and at
//! shutdown. A failed write is logged with the path (never the line), counted and retried with
//! backoff; lines that arrive meanwhile wait in a bounded queue, and what can not be queued is
//! counted as dropped.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use audit::AuditEvent;
use tokio::sync::oneshot;

use crate::counters::{Backoff, Counters, finish};
use crate::rotate::Writer;
use crate::{Error, Result, Stats};

const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);
const SINK: &str = "file sink";

/// Where and how the file sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSinkOptions {
    /// The file; rotated copies are `<path>.1` (newest) … `<path>.<keep>`.
    pub path: PathBuf,
    /// Size after which the file is rotated (between lines; a longer line gets its own file).
    pub max_bytes: u64,
    /// Rotated files kept; 0 keeps none.
    pub keep: u32,
    /// Longest time written lines stay without fdatasync; 0 syncs every batch.
    pub sync_ms: u64,
    /// Lines that may wait for the writer; beyond, lines are dropped and counted.
    pub queue: usize,
}

impl FileSinkOptions {
    /// Defaults: 100 MiB files, 10 kept, synced every second, 10,000 lines queued.
    pub fn new(path: impl Into<PathBuf>) -> FileSinkOptions {
        FileSinkOptions {
            path: path.into(),
            max_bytes: 100 * 1024 * 1024,
            keep: 10,
            sync_ms: 1_000,
            queue: 10_000,
        }
    }
}

/// The running file sink.
#[derive(Debug)]
pub struct FileSink {
    tx: SyncSender<String>,
    counters: Arc<Counters>,
    /// The writer thread's answer at its end: lines left unwritten.
    done: oneshot::Receiver<u64>,
}

impl FileSink {
    /// Opens the file (refusing a symlink or a file open to group or others) and starts the
    /// writer thread.
    pub fn start(options: FileSinkOptions) -> Result<FileSink> {
        if options.max_bytes == 0 || options.queue == 0 {
            return Err(Error::Option {
                name: "audit.file_sink",
                message: "max_bytes and queue must be at least 1".into(),
            });
        }
        let writer = Writer::open(&options.path, options.max_bytes, options.keep)?;
        let (tx, rx) = mpsc::sync_channel(options.queue);
        let (done_tx, done) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            writer,
            rx,
            counters: Arc::clone(&counters),
            pending: VecDeque::new(),
            cap: options.queue,
            sync_every: Duration::from_millis(options.sync_ms),
            last_sync: Instant::now(),
        };
        std::thread::Builder::new()
            .name("audit-file-sink".into())
            .spawn(move || {
                let _ = done_tx.send(worker.run());
            })
            .map_err(|source| Error::Io {
                path: options.path.clone(),
                source,
            })?;
        Ok(FileSink { tx, counters, done })
    }

    /// Queues the event's line; never blocks. A full queue counts the line as dropped.
    pub fn send(&self, event: &AuditEvent) {
        if self.tx.try_send(event.render_line()).is_err() {
            self.counters.dropped(1);
        }
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped_count()
    }

    /// Delivered, dropped and failure counts, and the last failure.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Writes what is queued, fdatasyncs and stops the thread; returns the final counters.
    /// Lines that could not be written are counted as dropped and reported in the error.
    pub async fn shutdown(self) -> Result<Stats> {
        let FileSink { tx, counters, done } = self;
        drop(tx);
        let left = done.await.unwrap_or(0);
        finish(SINK, &counters, left)
    }
}

/// What the writer thread owns.
struct Worker {
    writer: Writer,
    rx: Receiver<String>,
    counters: Arc<Counters>,
    /// Lines received and not yet written (at most `cap`).
    pending: VecDeque<String>,
    cap: usize,
    sync_every: Duration,
    last_sync: Instant,
}

impl Worker {
    /// Writes batches until every sender is gone, then writes the rest and syncs; returns how
    /// many lines were left unwritten.
    fn run(mut self) -> u64 {
        let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
        let mut open = true;
        while open {
            if self.pending.is_empty() {
                match self.wait(self.sync_deadline()) {
                    Wait::Line(line) => self.pending.push_back(line),
                    Wait::Timeout => {}
                    Wait::Closed => break,
                }
            }
            open = self.drain();
            match self.write_batch() {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    self.report(&e);
                    let until = Instant::now() + backoff.next();
                    open = open && self.collect_until(until);
                }
            }
        }
        self.finish()
    }

    /// Writes the pending lines and syncs when due.
    fn write_batch(&mut self) -> Result<()> {
        self.writer.write(&mut self.pending, &self.counters)?;
        if self.writer.is_unsynced() && self.last_sync.elapsed() >= self.sync_every {
            self.writer.sync()?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// The last attempt at shutdown: returns how many pending lines could not be written.
    fn finish(mut self) -> u64 {
        let result = self
            .writer
            .write(&mut self.pending, &self.counters)
            .and_then(|()| self.writer.sync());
        if let Err(e) = result {
            self.report(&e);
        }
        self.pending.len() as u64
    }

    fn report(&self, error: &Error) {
        tracing::error!(
            path = %self.writer.path().display(),
            error = %error,
            "audit file sink: write failed; retrying"
        );
        self.counters.failed(error.to_string());
    }

    /// When the unsynced bytes must be synced; `None` when there are none.
    fn sync_deadline(&self) -> Option<Instant> {
        self.writer
            .is_unsynced()
            .then(|| self.last_sync + self.sync_every)
    }

    fn wait(&self, deadline: Option<Instant>) -> Wait {
        let received = match deadline {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => self
                .rx
                .recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(line) => Wait::Line(line),
            Err(RecvTimeoutError::Timeout) => Wait::Timeout,
            Err(RecvTimeoutError::Disconnected) => Wait::Closed,
        }
    }

    /// Moves every queued line to `pending`; false once every sender is gone.
    fn drain(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(line) => self.keep(line),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Waits out a retry backoff while still taking lines; false once every sender is gone.
    fn collect_until(&mut self, until: Instant) -> bool {
        loop {
            match self.wait(Some(until)) {
                Wait::Line(line) => self.keep(line),
                Wait::Timeout => return true,
                Wait::Closed => return false,
            }
        }
    }

    fn keep(&mut self, line: String) {
        if self.pending.len() < self.cap {
            self.pending.push_back(line);
        } else {
            self.counters.dropped(1);
        }
    }
}

enum Wait {
    Line(String),
    Timeout,
    Closed,
}
