//! Alerts (P17): rules over the audit event stream (`rules`, `evaluator`), delivered by email
//! (`email`: SMTP with STARTTLS required) and by signed webhook (`webhook`), each channel
//! retried with exponential backoff (`delivery`), every outcome recorded as an audit event
//! (`events`: `alert.fired`, `alert.delivered`, `alert.failed`).
//!
//! The entry point is [`Alerts`]: [`Alerts::start`] with [`Settings`] and the sender of the
//! audit events this crate makes, [`Alerts::observe`] for every audit event, and
//! [`Alerts::shutdown`].
//!
//! Pending deliveries live in memory only: a restart loses them (the audit log keeps their
//! `alert.fired` and `alert.failed` events). This crate never writes alert text to disk and
//! never puts the SMTP password or the webhook secret into a log, an error or `Debug`.

mod delivery;
pub mod email;
pub mod evaluator;
mod events;
pub mod rules;
pub mod settings;
pub mod webhook;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit::AuditEvent;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use evaluator::{Alert, Evaluator};
pub use rules::{GroupBy, Rule, Severity, builtins, rule_set};
pub use settings::{EmailSettings, RetryPolicy, Settings, WebhookSettings};
pub use webhook::{SIGNATURE_HEADER, SignatureError, sign, verify_signature};

/// What can go wrong when the alerts start. Delivery failures are not errors: they are
/// `alert.failed` events, and retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule that can not work.
    #[error("alert rule refused: {0}")]
    Rule(String),
    /// A setting of the `[alerts]` section that can not work.
    #[error("alerts.{setting}: {problem}")]
    Setting {
        setting: &'static str,
        problem: String,
    },
    /// A secret file that is missing, unreadable, empty or readable by others.
    #[error("alerts.{what} {path}: {problem}")]
    SecretFile {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
    /// A CA file that is missing or holds no certificate.
    #[error("alerts CA file {path}: {problem}")]
    CaFile { path: PathBuf, problem: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether `event` was made by this crate (`alert.*`); such events never count for a rule.
pub fn is_own_event(event: &AuditEvent) -> bool {
    event.action.starts_with("alert.")
}

/// The running alerts: the evaluator and the delivery task.
pub struct Alerts {
    evaluator: Mutex<Evaluator>,
    queue: mpsc::Sender<Alert>,
    stop: watch::Sender<bool>,
    task: JoinHandle<usize>,
    dropped: AtomicU64,
}

impl Alerts {
    /// Checks the rules, reads the secret and CA files, and starts the delivery task on the
    /// current tokio runtime. Events about alerts go to `events_out`.
    pub fn start(settings: Settings, events_out: mpsc::Sender<AuditEvent>) -> Result<Alerts> {
        for rule in &settings.rules {
            if let Some(problem) = rule.problem() {
                return Err(Error::Rule(problem));
            }
        }
        let mut channels = Vec::new();
        if let Some(email) = &settings.email {
            channels.push(Arc::new(delivery::Channel::Email(email::Email::new(
                email,
            )?)));
        }
        if let Some(webhook) = &settings.webhook {
            channels.push(Arc::new(delivery::Channel::Webhook(webhook::Webhook::new(
                webhook,
            )?)));
        }
        let (queue, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        let (stop, stopped) = watch::channel(false);
        let dispatcher = delivery::Dispatcher {
            node: settings.node,
            channels,
            retry: settings.retry,
            max_pending: settings.max_pending,
            events_out,
        };
        let task = tokio::spawn(dispatcher.run(receiver, stopped));
        Ok(Alerts {
            evaluator: Mutex::new(Evaluator::new(settings.rules, settings.max_groups)),
            queue,
            stop,
            task,
            dropped: AtomicU64::new(0),
        })
    }

    /// Counts `event` against the rules and queues the alerts it fires; returns them. Never
    /// blocks on delivery: when the queue is full the alert is dropped with a warning (see
    /// [`Alerts::dropped`]). `alert.*` events are ignored.
    pub fn observe(&self, event: &AuditEvent) -> Vec<Alert> {
        let fired = match self.evaluator.lock() {
            Ok(mut evaluator) => evaluator.observe(event),
            Err(poisoned) => poisoned.into_inner().observe(event),
        };
        for alert in &fired {
            if self.queue.try_send(alert.clone()).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(alert = %alert.id, rule = %alert.rule,
                    "alert dropped: the delivery queue is full or stopped");
            }
        }
        fired
    }

    /// Alerts dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops taking alerts, lets pending deliveries run for up to `grace`, then abandons the
    /// rest. Returns how many deliveries were abandoned (lost: the queue is in memory).
    pub async fn shutdown(self, grace: Duration) -> usize {
        drop(self.queue);
        let stop = self.stop;
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(done) => done.unwrap_or_default(),
            Err(_) => {
                let _ = stop.send(true);
                task.await.unwrap_or_default()
            }
        }
    }
}
