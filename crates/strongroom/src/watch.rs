//! What `serve` runs beside the HTTPS listener (P16, P17):
//!
//! - the fan-out of every recorded audit event to the alerts, the export sinks (file, syslog)
//!   and the metrics, and the recording of the alerts' own events (`alert.*`);
//! - the schedules: a checkpoint at least every `audit.checkpoint_secs`, retention of the audit
//!   log once a day (and at start);
//! - the watch over health and disk: a degraded mirror (`mirror.degraded`) or a location below
//!   10 % free space (`disk.low`) becomes an event, recorded when the audit log can take it and
//!   handed to the alerts in any case; alerts or exported lines dropped (a full queue, a failing
//!   sink) become `alert.dropped` and `audit.export_dropped`;
//! - at start, before any request, a check of the audit log of the first location with the
//!   public key (`audit.verify_failed` when it is broken: the server serves, and says so).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use audit::{AuditEvent, Outcome};
use engine::{Draft, Engine, Health, Scope};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// How often health and disk space are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(10);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Below this share of free space a location is low.
const LOW_DISK_PERCENT: u64 = 10;
/// How long pending alert deliveries may take at shutdown.
const ALERTS_GRACE: Duration = Duration::from_secs(5);

/// The running background work.
pub struct Watch {
    tasks: Vec<JoinHandle<()>>,
    /// Records the alerts' events; ends when the alerts have shut down.
    recorder: Option<JoinHandle<()>>,
    alerts: Option<Arc<alerts::Alerts>>,
    sinks: Option<Arc<siem::Sinks>>,
    /// What the check of the audit log at start found broken, if anything.
    pub broken_at_start: Option<String>,
}

/// Turns the `[alerts]` section into the alerts' settings.
fn alert_settings(config: &config::Alerts, node: &str) -> anyhow::Result<alerts::Settings> {
    let extra = config
        .rules
        .iter()
        .map(|r| {
            serde_json::to_value(r)
                .and_then(serde_json::from_value::<alerts::Rule>)
                .with_context(|| format!("alerts.rules: rule {}", r.name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rules = alerts::rule_set(extra, config.builtins).context("alerts.rules")?;
    let mut settings = alerts::Settings::new(node, rules);
    settings.retry = alerts::RetryPolicy {
        first: Duration::from_secs(config.retry_first_secs),
        max: Duration::from_secs(config.retry_max_secs),
        give_up_after: Duration::from_secs(config.retry_give_up_secs),
    };
    if let (Some(host), Some(from)) = (&config.smtp_host, &config.email_from)
        && !config.email_to.is_empty()
    {
        settings.email = Some(alerts::EmailSettings {
            to: config.email_to.clone(),
            from: from.clone(),
            host: host.clone(),
            port: config.smtp_port,
            username: config.smtp_username.clone(),
            password_file: config.smtp_password_file.clone(),
            ca_file: config.smtp_ca_file.clone(),
            timeout: Duration::from_secs(30),
        });
    }
    if let (Some(url), Some(secret)) = (&config.webhook_url, &config.webhook_secret_file) {
        settings.webhook = Some(alerts::WebhookSettings {
            url: url.clone(),
            secret_file: secret.clone(),
            ca_file: config.webhook_ca_file.clone(),
            timeout: Duration::from_secs(30),
        });
    }
    Ok(settings)
}

/// Turns the `[audit.file_sink]` and `[audit.syslog]` sections into the sinks' settings.
fn sink_settings(config: &config::Audit) -> anyhow::Result<siem::SinksConfig> {
    let syslog = match &config.syslog {
        None => None,
        Some(s) => {
            let (Some(name), Some(ca)) = (&s.server_name, &s.ca_file) else {
                anyhow::bail!("audit.syslog needs server_name and ca_file (`config check`)");
            };
            let mut o = siem::SyslogOptions::new(s.address.clone(), name.clone(), ca.clone());
            o.hostname = s.hostname.clone();
            o.queue = s.queue;
            Some(o)
        }
    };
    Ok(siem::SinksConfig {
        file: config.file_sink.as_ref().map(|f| {
            let mut o = siem::FileSinkOptions::new(f.path.clone());
            o.max_bytes = f.max_bytes;
            o.keep = f.keep;
            o.sync_ms = f.sync_ms;
            o
        }),
        syslog,
    })
}

/// Records an operational event and hands it to the alerts when the audit log could not take
/// it (the feed then never carries it).
async fn operational(engine: &Engine, alerts: Option<&alerts::Alerts>, draft: Draft) {
    let (event, recorded) = engine.audit_or_event(Scope::System, draft).await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, action = %event.action, "could not record an operational event");
        if let Some(alerts) = alerts {
            alerts.observe(&event);
        }
    }
}

impl Watch {
    /// Starts everything; `stop` ends the loops.
    pub async fn start(
        config: &config::Config,
        engine: Engine,
        metrics: Arc<http_api::Metrics>,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Watch> {
        let node = engine.audit_node().to_owned();
        let (alert_events, mut alert_events_rx) = mpsc::channel::<AuditEvent>(1024);
        let alerts = Arc::new(
            alerts::Alerts::start(alert_settings(&config.alerts, &node)?, alert_events)
                .context("starting the alerts")?,
        );
        let sinks = if config.audit.file_sink.is_some() || config.audit.syslog.is_some() {
            Some(Arc::new(
                siem::Sinks::start(sink_settings(&config.audit)?)
                    .context("starting the audit export")?,
            ))
        } else {
            None
        };
        let mut tasks = Vec::new();

        // Every recorded event to the alerts, the sinks and the metrics.
        let mut feed = engine.audit_feed();
        {
            let (alerts, sinks, mut stop) = (Arc::clone(&alerts), sinks.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        got = feed.recv() => match got {
                            Ok(recorded) => {
                                metrics.observe_audit(&recorded.event);
                                alerts.observe(&recorded.event);
                                if let Some(sinks) = &sinks {
                                    sinks.send(&recorded.event);
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(n)) => tracing::error!(
                                missed = n,
                                "the alerts and the export fell behind the audit log; events missed there (the log has them)"
                            ),
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        _ = stop.changed() => return,
                    }
                }
            }));
        }
        // The alerts' own events into the audit log.
        let recorder = {
            let engine = engine.clone();
            tokio::spawn(async move {
                while let Some(event) = alert_events_rx.recv().await {
                    if let Err(e) = engine.record_event(Scope::System, event).await {
                        tracing::error!(error = %e, "could not record an alert event");
                    }
                }
            })
        };
        // The check at start comes before the checkpoints and retention below write to the log:
        // a checkpoint signed while the check reads would look like a cut checkpoint file.
        let broken_at_start = verify_at_start(&engine, &alerts).await;
        // Checkpoints.
        tasks.push(tokio::spawn(every(
            Duration::from_secs(config.audit.checkpoint_secs),
            stop.clone(),
            {
                let engine = engine.clone();
                move || {
                    let engine = engine.clone();
                    async move {
                        if let Err(e) = engine.audit_checkpoint().await {
                            tracing::error!(error = %e, "the scheduled audit checkpoint failed");
                        }
                    }
                }
            },
        )));
        // Retention, now and daily.
        let days = i64::from(config.audit.retention_days);
        tasks.push(tokio::spawn(every(RETENTION_EVERY, stop.clone(), {
            let engine = engine.clone();
            move || {
                let engine = engine.clone();
                async move {
                    let horizon = engine.now().millis() - days * 24 * 3600 * 1000;
                    match engine.audit_retention(horizon).await {
                        Ok(r) if r.segments_removed > 0 => tracing::info!(
                            segments = r.segments_removed,
                            events = r.entries_removed,
                            first_seq = r.first_seq,
                            "audit retention removed old segments"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "audit retention failed"),
                    }
                }
            }
        })));
        // Health and disk.
        tasks.push(tokio::spawn(watch_health(
            engine.clone(),
            Arc::clone(&alerts),
            sinks.clone(),
            stop,
        )));
        Ok(Watch {
            tasks,
            recorder: Some(recorder),
            alerts: Some(alerts),
            sinks,
            broken_at_start,
        })
    }

    /// Stops the loops, gives pending alert deliveries a moment, and flushes the sinks.
    pub async fn shutdown(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // Aborted tasks drop their handles on the alerts and sinks once they end.
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(alerts) = self.alerts.take().and_then(Arc::into_inner) {
            let abandoned = alerts.shutdown(ALERTS_GRACE).await;
            if abandoned > 0 {
                tracing::warn!(
                    abandoned,
                    "alert deliveries still pending at shutdown were abandoned"
                );
            }
        }
        if let Some(recorder) = self.recorder.take() {
            let _ = recorder.await;
        }
        if let Some(sinks) = self.sinks.take().and_then(Arc::into_inner)
            && let Err(e) = sinks.shutdown().await
        {
            tracing::error!(error = %e, "the audit export could not deliver everything at shutdown");
        }
    }
}

/// Runs `work` now and then every `period` until `stop`.
async fn every<F, Fut>(period: Duration, mut stop: watch::Receiver<bool>, work: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => work().await,
            _ = stop.changed() => return,
        }
    }
}

/// Turns a mirror going down and a location running low into events, once per episode.
async fn watch_health(
    engine: Engine,
    alerts: Arc<alerts::Alerts>,
    sinks: Option<Arc<siem::Sinks>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut degraded = false;
    let mut low = [false, false];
    // What the alerts and the export had dropped when last looked at.
    let (mut alerts_dropped, mut export_dropped) = (0u64, 0u64);
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match engine.health() {
            Health::Degraded { cause } if !degraded => {
                degraded = true;
                let draft = Draft::new("mirror.degraded", Outcome::Failure)
                    .on("storage", "journal")
                    .because(&cause);
                operational(&engine, Some(&alerts), draft).await;
            }
            Health::Degraded { .. } => {}
            Health::Healthy => degraded = false,
        }
        for (i, (location, space)) in engine.disk_space().into_iter().enumerate() {
            let Ok(space) = space else { continue };
            let percent = space
                .free_bytes
                .saturating_mul(100)
                .checked_div(space.total_bytes)
                .unwrap_or(100);
            let is_low = percent < LOW_DISK_PERCENT;
            if is_low && !low[i] {
                let draft = Draft::new("disk.low", Outcome::Failure)
                    .on("location", location)
                    .because("below_10_percent_free")
                    .with("free_bytes", space.free_bytes)
                    .with("total_bytes", space.total_bytes);
                operational(&engine, Some(&alerts), draft).await;
            }
            low[i] = is_low;
        }
        // Nothing leaves silently: alerts or exported lines dropped since the last look are an
        // event (the audit log itself has every event).
        let now = alerts.dropped();
        if now > alerts_dropped {
            let draft = Draft::new("alert.dropped", Outcome::Failure)
                .on("alerts", "queue")
                .because("queue_full")
                .with("dropped", now - alerts_dropped);
            operational(&engine, None, draft).await;
            alerts_dropped = now;
        }
        if let Some(sinks) = &sinks {
            let now = sinks.dropped();
            if now > export_dropped {
                let draft = Draft::new("audit.export_dropped", Outcome::Failure)
                    .on("export", "sinks")
                    .because("sink_failed_or_full")
                    .with("dropped", now - export_dropped);
                operational(&engine, None, draft).await;
                export_dropped = now;
            }
        }
    }
}

/// Checks the audit log of the first location with the public key before serving and before the
/// checkpoints and retention start; a break is returned and recorded as `audit.verify_failed`,
/// which the alerts see; serving goes on.
async fn verify_at_start(engine: &Engine, alerts: &alerts::Alerts) -> Option<String> {
    let dir = engine.paths().audit_dirs()[0].clone();
    let public = engine.audit_public_key();
    let checked = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || audit::verify_dir(&dir, &public)).await
    };
    let broken = match checked {
        Ok(Ok(verified)) => {
            tracing::info!(%verified, "audit log verified at start");
            return None;
        }
        Ok(Err(broken)) => broken.to_string(),
        Err(e) => format!("the verification did not finish: {e}"),
    };
    let draft = Draft::new("audit.verify_failed", Outcome::Failure)
        .on("audit_log", dir.display())
        .because(&broken);
    operational(engine, Some(alerts), draft).await;
    Some(broken)
}
