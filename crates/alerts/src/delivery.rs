//! The delivery task: takes alerts from the bounded queue, records `alert.fired`, and sends
//! each alert to every channel independently, retrying a failed channel with exponential
//! backoff until it succeeds or the retry policy gives up. Every attempt's outcome is an event
//! (`alert.delivered`, `alert.failed`) on the caller's channel.
//!
//! The queue and the pending retries live in memory only: a restart loses deliveries still
//! pending (their `alert.fired` and `alert.failed` events are in the audit log). Alert text is
//! never written to disk.

use std::sync::Arc;
use std::time::Duration;

use audit::AuditEvent;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::email::Email;
use crate::evaluator::Alert;
use crate::events;
use crate::settings::RetryPolicy;
use crate::webhook::Webhook;

/// One way out.
pub(crate) enum Channel {
    Email(Email),
    Webhook(Webhook),
}

impl Channel {
    fn name(&self) -> &'static str {
        match self {
            Channel::Email(_) => "email",
            Channel::Webhook(_) => "webhook",
        }
    }

    async fn deliver(&self, alert: &Alert, json: &[u8]) -> Result<(), String> {
        match self {
            Channel::Email(email) => email.send(alert).await,
            Channel::Webhook(webhook) => webhook.post(json).await,
        }
    }
}

/// What the task needs besides its queue.
pub(crate) struct Dispatcher {
    pub node: String,
    pub channels: Vec<Arc<Channel>>,
    pub retry: RetryPolicy,
    pub max_pending: usize,
    pub events_out: mpsc::Sender<AuditEvent>,
}

impl Dispatcher {
    /// Runs until `stop` turns true or the queue closes (then until the pending deliveries end
    /// or `stop` turns true). Returns how many deliveries were still pending when it stopped.
    pub(crate) async fn run(
        self,
        mut queue: mpsc::Receiver<Alert>,
        mut stop: watch::Receiver<bool>,
    ) -> usize {
        let permits = Arc::new(Semaphore::new(self.max_pending.max(1)));
        let mut pending = JoinSet::new();
        let mut open = true;
        while open || !pending.is_empty() {
            let step = tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => Step::Stop,
                alert = queue.recv(), if open => Step::Queued(alert),
                Some(_) = pending.join_next() => Step::Finished,
            };
            match step {
                Step::Stop => break,
                Step::Queued(Some(alert)) => {
                    self.dispatch(alert, &permits, &mut pending, &mut stop)
                        .await
                }
                Step::Queued(None) => open = false,
                Step::Finished => {}
            }
        }
        let left = pending.len();
        pending.abort_all();
        left
    }

    async fn dispatch(
        &self,
        alert: Alert,
        permits: &Arc<Semaphore>,
        pending: &mut JoinSet<()>,
        stop: &mut watch::Receiver<bool>,
    ) {
        // The event is recorded before any delivery is tried.
        let _ = self
            .events_out
            .send(events::fired(&self.node, &alert))
            .await;
        let alert = Arc::new(alert);
        let json: Arc<[u8]> = serde_json::to_vec(&*alert).unwrap_or_default().into();
        for channel in &self.channels {
            let permit = tokio::select! {
                permit = Arc::clone(permits).acquire_owned() => permit,
                _ = stop.wait_for(|stopped| *stopped) => return,
            };
            let Ok(permit) = permit else { return };
            let attempt = Attempts {
                node: self.node.clone(),
                channel: Arc::clone(channel),
                alert: Arc::clone(&alert),
                json: Arc::clone(&json),
                retry: self.retry,
                events_out: self.events_out.clone(),
            };
            pending.spawn(async move {
                attempt.run().await;
                drop(permit);
            });
        }
    }
}

enum Step {
    Stop,
    Queued(Option<Alert>),
    Finished,
}

/// One alert on one channel, until delivered or given up.
struct Attempts {
    node: String,
    channel: Arc<Channel>,
    alert: Arc<Alert>,
    json: Arc<[u8]>,
    retry: RetryPolicy,
    events_out: mpsc::Sender<AuditEvent>,
}

impl Attempts {
    async fn run(self) {
        let started = Instant::now();
        let mut wait = self.retry.first;
        let name = self.channel.name();
        for attempt in 1u32.. {
            let event = match self.channel.deliver(&self.alert, &self.json).await {
                Ok(()) => {
                    let event = events::delivered(&self.node, &self.alert, name, attempt);
                    let _ = self.events_out.send(event).await;
                    return;
                }
                Err(error) => {
                    let last = started.elapsed().saturating_add(wait) > self.retry.give_up_after;
                    tracing::warn!(
                        alert = %self.alert.id, rule = %self.alert.rule, channel = name, attempt,
                        gave_up = last, error = %audit::event::escape_controls(&error),
                        "alert delivery failed"
                    );
                    (
                        last,
                        events::failed(&self.node, &self.alert, name, attempt, last, &error),
                    )
                }
            };
            let (last, event) = event;
            let _ = self.events_out.send(event).await;
            if last {
                return;
            }
            tokio::time::sleep(wait).await;
            wait = wait
                .saturating_mul(2)
                .min(self.retry.max.max(Duration::from_millis(1)));
        }
    }
}
