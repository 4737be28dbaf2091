//! Backups of the running server (P12): the destinations of `[backup]` opened at start, and the
//! schedule: journal shipping every `ship_every_minutes` (the first right at start, which also
//! takes a full backup to any destination holding none and catches up one that was down), a
//! full backup every `full_every_hours`, a restore drill every `drill_every_days`. A destination that fails holds up no other; its
//! failure is a `backup.failed` event (and so an alert), and the next run catches it up.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use backup::service::{Run, Service};
use engine::Engine;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::settings;

/// The backup service and its schedule.
pub struct Backups {
    pub service: Arc<Service>,
    task: JoinHandle<()>,
}

impl Backups {
    /// Opens the destinations and starts the schedule; `None` without a `[backup]` section.
    pub fn start(
        config: &config::Config,
        engine: Engine,
        stopped: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Backups>> {
        let Some(settings) = &config.backup else {
            return Ok(None);
        };
        let destinations =
            crate::backup_cmd::destinations(config).context("opening the backup destinations")?;
        let work = settings::paths(config).data.join("backup-work");
        // Leftovers of a run that was cut short hold only sealed parts; start clean.
        let _ = std::fs::remove_dir_all(&work);
        let keep = backup::retention::Keep {
            days: settings.retention_days,
            keyring_days: settings.keyring_history_days,
        };
        let engine_for_schedule = engine.clone();
        let service = Service::new(engine, destinations, work, keep);
        let ship = Duration::from_secs(u64::from(settings.ship_every_minutes) * 60);
        let full = Duration::from_secs(u64::from(settings.full_every_hours) * 3600);
        let drill = (settings.drill_every_days > 0)
            .then(|| Duration::from_secs(u64::from(settings.drill_every_days) * 86_400));
        let task = tokio::spawn(schedule(
            Arc::clone(&service),
            engine_for_schedule,
            Every { ship, full, drill },
            stopped,
        ));
        Ok(Some(Backups { service, task }))
    }

    /// Lets a run in progress end (up to a minute; a set cut short has no manifest and is
    /// never read), then stops the schedule.
    pub async fn shutdown(mut self) {
        if tokio::time::timeout(Duration::from_secs(60), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
            let _ = self.task.await;
        }
    }
}

/// How often each run comes.
struct Every {
    ship: Duration,
    full: Duration,
    /// `None`: no scheduled drill.
    drill: Option<Duration>,
}

/// The pace of the last shipping worth measuring, and where the last set was cut.
#[derive(Debug, Clone, Copy)]
struct Last {
    /// When the last set (shipped or full) was cut, and its journal position.
    cut_at: tokio::time::Instant,
    cut_seq: u64,
    /// Entries per second of the last shipping that held at least [`PACE_MIN_ENTRIES`].
    pace: Option<f64>,
}

/// A shipping smaller than this says little about the pace of a large one.
const PACE_MIN_ENTRIES: u64 = 1_000;
/// The pace assumed until one is measured (entries per second): well under what this code
/// ships on a 2-core machine to local disks (about 56,000/s), so the first large shipping
/// after an idle start is started early enough too.
const FIRST_PACE: f64 = 20_000.0;

/// Whether a shipping must start now so that it ends within `interval` of the last cut: the
/// entries waiting, at the last measured pace, take that long, twice, plus a second (at most
/// half the interval, so never more than two shippings per interval). The recovery point is
/// then the interval, not the interval plus a shipping's duration, even when the load jumps.
fn ship_due(since_cut: Duration, pending: u64, pace: Option<f64>, interval: Duration) -> bool {
    let pace = pace.filter(|p| *p > 0.0).unwrap_or(FIRST_PACE);
    let expected = Duration::from_secs_f64(pending as f64 / pace);
    let lead = (expected.saturating_mul(2) + Duration::from_secs(1)).min(interval / 2);
    since_cut + lead >= interval
}

async fn schedule(
    service: Arc<Service>,
    engine: Engine,
    every: Every,
    mut stopped: watch::Receiver<bool>,
) {
    use tokio::time::{Instant, MissedTickBehavior, interval, interval_at};
    let start = Instant::now();
    // Looked at every second; the first shipping at once (it catches up every destination).
    let mut look = interval(Duration::from_secs(1));
    look.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last: Option<Last> = None;
    let mut full = interval_at(start + every.full, every.full);
    full.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Without a drill schedule, a period no server reaches.
    let drill_every = every
        .drill
        .unwrap_or(Duration::from_secs(100 * 365 * 86_400));
    let mut drill = interval_at(start + drill_every, drill_every);
    drill.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let run = tokio::select! {
            _ = look.tick() => {
                let due = last.is_none_or(|l| {
                    let pending = engine.journal().head().seq.saturating_sub(l.cut_seq);
                    ship_due(l.cut_at.elapsed(), pending, l.pace, every.ship)
                });
                if !due {
                    continue;
                }
                Run::Ship
            }
            _ = full.tick() => Run::Full,
            _ = drill.tick(), if every.drill.is_some() => Run::Drill,
            _ = stopped.changed() => return,
        };
        let began = Instant::now();
        let before = engine.journal().head().seq;
        let outcomes = service.run(run).await;
        if run != Run::Drill {
            // A full backup holds everything too: the recovery point restarts from it. The cut
            // is the head read as the run began (the set holds at least that).
            let took = began.elapsed().as_secs_f64();
            let shipped = before.saturating_sub(last.map_or(0, |l| l.cut_seq));
            let pace = if run == Run::Ship && shipped >= PACE_MIN_ENTRIES && took > 0.0 {
                Some(shipped as f64 / took)
            } else {
                last.and_then(|l| l.pace)
            };
            last = Some(Last {
                cut_at: began,
                cut_seq: before,
                pace,
            });
        }
        for outcome in outcomes {
            match outcome.result {
                Ok(Some(set)) => tracing::info!(
                    destination = %outcome.destination,
                    set = %set.backup,
                    journal_to = set.journal_to.seq,
                    "backup written"
                ),
                Ok(None) => {}
                Err(e) => tracing::error!(
                    destination = %outcome.destination,
                    error = %e,
                    "backup failed; the next run catches this destination up"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::ship_due;

    #[test]
    fn shipping_starts_early_enough_to_end_within_the_interval() {
        let minute = Duration::from_secs(60);
        let at = |secs: f64| Duration::from_secs_f64(secs);
        // Little waiting: a second before the interval is up.
        assert!(!ship_due(at(58.9), 10, Some(50_000.0), minute));
        assert!(ship_due(at(59.0), 10, Some(50_000.0), minute));
        // Nothing measured yet: 200,000 entries at the first pace (20,000/s) are 10 s.
        assert!(!ship_due(at(38.9), 200_000, None, minute));
        assert!(ship_due(at(39.0), 200_000, None, minute));
        // 100,000 entries waiting at 50,000/s: 2 s, twice, and a second early.
        assert!(!ship_due(at(54.9), 100_000, Some(50_000.0), minute));
        assert!(ship_due(at(55.0), 100_000, Some(50_000.0), minute));
        // A surge: never more than twice per interval.
        assert!(!ship_due(at(29.9), 10_000_000, Some(50_000.0), minute));
        assert!(ship_due(at(30.0), 10_000_000, Some(50_000.0), minute));
    }
}
