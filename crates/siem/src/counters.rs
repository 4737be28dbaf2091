//! What a sink reports about itself (lines delivered, dropped, failures, the last failure) and
//! the retry backoff both sinks use. Failure texts name a path or an address, never an event.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{Error, Result};

/// A snapshot of a sink's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines written to the file, or frames written to the TLS connection.
    pub delivered: u64,
    /// Lines that will never be written or delivered (queue overflow, undelivered at shutdown).
    pub dropped: u64,
    /// Failed attempts (a write, a rotation, a connection, a handshake), each retried.
    pub failures: u64,
    /// The last failure, naming the path or address; never an event's content.
    pub last_error: Option<String>,
}

/// The live counters behind [`Stats`], shared between a sink and its worker.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    delivered: AtomicU64,
    dropped: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn dropped_count(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counts a failure and keeps its text; the caller logs it.
    pub(crate) fn failed(&self, message: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped_count(),
            failures: self.failures.load(Ordering::Relaxed),
            last_error: self.last_error.lock().ok().and_then(|last| last.clone()),
        }
    }
}

/// The end of a sink's shutdown: `left` lines not delivered are counted as dropped and make
/// the error; otherwise the final counters.
pub(crate) fn finish(sink: &'static str, counters: &Counters, left: u64) -> Result<Stats> {
    if left > 0 {
        counters.dropped(left);
        return Err(Error::Undelivered {
            sink,
            count: left,
            stats: counters.snapshot(),
        });
    }
    Ok(counters.snapshot())
}

/// Exponential backoff between retries: `min`, doubling, capped at `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        let min = min.min(max);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The wait before the next retry; the one after will be twice as long.
    pub(crate) fn next(&mut self) -> Duration {
        let now = self.next;
        self.next = (now * 2).min(self.max);
        now
    }

    /// Back to `min` after a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let waits: Vec<u128> = (0..4).map(|_| b.next().as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(100));
    }

    #[test]
    fn counters_keep_the_last_failure() {
        let c = Counters::default();
        c.failed("a".into());
        c.failed("b".into());
        c.dropped(3);
        let s = c.snapshot();
        assert_eq!((s.failures, s.dropped), (2, 3));
        assert_eq!(s.last_error.as_deref(), Some("b"));
    }
}
