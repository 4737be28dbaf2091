//! Tenant deletions (P15) carried out: by the running server once a minute (and at start) for
//! every request whose grace period is over, and by `strongroom tenants delete-now` offline.
//! One deletion: the tenant's keys destroyed and its rows and files purged
//! ([`tenancy::Tenancy::destroy`]), every backup destination shredded, the receipt signed and
//! stored, then a full backup, so that the newest snapshot at every destination holds no row of
//! the tenant. A step that fails is a `tenant.deletion_failed` event (and alert) and is tried
//! again at the next look; a destination that is down is named as pending in the receipt and
//! shredded by a later backup run. The same look reports every open request 7 days before its
//! 30-day deadline (`data_rights.deadline_near`, the built-in alert `data_rights`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::Outcome;
use backup::service::{Run, Service};
use engine::{Draft, Engine, Scope};
use tenancy::Tenancy;
use tenancy::receipt::{Place, Receipt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use types::TenantId;

/// How often the server looks for deletions that are due.
const LOOK_EVERY: Duration = Duration::from_secs(60);

/// Carries out one deletion; see the module documentation.
pub async fn carry_out(
    tenancy: &Tenancy,
    backups: Option<&Service>,
    tenant: TenantId,
    skip_grace: bool,
) -> anyhow::Result<Done> {
    let destruction = tenancy.destroy(tenant, skip_grace).await?;
    let started = Instant::now();
    let mut places = Vec::new();
    if let Some(service) = backups {
        for outcome in service.shred().await {
            places.push(match outcome.result {
                Ok(done) => Place {
                    place: "backup destination".into(),
                    location: outcome.destination,
                    at: Some(done.at),
                    copies_removed: Some(done.removed),
                    pending: None,
                },
                Err(e) => Place {
                    place: "backup destination".into(),
                    location: outcome.destination,
                    at: None,
                    copies_removed: None,
                    pending: Some(e.to_string()),
                },
            });
        }
    }
    let shred = started.elapsed();
    let receipt = tenancy.finish(&destruction, places).await?;
    let sign = started.elapsed() - shred;
    if let Some(service) = backups {
        // Its outcomes are recorded by the service (a failure is an alert of its own).
        service.run(Run::Full).await;
    }
    Ok(Done {
        receipt,
        took: Took {
            destroy: destruction.took,
            shred,
            receipt: sign,
            backup: started.elapsed() - shred - sign,
        },
    })
}

/// A deletion carried out: its receipt, and how long each step took.
pub struct Done {
    pub receipt: Receipt,
    pub took: Took,
}

/// How long each step of a deletion took.
#[derive(Debug, Clone, Copy)]
pub struct Took {
    pub destroy: tenancy::deletion::Took,
    /// Every backup destination shredded.
    pub shred: Duration,
    /// The receipt signed and stored.
    pub receipt: Duration,
    /// The full backup after it.
    pub backup: Duration,
}

impl std::fmt::Display for Took {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "keys destroyed in both keyring copies {:.1} ms; rows purged {:.1} ms (longest \
             entry {:.1} ms); attachment files {:.1} ms; backup destinations shredded {:.1} ms; \
             receipt {:.1} ms; full backup {:.1} ms",
            ms(self.destroy.keys),
            ms(self.destroy.purge),
            ms(self.destroy.longest_entry),
            ms(self.destroy.files),
            ms(self.shred),
            ms(self.receipt),
            ms(self.backup),
        )
    }
}

/// The server's look at due deletions, once a minute until `stopped`.
pub fn start(
    engine: Engine,
    backups: Option<Arc<Service>>,
    exports: Arc<export::Service>,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let tenancy = Tenancy::new(engine.clone());
        let mut warned = HashSet::new();
        let mut look = tokio::time::interval(LOOK_EVERY);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = look.tick() => {}
                _ = stopped.changed() => return,
            }
            warn_deadlines(&engine, &tenancy, &exports, &mut warned).await;
            let due = match tenancy.deletions_due() {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "the due tenant deletions could not be read");
                    continue;
                }
            };
            for request in due {
                if *stopped.borrow() {
                    return;
                }
                let tenant = request.tenant;
                match carry_out(&tenancy, backups.as_deref(), tenant, false).await {
                    Ok(done) => tracing::info!(
                        %tenant,
                        receipt = %done.receipt.document.receipt,
                        took = %done.took,
                        "tenant deleted"
                    ),
                    Err(e) => failed(&engine, tenant, &e).await,
                }
            }
        }
    })
}

/// Records `data_rights.deadline_near` (the built-in alert `data_rights` delivers it) once per
/// run of the server for every open deletion request or export whose 30-day deadline is at most
/// 7 days away.
async fn warn_deadlines(
    engine: &Engine,
    tenancy: &Tenancy,
    exports: &export::Service,
    warned: &mut HashSet<String>,
) {
    use tenancy::deletion::{DAY_MS, WARN_DAYS};
    let within = WARN_DAYS * DAY_MS;
    // (request id, scope of the event, resource kind, resource id, request kind, deadline)
    let mut near: Vec<(String, Scope, &str, String, &str, i64)> = Vec::new();
    match tenancy.deadlines_near(within) {
        Ok(requests) => near.extend(requests.into_iter().map(|d| {
            let id = d.tenant.to_string();
            (
                format!("deletion:{id}"),
                Scope::System,
                "tenant",
                id,
                "tenant deletion",
                d.deadline,
            )
        })),
        Err(e) => tracing::error!(error = %e, "the deletion deadlines could not be read"),
    }
    match exports.deadlines_near(within) {
        Ok(requests) => near.extend(requests.into_iter().map(|d| {
            let id = d.id.to_string();
            (
                format!("export:{id}"),
                Scope::Tenant(d.tenant),
                "export",
                id,
                "tenant export",
                d.deadline,
            )
        })),
        Err(e) => tracing::error!(error = %e, "the export deadlines could not be read"),
    }
    for (key, scope, kind, id, request, deadline) in near {
        if warned.contains(&key) {
            continue;
        }
        let draft = Draft::new("data_rights.deadline_near", Outcome::Success)
            .on(kind, id)
            .with("request", request)
            .with("deadline", deadline);
        match engine.audit(scope, draft).await {
            Ok(()) => {
                warned.insert(key);
            }
            Err(e) => tracing::error!(error = %e, "a deadline warning could not be recorded"),
        }
    }
}

async fn failed(engine: &Engine, tenant: TenantId, error: &anyhow::Error) {
    tracing::error!(%tenant, error = %error, "a tenant deletion failed; it is tried again in a minute");
    let draft = Draft::new("tenant.deletion_failed", Outcome::Failure)
        .on("tenant", tenant)
        .because(&format!("{error:#}"));
    if let Err(e) = engine.audit(Scope::System, draft).await {
        tracing::error!(error = %e, "a deletion failure could not be recorded");
    }
}

#[cfg(test)]
mod tests {
    use engine::{AuditQuery, AuditScope, Options, Paths};
    use types::{ManualClock, Timestamp};

    use super::*;

    const DAY: i64 = 86_400_000;

    fn reported(engine: &Engine) -> Vec<String> {
        engine
            .audit_page(&AuditQuery {
                scope: AuditScope::All,
                from: None,
                to: None,
                actor: None,
                action: Some("data_rights.deadline_near"),
                outcome: None,
                before: None,
                limit: 100,
            })
            .expect("trail")
            .into_iter()
            .map(|r| {
                let resource = r.event.resource.expect("resource");
                format!("{}:{}", resource.kind, resource.id.unwrap_or_default())
            })
            .collect()
    }

    /// A deletion request with the longest grace period and a queued export are reported once
    /// each, 7 days before their 30-day deadlines, and not before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deadlines_seven_days_away_are_reported_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths {
            data: dir.path().join("data"),
            mirror: dir.path().join("mirror"),
            key_file: dir.path().join("k").join("master.key"),
        };
        let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
        let engine = {
            let (paths, clock) = (paths.clone(), Arc::clone(&clock));
            let options = Options {
                clock,
                create: true,
                ..Options::default()
            };
            tokio::task::spawn_blocking(move || Engine::open(&paths, options).map(|o| o.engine))
                .await
                .expect("join")
                .expect("engine")
        };
        let tenancy = Tenancy::new(engine.clone());
        let (doomed, exporting) = (
            tenancy.create("Doomed").await.expect("tenant").id,
            tenancy.create("Exporting").await.expect("tenant").id,
        );
        tenancy
            .request_deletion(doomed, "test", Some(30))
            .await
            .expect("request");
        let identity = identity::Identity::new(engine.clone(), identity::IdentityConfig::default());
        let sources = export::archive::Sources {
            engine: engine.clone(),
            records: records::Records::new(engine.clone()),
            identity,
        };
        let exports = export::Service::new(sources, export::Config::default()).expect("exports");
        // Hold the job in its slot: the export stays open.
        let (_release, held) = tokio::sync::oneshot::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(Some(held)));
        exports.set_hook(Arc::new(move |_| {
            let held = held.lock().expect("lock").take();
            Box::pin(async move {
                if let Some(held) = held {
                    let _ = held.await;
                }
            })
        }));
        let (export, _) = exports
            .request(exporting, types::UserId::random())
            .await
            .expect("export");

        let mut warned = HashSet::new();
        warn_deadlines(&engine, &tenancy, &exports, &mut warned).await;
        clock.advance_millis(23 * DAY - 1);
        warn_deadlines(&engine, &tenancy, &exports, &mut warned).await;
        assert!(reported(&engine).is_empty(), "reported early");
        clock.advance_millis(1);
        warn_deadlines(&engine, &tenancy, &exports, &mut warned).await;
        warn_deadlines(&engine, &tenancy, &exports, &mut warned).await;
        let mut seen = reported(&engine);
        seen.sort();
        let mut expected = vec![format!("tenant:{doomed}"), format!("export:{}", export.id)];
        expected.sort();
        assert_eq!(seen, expected, "each reported once");
        engine.shutdown();
    }
}
