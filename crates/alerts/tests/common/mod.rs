//! Helpers shared by the alerts tests: audit events as the services would make them, and a
//! bounded wait on the events the crate reports.
#![allow(dead_code)]

use std::time::Duration;

use alerts::{GroupBy, Rule, Severity, rules::Actions};
use audit::{Actor, ActorKind, AuditEvent, Client, Outcome};
use tokio::sync::mpsc;

/// An event `action` at `at` ms by account `actor` from `ip`.
pub fn event(action: &str, at: i64, actor: &str, ip: &str) -> AuditEvent {
    AuditEvent {
        id: format!("ev_{at:032x}"),
        at,
        node: "node-a".into(),
        actor: Actor {
            kind: ActorKind::Anonymous,
            id: Some(actor.into()),
            tenant: Some("tn_1".into()),
        },
        action: action.into(),
        resource: None,
        outcome: Outcome::Failure,
        reason: Some("invalid_credentials".into()),
        client: Client {
            ip: Some(ip.into()),
            user_agent: None,
        },
        request_id: None,
        details: serde_json::Map::new(),
    }
}

/// A rule on `action` grouped by `group_by`.
pub fn rule(
    action: &str,
    group_by: GroupBy,
    threshold: u32,
    window_secs: u64,
    cooldown_secs: u64,
) -> Rule {
    Rule {
        name: format!("test_{}", group_by.as_str()),
        action: Actions::One(action.into()),
        group_by,
        threshold,
        window_secs,
        severity: Severity::Critical,
        cooldown_secs,
    }
}

/// Receives events until `done` says the ones seen so far are enough; fails after 20 s with
/// what came.
pub async fn events_until(
    rx: &mut mpsc::Receiver<AuditEvent>,
    done: impl Fn(&[AuditEvent]) -> bool,
) -> Vec<AuditEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => seen.push(event),
            Ok(None) => panic!("the event channel closed; seen: {:#?}", actions(&seen)),
            Err(_) => panic!("no such events within 20 s; seen: {:#?}", actions(&seen)),
        }
    }
    seen
}

/// `action` and `channel` of each event, for failure messages and assertions.
pub fn actions(events: &[AuditEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.details.get("channel") {
            Some(c) => format!("{} {}", e.action, c.as_str().unwrap_or_default()),
            None => e.action.clone(),
        })
        .collect()
}
