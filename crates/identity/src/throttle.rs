//! Progressive delay and the memory of failures for accounts that do not exist (so that unknown
//! and known accounts behave alike). Known accounts keep their counters in the journal.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures before any delay applies.
const FREE_FAILURES: u32 = 3;
/// Longest delay between two evaluated attempts.
const MAX_DELAY_MS: i64 = 60_000;
/// Most unknown accounts remembered; beyond that the oldest half is forgotten.
const MAX_UNKNOWN: usize = 100_000;

/// The earliest time the next attempt will be evaluated, after `failures` consecutive failures.
pub(crate) fn next_allowed(failures: u32, last_failure_at: Option<i64>) -> Option<i64> {
    let last = last_failure_at?;
    if failures < FREE_FAILURES {
        return None;
    }
    let exp = (failures - FREE_FAILURES).min(16);
    let delay = (1000i64 << exp).min(MAX_DELAY_MS);
    Some(last + delay)
}

/// Failure counters of unknown accounts, keyed by realm-qualified email index.
#[derive(Default)]
pub(crate) struct Throttle {
    unknown: Mutex<HashMap<Vec<u8>, (u32, i64)>>,
}

impl Throttle {
    pub(crate) fn get(&self, key: &[u8]) -> (u32, Option<i64>) {
        let map = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).map_or((0, None), |(n, at)| (*n, Some(*at)))
    }

    pub(crate) fn fail(&self, key: &[u8], now: i64) -> u32 {
        let mut map = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_UNKNOWN && !map.contains_key(key) {
            let mut ages: Vec<i64> = map.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            map.retain(|_, (_, at)| *at > cut);
        }
        let entry = map.entry(key.to_vec()).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        entry.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_and_caps() {
        let cases = [
            (0, None),
            (2, None),
            (3, Some(1_000)),
            (4, Some(2_000)),
            (6, Some(8_000)),
            (10, Some(60_000)),
            (90, Some(60_000)),
        ];
        for (failures, delay) in cases {
            assert_eq!(
                next_allowed(failures, Some(0)),
                delay,
                "after {failures} failures"
            );
        }
        assert_eq!(next_allowed(5, None), None);
    }
}
