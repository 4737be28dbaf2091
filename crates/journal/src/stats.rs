//! Counters for metrics and the benchmark: appends, batches, bytes, fsyncs per mirror.
//!
//! Lock-free atomics updated by the writer and the mirror worker. Must never influence what is
//! written; it only counts.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the journal's counters since open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries committed.
    pub appends: u64,
    /// Group-commit batches committed (each one write + one fdatasync per mirror).
    pub batches: u64,
    /// Frame bytes written to each mirror.
    pub bytes_written: u64,
    /// Mirror a.
    pub mirror_a: MirrorStats,
    /// Mirror b.
    pub mirror_b: MirrorStats,
}

/// Sync counters of one mirror.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// `fdatasync`/`fsync` calls issued by the writer on this mirror (files and directory).
    pub fsyncs: u64,
    /// Total time spent in those calls, in microseconds.
    pub fsync_micros: u64,
}

#[derive(Debug, Default)]
pub(crate) struct MirrorCounters {
    fsyncs: AtomicU64,
    fsync_micros: AtomicU64,
}

impl MirrorCounters {
    pub(crate) fn record_sync(&self, micros: u64) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn snapshot(&self) -> MirrorStats {
        MirrorStats {
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            fsync_micros: self.fsync_micros.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    appends: AtomicU64,
    batches: AtomicU64,
    bytes: AtomicU64,
    pub(crate) mirrors: [std::sync::Arc<MirrorCounters>; 2],
}

impl Counters {
    pub(crate) fn record_batch(&self, entries: u64, bytes: u64) {
        self.appends.fetch_add(entries, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            appends: self.appends.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            bytes_written: self.bytes.load(Ordering::Relaxed),
            mirror_a: self.mirrors[0].snapshot(),
            mirror_b: self.mirrors[1].snapshot(),
        }
    }
}
