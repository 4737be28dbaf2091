//! Audit events for the sink tests: plain ones numbered in order, and hostile ones whose
//! client-supplied text tries to break out of its line, its message or its terminal.

#![allow(dead_code)]

pub mod receiver;

use std::time::{Duration, Instant};

use audit::{Actor, ActorKind, AuditEvent, Client, Outcome, Resource};

/// Text an attacker controls: newlines, CR LF, ANSI escapes, Unicode separators, NUL, DEL, C1,
/// and a forged syslog header and SD element.
pub const ATTACKS: &[&str] = &[
    "curl/8\n{\"action\":\"login.succeeded\"}",
    "x\r\n<85>1 2027-01-01T00:00:00.000Z forged strongroom - login.succeeded - FAKE",
    "\u{1b}[31mred\u{1b}[0m\u{1b}]0;title\u{7}",
    "line\u{2028}separator\u{2029}paragraph",
    "nul\u{0}byte del\u{7f} c1\u{85}\u{9b}",
    "quote\" backslash\\ bracket] [strongroom@32473 outcome=\"success\"]",
];

/// Event number `n`: successes and failures alternate.
pub fn event(n: u64) -> AuditEvent {
    let success = n.is_multiple_of(2);
    AuditEvent {
        id: format!("ev_{n:032x}"),
        at: 1_800_000_000_000 + n as i64,
        node: "node-a".into(),
        actor: Actor {
            kind: ActorKind::User,
            id: Some("us_1".into()),
            tenant: Some("tn_1".into()),
        },
        action: if success {
            "login.succeeded"
        } else {
            "login.failed"
        }
        .into(),
        resource: Some(Resource {
            kind: "user".into(),
            id: Some("us_1".into()),
        }),
        outcome: if success {
            Outcome::Success
        } else {
            Outcome::Failure
        },
        reason: (!success).then(|| "invalid_credentials".into()),
        client: Client::new(Some([203, 0, 113, 7].into()), Some("curl/8.5.0")),
        request_id: Some(format!("rq_{n:06}")),
        details: serde_json::Map::new(),
    }
}

/// Event `n` as a success: every such event renders to a line of the same length.
pub fn uniform(n: u64) -> AuditEvent {
    let mut e = event(n);
    e.action = "login.succeeded".into();
    e.outcome = Outcome::Success;
    e.reason = None;
    e
}

/// Event `n` with `attack` in every client-supplied or named field.
pub fn hostile(n: u64, attack: &str) -> AuditEvent {
    let mut e = event(n);
    e.actor.id = Some(attack.into());
    e.resource = Some(Resource {
        kind: attack.into(),
        id: Some(attack.into()),
    });
    e.action = format!("role.changed{attack}");
    e.outcome = Outcome::Denied;
    e.reason = Some(attack.into());
    e.client = Client::new(Some([198, 51, 100, 1].into()), Some(attack));
    e.request_id = Some(attack.into());
    e.details.insert("name".into(), attack.into());
    e.details.insert(attack.into(), attack.into());
    e
}

/// One hostile event per attack.
pub fn hostile_events() -> Vec<AuditEvent> {
    ATTACKS
        .iter()
        .enumerate()
        .map(|(i, a)| hostile(i as u64, a))
        .collect()
}

/// Characters that must never appear raw in a line or a message.
pub fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
        .collect()
}

/// Polls `done` until it holds, failing with `what` after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
