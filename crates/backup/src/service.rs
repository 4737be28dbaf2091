//! Backups of a running server: one at a time, on the schedule or when asked, each outcome
//! recorded as an audit event, and the last success per destination kept for the metrics and
//! `/readyz`-style reports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use engine::Engine;

use crate::destination::Destination;
use crate::drill;
use crate::progress::{Progress, Quiet};
use crate::retention::{self, Keep};
use crate::take::{self, Outcome};

/// What to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Run {
    /// A full backup to every destination.
    Full,
    /// The entries each destination lacks (a full backup where it holds none).
    Ship,
    /// A restore drill from each destination.
    Drill,
}

/// A destination's state as last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    pub destination: String,
    pub region: String,
    pub jurisdiction: String,
    /// Unix ms of the last set written or found up to date.
    pub last_success_at: Option<i64>,
    /// The last journal entry the destination holds, as far as this process knows.
    pub journal_to: Option<u64>,
    /// The last failure's message, cleared by a success.
    pub last_error: Option<String>,
    /// The last drill: when (Unix ms), the recovery time and point it measured (ms), or why
    /// it failed.
    pub last_drill_at: Option<i64>,
    pub drill_rto_ms: Option<u64>,
    pub drill_rpo_ms: Option<u64>,
    pub drill_error: Option<String>,
}

/// The backup service of one process.
pub struct Service {
    engine: Engine,
    destinations: Vec<Destination>,
    work: PathBuf,
    keep: Keep,
    running: tokio::sync::Mutex<()>,
    status: Mutex<BTreeMap<String, Status>>,
    /// Per destination, the destroyed scopes it was last found free of (see [`Service::shred`]).
    shredded: Mutex<BTreeMap<String, Vec<String>>>,
}

/// One destination's shredding.
#[derive(Debug)]
pub struct ShredOutcome {
    pub destination: String,
    pub result: crate::Result<crate::shred::Shredded>,
}

impl Service {
    pub fn new(
        engine: Engine,
        destinations: Vec<Destination>,
        work: PathBuf,
        keep: Keep,
    ) -> Arc<Service> {
        let status = destinations
            .iter()
            .map(|d| {
                (
                    d.name().to_owned(),
                    Status {
                        destination: d.name().to_owned(),
                        region: d.spec.region.clone(),
                        jurisdiction: d.spec.jurisdiction.clone(),
                        ..Status::default()
                    },
                )
            })
            .collect();
        Arc::new(Service {
            engine,
            destinations,
            work,
            keep,
            running: tokio::sync::Mutex::new(()),
            status: Mutex::new(status),
            shredded: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn destinations(&self) -> &[Destination] {
        &self.destinations
    }

    /// Takes a set now (waits for a run in progress to end first), records every outcome as an
    /// audit event and returns them.
    pub async fn run(&self, run: Run) -> Vec<Outcome> {
        self.run_with(run, Arc::new(Quiet)).await
    }

    pub async fn run_with(&self, run: Run, progress: Arc<dyn Progress>) -> Vec<Outcome> {
        let _one = self.running.lock().await;
        let outcomes = match run {
            Run::Full => take::full(&self.engine, &self.destinations, &self.work, progress).await,
            Run::Ship => take::ship(&self.engine, &self.destinations, &self.work, progress).await,
            Run::Drill => return self.drill_locked(progress).await,
        };
        take::record(&self.engine, &outcomes).await;
        if run == Run::Full {
            self.prune(&outcomes).await;
        }
        // A key destroyed since a destination was last checked (or while this run uploaded an
        // older keyring copy) must not stay there.
        self.shred_locked(false).await;
        let now = self.engine.now().millis();
        if let Ok(mut status) = self.status.lock() {
            for outcome in &outcomes {
                let Some(s) = status.get_mut(&outcome.destination) else {
                    continue;
                };
                match &outcome.result {
                    Ok(set) => {
                        s.last_success_at = Some(now);
                        s.last_error = None;
                        if let Some(m) = set {
                            s.journal_to = Some(m.journal_to.seq);
                        }
                    }
                    Err(e) => s.last_error = Some(e.to_string()),
                }
            }
        }
        outcomes
    }

    /// Removes, at every destination, the keyring copies that still hold a key destroyed here
    /// (waits for a run in progress to end first, so that no run uploads an older copy after
    /// it). Each destination's outcome is recorded: `backup.shredded` or `backup.shred_failed`.
    /// A destination that fails is tried again after every later run.
    pub async fn shred(&self) -> Vec<ShredOutcome> {
        let _one = self.running.lock().await;
        self.shred_locked(true).await
    }

    /// [`Service::shred`] with the run lock held; unless `always`, only the destinations not
    /// yet found free of the scopes destroyed now.
    async fn shred_locked(&self, always: bool) -> Vec<ShredOutcome> {
        use audit::event::Outcome as Result_;
        let destroyed: Vec<String> = match self.engine.destroyed_scopes() {
            Ok(d) => d.into_iter().map(|(scope, _)| scope).collect(),
            Err(e) => {
                tracing::error!(error = %e, "the destroyed keys could not be read");
                return Vec::new();
            }
        };
        let mut outcomes = Vec::new();
        for dest in &self.destinations {
            // With no key ever destroyed, no copy can hold one: nothing to read.
            let clean = destroyed.is_empty()
                || self
                    .shredded
                    .lock()
                    .is_ok_and(|m| m.get(dest.name()) == Some(&destroyed));
            if clean && !always {
                continue;
            }
            let result = crate::shred::shred(&self.engine, dest).await;
            let draft = match &result {
                Ok(done) => {
                    if let Ok(mut m) = self.shredded.lock() {
                        m.insert(dest.name().to_owned(), done.destroyed.clone());
                    }
                    if done.removed == 0 && !always {
                        None
                    } else {
                        Some(
                            engine::Draft::new("backup.shredded", Result_::Success)
                                .on("destination", dest.name())
                                .with("keyring_copies_removed", done.removed)
                                .with("keyring_generation", done.generation),
                        )
                    }
                }
                Err(e) => Some(
                    engine::Draft::new("backup.shred_failed", Result_::Failure)
                        .on("destination", dest.name())
                        .because(&e.to_string()),
                ),
            };
            if let Some(draft) = draft
                && let Err(e) = self.engine.audit(engine::Scope::System, draft).await
            {
                tracing::error!(error = %e, "a shredding event could not be recorded");
            }
            outcomes.push(ShredOutcome {
                destination: dest.name().to_owned(),
                result,
            });
        }
        outcomes
    }

    /// After a full backup, retention at every destination that took it; each removal is a
    /// `backup.pruned` event, a failure `backup.prune_failed`.
    async fn prune(&self, outcomes: &[Outcome]) {
        use audit::event::Outcome as Result_;
        let Ok(key) = self.engine.backup_manifest_key() else {
            return;
        };
        let now = self.engine.now().millis();
        for dest in &self.destinations {
            let took = outcomes
                .iter()
                .any(|o| o.destination == dest.name() && o.result.is_ok());
            if !took {
                continue;
            }
            let draft = match retention::prune(dest, &key, now, self.keep).await {
                Ok(p) if p == retention::Pruned::default() => continue,
                Ok(p) => engine::Draft::new("backup.pruned", Result_::Success)
                    .on("destination", dest.name())
                    .with("sets", p.sets as u64)
                    .with("unfinished", p.unfinished as u64)
                    .with("keyrings", p.keyrings as u64),
                Err(e) => engine::Draft::new("backup.prune_failed", Result_::Failure)
                    .on("destination", dest.name())
                    .because(&e.to_string()),
            };
            if let Err(e) = self.engine.audit(engine::Scope::System, draft).await {
                tracing::error!(error = %e, "a retention event could not be recorded");
            }
        }
    }

    /// A restore drill from every destination in turn, each recorded (`backup.drill` or
    /// `backup.drill_failed`) and kept in the status. Returned as outcomes that write no set.
    async fn drill_locked(&self, progress: Arc<dyn Progress>) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for dest in &self.destinations {
            let result = drill::drill(&self.engine, dest, &self.work, Arc::clone(&progress)).await;
            drill::record(&self.engine, dest.name(), &result).await;
            let now = self.engine.now().millis();
            if let Ok(mut status) = self.status.lock()
                && let Some(s) = status.get_mut(dest.name())
            {
                s.last_drill_at = Some(now);
                match &result {
                    Ok(d) => {
                        s.drill_rto_ms = Some(d.rto.as_millis() as u64);
                        s.drill_rpo_ms = Some(d.rpo.as_millis() as u64);
                        s.drill_error = None;
                    }
                    Err(e) => s.drill_error = Some(e.to_string()),
                }
            }
            let measured = result.as_ref().ok().cloned();
            outcomes.push(Outcome {
                destination: dest.name().to_owned(),
                result: result.map(|_| None),
                blobs: 0,
                drill: measured,
            });
        }
        outcomes
    }

    /// Every destination's status.
    pub fn status(&self) -> Vec<Status> {
        self.status
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }
}
