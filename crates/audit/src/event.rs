//! An audit event: who (principal and kind), what (action, resource), when, where (client IP,
//! user agent, node), outcome, and the request it belongs to. Never a secret.
//!
//! Client-supplied text (user agent, reasons, names in details) is capped when the event is
//! made; JSON encoding escapes quotes and controls; [`AuditEvent::render_line`] escapes every
//! control character (C0, DEL, C1, and the Unicode line and paragraph separators) as a JSON
//! `\uXXXX` escape, so one event is always exactly one line of text that is still valid JSON
//! and can not forge another (log injection).

use serde::{Deserialize, Serialize};

/// Longest user agent kept, in bytes.
pub const MAX_USER_AGENT: usize = 512;
/// Longest other client-supplied text kept, in bytes.
pub const MAX_TEXT: usize = 256;

/// `text` cut to at most `max` bytes on a character boundary, marked with `…` when cut.
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Service,
    Token,
    SystemAdmin,
    Bootstrap,
    Anonymous,
    /// The server itself (schedules, start-up, retention).
    System,
}

/// The principal behind an act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The principal's id (`us_…`, `tk_…`), or a keyed hash for an unknown account.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// The tenant the principal belongs to (none: the system realm).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant: Option<String>,
}

/// What the act was done to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `user`, `session`, `token`, `role`, `tenant`, `collection`, `settings`, `key`, …
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// The act was tried and failed (a wrong password).
    Failure,
    /// The act was refused before it was tried (no right, throttled, locked).
    Denied,
}

/// Where the request came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Client {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_agent: Option<String>,
}

impl Client {
    /// A client with its user agent capped at [`MAX_USER_AGENT`] bytes.
    pub fn new(ip: Option<std::net::IpAddr>, user_agent: Option<&str>) -> Client {
        Client {
            ip: ip.map(|ip| ip.to_string()),
            user_agent: user_agent.map(|ua| cap(ua, MAX_USER_AGENT)),
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// `ev_` and 32 hex digits (a [`types::EventId`]).
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// The node that recorded it.
    pub node: String,
    pub actor: Actor,
    /// `family.verb`, from the list in the design note (`login.failed`).
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<Resource>,
    pub outcome: Outcome,
    /// A machine-readable reason for failures and refusals (`invalid_credentials`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub client: Client,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    /// Act-specific facts (a role's old and new name, a key version). Never secrets.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty", default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl AuditEvent {
    /// The event as one line of text: its JSON with every control character escaped, also
    /// those JSON leaves alone (DEL, C1, U+2028, U+2029), so that no terminal, syslog collector
    /// or line-based reader can be made to see two events in one or a forged one.
    pub fn render_line(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        escape_controls(&json)
    }
}

/// Replaces every control character (and the Unicode line separators) with `\uXXXX`. All of
/// them are below U+FFFF, so inside a JSON string this is the JSON escape of the same character.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user_agent: &str, reason: &str) -> AuditEvent {
        AuditEvent {
            id: "ev_00000000000000000000000000000001".into(),
            at: 1_800_000_000_000,
            node: "node-a".into(),
            actor: Actor {
                kind: ActorKind::Anonymous,
                id: None,
                tenant: Some("tn_1".into()),
            },
            action: "login.failed".into(),
            resource: None,
            outcome: Outcome::Failure,
            reason: Some(reason.into()),
            client: Client::new(Some([203, 0, 113, 7].into()), Some(user_agent)),
            request_id: Some("rq_1".into()),
            details: serde_json::Map::new(),
        }
    }

    #[test]
    fn injected_newlines_and_escapes_stay_inside_one_encoded_line() {
        let attacks = [
            "curl/8\n{\"action\":\"login.succeeded\"}",
            "x\r\nFAKE EVENT",
            "\u{1b}[31mred\u{1b}[0m",
            "a\u{85}b\u{2028}c\u{2029}d\u{7f}e\u{0}f",
        ];
        for attack in attacks {
            let line = event(attack, attack).render_line();
            assert!(
                !line.contains([
                    '\n', '\r', '\u{1b}', '\u{85}', '\u{2028}', '\u{2029}', '\u{7f}', '\u{0}'
                ]),
                "{line:?}"
            );
            assert_eq!(line.lines().count(), 1, "{line:?}");
            // The line is JSON and reads back to the very same event.
            let back: AuditEvent = serde_json::from_str(&line).expect("json");
            assert_eq!(back, event(attack, attack));
        }
    }

    #[test]
    fn client_text_is_capped_on_a_character_boundary() {
        let long = "é".repeat(1000);
        let ua = Client::new(None, Some(&long)).user_agent.expect("ua");
        assert!(ua.len() <= MAX_USER_AGENT, "{}", ua.len());
        assert!(ua.ends_with('…'));
        assert_eq!(cap("short", MAX_TEXT), "short");
    }
}
