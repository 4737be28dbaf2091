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
        let service = Service::new(engine, destinations, work, keep);
        let ship = Duration::from_secs(u64::from(settings.ship_every_minutes) * 60);
        let full = Duration::from_secs(u64::from(settings.full_every_hours) * 3600);
        let drill = (settings.drill_every_days > 0)
            .then(|| Duration::from_secs(u64::from(settings.drill_every_days) * 86_400));
        let task = tokio::spawn(schedule(
            Arc::clone(&service),
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

/// When the next shipping starts after one that began at `began` and took `took`: early enough
/// that it should end within `interval` of the last one's cut (the recovery point stays within
/// the interval, not the interval plus a shipping's duration), assuming it takes at most twice
/// as long plus a second; never more than twice per interval.
fn next_ship_at(
    began: tokio::time::Instant,
    took: Duration,
    interval: Duration,
) -> tokio::time::Instant {
    let lead = (took * 2 + Duration::from_secs(1)).min(interval / 2);
    began + (interval - lead)
}

async fn schedule(service: Arc<Service>, every: Every, mut stopped: watch::Receiver<bool>) {
    use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};
    // The first shipping at once (it catches up every destination).
    let mut next_ship = Instant::now();
    let start = Instant::now();
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
            _ = sleep_until(next_ship) => Run::Ship,
            _ = full.tick() => Run::Full,
            _ = drill.tick(), if every.drill.is_some() => Run::Drill,
            _ = stopped.changed() => return,
        };
        let began = Instant::now();
        let outcomes = service.run(run).await;
        if run != Run::Drill {
            // A full backup holds everything too: the recovery point restarts from it.
            next_ship = next_ship_at(began, began.elapsed(), every.ship);
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

    use super::next_ship_at;

    #[test]
    fn shipping_starts_early_enough_to_end_within_the_interval() {
        let t0 = tokio::time::Instant::now();
        let minute = Duration::from_secs(60);
        // A quick shipping: the next starts 1.3 s early.
        assert_eq!(
            next_ship_at(t0, Duration::from_millis(150), minute) - t0,
            Duration::from_millis(58_700)
        );
        // A slow one: twice its time and a second early.
        assert_eq!(
            next_ship_at(t0, Duration::from_millis(4_400), minute) - t0,
            Duration::from_millis(50_200)
        );
        // Never more than twice per interval.
        assert_eq!(
            next_ship_at(t0, Duration::from_secs(40), minute) - t0,
            Duration::from_secs(30)
        );
    }
}
