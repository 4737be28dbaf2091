//! Counters for metrics and the benchmark: appends, batches (with a histogram of their sizes),
//! bytes, fsyncs per mirror (with a histogram of their latency) and whether a mirror failed.
//!
//! Lock-free atomics updated by the writer and the mirror worker. Must never influence what is
//! written; it only counts. Plain numbers only: the metrics format is the edge's business.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Upper bounds (inclusive) of the batch-size histogram's buckets, in entries per batch.
pub const BATCH_SIZE_BOUNDS: [u64; 12] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/// Upper bounds (inclusive) of the fsync-latency histogram's buckets, in microseconds.
pub const FSYNC_MICROS_BOUNDS: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

/// A snapshot of the journal's counters since open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries committed.
    pub appends: u64,
    /// Group-commit batches committed (each one write + one fdatasync per mirror).
    pub batches: u64,
    /// Entries per committed batch (its `count` is `batches`, its `sum` is `appends`).
    pub batch_sizes: Histogram,
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
    /// The latency of those calls in microseconds (`count` is `fsyncs`, `sum` is `fsync_micros`).
    pub fsync_latency: Histogram,
    /// A write, sync or segment roll on this mirror failed since open (the journal then refuses
    /// writes: see [`crate::Health`]).
    pub has_failed: bool,
}

/// A histogram snapshot: per-bucket counts, not cumulative.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Inclusive upper bound of each bucket but the last, which holds everything larger.
    pub bounds: &'static [u64],
    /// Observations per bucket: `bounds.len() + 1` numbers.
    pub buckets: Vec<u64>,
    /// Number of observations.
    pub count: u64,
    /// Sum of the observed values.
    pub sum: u64,
}

/// A histogram updated with atomics.
#[derive(Debug)]
struct AtomicHistogram {
    bounds: &'static [u64],
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: &'static [u64]) -> Self {
        AtomicHistogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    fn record(&self, value: u64) {
        let i = self.bounds.partition_point(|b| *b < value);
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Histogram {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        Histogram {
            bounds: self.bounds,
            count: buckets.iter().sum(),
            buckets,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
pub(crate) struct MirrorCounters {
    fsync_latency: AtomicHistogram,
    failed: AtomicBool,
}

impl Default for MirrorCounters {
    fn default() -> Self {
        MirrorCounters {
            fsync_latency: AtomicHistogram::new(&FSYNC_MICROS_BOUNDS),
            failed: AtomicBool::new(false),
        }
    }
}

impl MirrorCounters {
    pub(crate) fn record_sync(&self, micros: u64) {
        self.fsync_latency.record(micros);
    }

    pub(crate) fn record_failure(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    fn snapshot(&self) -> MirrorStats {
        let fsync_latency = self.fsync_latency.snapshot();
        MirrorStats {
            fsyncs: fsync_latency.count,
            fsync_micros: fsync_latency.sum,
            fsync_latency,
            has_failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Counters {
    batch_sizes: AtomicHistogram,
    bytes: AtomicU64,
    pub(crate) mirrors: [Arc<MirrorCounters>; 2],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            batch_sizes: AtomicHistogram::new(&BATCH_SIZE_BOUNDS),
            bytes: AtomicU64::new(0),
            mirrors: Default::default(),
        }
    }
}

impl Counters {
    pub(crate) fn record_batch(&self, entries: u64, bytes: u64) {
        self.batch_sizes.record(entries);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let batch_sizes = self.batch_sizes.snapshot();
        Stats {
            appends: batch_sizes.sum,
            batches: batch_sizes.count,
            batch_sizes,
            bytes_written: self.bytes.load(Ordering::Relaxed),
            mirror_a: self.mirrors[0].snapshot(),
            mirror_b: self.mirrors[1].snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_lands_in_the_first_bucket_whose_bound_is_not_below_it() {
        let h = AtomicHistogram::new(&[1, 4, 16]);
        for v in [0, 1, 2, 4, 5, 16, 17, 1_000] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![2, 2, 2, 2], "{s:?}");
        assert_eq!((s.count, s.sum), (8, 1_045));
    }

    #[test]
    fn batches_and_syncs_are_counted_through_their_histograms() {
        let c = Counters::default();
        c.record_batch(3, 300);
        c.record_batch(1, 100);
        c.mirrors[1].record_sync(700);
        c.mirrors[1].record_failure();
        let s = c.snapshot();
        assert_eq!((s.appends, s.batches, s.bytes_written), (4, 2, 400));
        assert_eq!(s.batch_sizes.buckets[..3], [1, 0, 1]);
        assert_eq!((s.mirror_b.fsyncs, s.mirror_b.fsync_micros), (1, 700));
        assert_eq!(s.mirror_b.fsync_latency.buckets[3], 1, "700 µs ≤ 1 ms");
        assert!(s.mirror_b.has_failed && !s.mirror_a.has_failed);
    }
}
