//! The single writer thread: group commit.
//!
//! It owns the open segment of mirror a (mirror b's is owned by a `MirrorWorker`), drains every
//! pending append up to `max_batch_bytes`, encodes one buffer, writes and syncs it in both
//! mirrors at once, runs the commit hook, and only then acknowledges. It must never acknowledge
//! before both syncs succeeded, never write after a failure (fail closed), and never panic: a
//! failing hook is caught and reported, and if the thread ends anyway the journal is marked
//! degraded so that waiting appenders get an error instead of hanging.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, TryRecvError};

use crate::ack::{Acker, POLL_WINDOW, Reply, ack, recv_polling};
use crate::error::{Error, Result};
use crate::format::{FRAME_HEADER_LEN, HEADER_LEN, SegmentHeader, chain, encode_frame};
use crate::journal::{CommitHook, Shared};
use crate::mirror::{MirrorFile, MirrorWorker, Op};
use crate::{Entry, Position};

/// One pending append.
pub(crate) struct Request {
    pub payload: Vec<u8>,
    pub reply: Reply,
}

/// What appenders send to the writer.
pub(crate) enum Msg {
    Append(Request),
    /// Commit everything sent before this message, then stop.
    Shutdown,
}

/// A mirror operation that failed.
struct Failure {
    mirror: PathBuf,
    cause: String,
}

pub(crate) struct Writer {
    pub rx: mpsc::Receiver<Msg>,
    pub shared: Arc<Shared>,
    pub a: MirrorFile,
    pub b: MirrorWorker,
    pub hook: CommitHook,
    pub head: Position,
    pub seg_len: u64,
    pub segment_bytes: u64,
    pub max_batch_bytes: usize,
    pub carry: Option<Request>,
    pub acker: Option<Acker>,
}

/// Marks the journal degraded if the writer thread ends without an orderly shutdown.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .degrade("the journal writer thread panicked".to_owned());
        } else if !self.0.is_closed() {
            self.0
                .degrade("the journal writer thread stopped".to_owned());
        }
    }
}

impl Writer {
    /// The thread body. Ends on `Msg::Shutdown` or when every `Journal` handle is gone.
    pub(crate) fn run(mut self) {
        // Dropped before `self`, so health is set before pending replies are dropped.
        let _guard = ExitGuard(Arc::clone(&self.shared));
        loop {
            let (batch, stop) = self.next_batch();
            if !batch.is_empty() {
                self.commit(batch);
            }
            if stop {
                break;
            }
        }
    }

    /// Blocks for the first request, then takes whatever else is already queued.
    fn next_batch(&mut self) -> (Vec<Request>, bool) {
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        let first = match self.carry.take() {
            Some(r) => r,
            None => match recv_polling(&self.rx, POLL_WINDOW) {
                Ok(Msg::Append(r)) => r,
                Ok(Msg::Shutdown) | Err(_) => return (batch, true),
            },
        };
        bytes += FRAME_HEADER_LEN + first.payload.len();
        batch.push(first);
        loop {
            match self.rx.try_recv() {
                Ok(Msg::Append(r)) => {
                    let size = FRAME_HEADER_LEN + r.payload.len();
                    if bytes + size > self.max_batch_bytes {
                        self.carry = Some(r);
                        return (batch, false);
                    }
                    bytes += size;
                    batch.push(r);
                }
                Ok(Msg::Shutdown) | Err(TryRecvError::Disconnected) => return (batch, true),
                Err(TryRecvError::Empty) => return (batch, false),
            }
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if let Some(cause) = self.shared.degraded_cause() {
            let acks = batch
                .into_iter()
                .map(|r| {
                    let err = Error::Unavailable {
                        cause: cause.clone(),
                    };
                    (r.reply, Err(err))
                })
                .collect();
            ack(self.acker.as_ref(), acks);
            return;
        }
        let total: usize = batch
            .iter()
            .map(|r| FRAME_HEADER_LEN + r.payload.len())
            .sum();
        let mut buf = Vec::with_capacity(total);
        let mut entries = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut last = self.head;
        for r in batch {
            let seq = last.seq + 1;
            let hash = chain(&last.hash, seq, &r.payload);
            encode_frame(&mut buf, seq, &r.payload);
            entries.push(Entry {
                seq,
                hash,
                payload: r.payload,
            });
            replies.push(r.reply);
            last = Position { seq, hash };
        }
        let bytes = buf.len() as u64;
        if self.seg_len > HEADER_LEN && self.seg_len + bytes > self.segment_bytes {
            let header = SegmentHeader {
                first_seq: self.head.seq + 1,
                prev_hash: self.head.hash,
            };
            if let Err(failure) = self.on_both(Op::Roll(header)) {
                self.fail(replies, failure);
                return;
            }
            self.seg_len = HEADER_LEN;
        }
        let before = self.seg_len;
        if let Err(failure) = self.on_both(Op::Write(Arc::new(buf))) {
            // Best effort: leave no unacknowledged frame in the mirror that did not fail.
            let _ = self.on_both(Op::Truncate(before));
            self.fail(replies, failure);
            return;
        }
        self.seg_len += bytes;
        self.head = last;
        self.shared.set_head(last);
        self.shared
            .counters
            .record_batch(entries.len() as u64, bytes);
        self.run_hook_and_ack(&entries, replies);
    }

    fn run_hook_and_ack(&mut self, entries: &[Entry], replies: Vec<Reply>) {
        let hooked = catch_unwind(AssertUnwindSafe(|| (self.hook)(entries)));
        let failed = match hooked {
            Ok(Ok(())) => None,
            Ok(Err(msg)) => Some(msg),
            Err(panic) => Some(format!("the hook panicked: {}", panic_message(&*panic))),
        };
        match failed {
            None => {
                let acks = replies
                    .into_iter()
                    .zip(entries)
                    .map(|(reply, e)| {
                        let pos = Position {
                            seq: e.seq,
                            hash: e.hash,
                        };
                        (reply, Ok(pos))
                    })
                    .collect();
                ack(self.acker.as_ref(), acks);
            }
            Some(msg) => {
                let (first, last) = (
                    entries.first().map_or(0, |e| e.seq),
                    entries.last().map_or(0, |e| e.seq),
                );
                self.shared.degrade(format!(
                    "the commit hook failed on entries {first}..={last}, which are durable in \
                     both mirrors but were not applied: {msg}"
                ));
                let acks = replies
                    .into_iter()
                    .map(|reply| (reply, Err(Error::Hook(msg.clone()))))
                    .collect();
                ack(self.acker.as_ref(), acks);
            }
        }
    }

    /// Applies `op` to mirror a on this thread and to mirror b on its worker, at the same time.
    ///
    /// Only a benchmark build with the `bench-without-promises` feature (which refuses to listen
    /// beyond loopback) writes mirror a alone, to measure what the second location costs.
    fn on_both(&mut self, op: Op) -> Result<(), Failure> {
        if cfg!(feature = "bench-without-promises") {
            return self.a.apply(&op).map_err(|cause| Failure {
                mirror: self.a.dir().to_path_buf(),
                cause,
            });
        }
        let started = self.b.start(op.clone());
        let ra = self.a.apply(&op);
        let rb = if started {
            self.b.finish()
        } else {
            Err(self.b.gone())
        };
        let mirrors = &self.shared.counters.mirrors;
        if ra.is_err() {
            mirrors[0].record_failure();
        }
        if rb.is_err() {
            mirrors[1].record_failure();
        }
        match (ra, rb) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(cause), Ok(())) => Err(Failure {
                mirror: self.a.dir().to_path_buf(),
                cause,
            }),
            (Ok(()), Err(cause)) => Err(Failure {
                mirror: self.b.dir().to_path_buf(),
                cause,
            }),
            (Err(ca), Err(cb)) => Err(Failure {
                mirror: self.a.dir().to_path_buf(),
                cause: format!("{ca}; mirror {} failed too: {cb}", self.b.dir().display()),
            }),
        }
    }

    fn fail(&mut self, replies: Vec<Reply>, failure: Failure) {
        self.shared.degrade(format!(
            "mirror {} failed: {}",
            failure.mirror.display(),
            failure.cause
        ));
        let acks = replies
            .into_iter()
            .map(|reply| {
                let err = Error::MirrorFailed {
                    mirror: failure.mirror.clone(),
                    cause: failure.cause.clone(),
                };
                (reply, Err(err))
            })
            .collect();
        ack(self.acker.as_ref(), acks);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
