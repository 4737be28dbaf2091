//! The audit events this crate makes about itself: `alert.fired`, `alert.delivered`,
//! `alert.failed` (actor kind `System`, resource kind `alert`). They carry the rule, the group,
//! the channel and the attempt, never a secret or a message body.

use audit::{Actor, ActorKind, AuditEvent, Client, Outcome, Resource};
use serde_json::{Map, Value, json};

use crate::evaluator::Alert;

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

fn event(
    node: &str,
    at: i64,
    action: &str,
    alert: &Alert,
    outcome: Outcome,
    details: Map<String, Value>,
) -> AuditEvent {
    let mut all = Map::new();
    all.insert("rule".into(), json!(alert.rule));
    all.insert("group_by".into(), json!(alert.group_by.as_str()));
    all.insert("group".into(), json!(alert.group));
    all.extend(details);
    AuditEvent {
        id: audit::EventId::random().to_string(),
        at,
        node: node.to_owned(),
        actor: Actor {
            kind: ActorKind::System,
            id: None,
            tenant: None,
        },
        action: action.to_owned(),
        resource: Some(Resource {
            kind: "alert".into(),
            id: Some(alert.id.clone()),
        }),
        outcome,
        reason: None,
        client: Client::default(),
        request_id: None,
        details: all,
    }
}

/// `alert.fired`, at the event time of the last counted event.
pub(crate) fn fired(node: &str, alert: &Alert) -> AuditEvent {
    let details = Map::from_iter([
        ("severity".to_owned(), json!(alert.severity.as_str())),
        ("count".to_owned(), json!(alert.count)),
        ("window_secs".to_owned(), json!(alert.window_secs)),
        ("event_ids".to_owned(), json!(alert.event_ids)),
    ]);
    event(
        node,
        alert.last_at,
        "alert.fired",
        alert,
        Outcome::Success,
        details,
    )
}

/// `alert.delivered` on `channel` at `attempt` (1 is the first).
pub(crate) fn delivered(node: &str, alert: &Alert, channel: &str, attempt: u32) -> AuditEvent {
    let details = Map::from_iter([
        ("channel".to_owned(), json!(channel)),
        ("attempt".to_owned(), json!(attempt)),
    ]);
    event(
        node,
        now_ms(),
        "alert.delivered",
        alert,
        Outcome::Success,
        details,
    )
}

/// `alert.failed` on `channel` at `attempt`; `last` when no retry follows. `error` is capped
/// and escaped (it may quote a server's answer).
pub(crate) fn failed(
    node: &str,
    alert: &Alert,
    channel: &str,
    attempt: u32,
    last: bool,
    error: &str,
) -> AuditEvent {
    let error = audit::event::escape_controls(&audit::event::cap(error, audit::event::MAX_TEXT));
    let details = Map::from_iter([
        ("channel".to_owned(), json!(channel)),
        ("attempt".to_owned(), json!(attempt)),
        ("gave_up".to_owned(), json!(last)),
        ("error".to_owned(), json!(error)),
    ]);
    let mut out = event(
        node,
        now_ms(),
        "alert.failed",
        alert,
        Outcome::Failure,
        details,
    );
    out.reason = Some(if last { "gave_up" } else { "will_retry" }.to_owned());
    out
}
