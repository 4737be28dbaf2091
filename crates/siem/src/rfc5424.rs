//! An audit event as an RFC 5424 syslog message, framed for TLS by octet counting (RFC 5425):
//!
//! ```text
//! LEN SP <PRI>1 TIMESTAMP HOSTNAME strongroom - MSGID [strongroom@32473 id="…" outcome="…" actor="…" …] BOM MSG
//! ```
//!
//! Facility authpriv (10); severity notice for a success, warning for a failure or refusal.
//! The timestamp is UTC with milliseconds. HOSTNAME and MSGID (the action) keep printable
//! US-ASCII only. SD-PARAM values are escaped as §6.3.3 requires (`"`, `\`, `]`) after every
//! control character was written as `\uXXXX`; MSG is the event's `render_line()`. No byte below
//! 0x20 (nor DEL) is ever part of a message, so no value can end a message or forge another.

use audit::{AuditEvent, Outcome, event::escape_controls};

/// Facility `authpriv`: security and authorisation messages.
pub const FACILITY_AUTHPRIV: u8 = 10;
/// Severity `notice` (5): a success.
pub const SEVERITY_NOTICE: u8 = 5;
/// Severity `warning` (4): a failure or a refusal.
pub const SEVERITY_WARNING: u8 = 4;
/// APP-NAME of every message.
pub const APP_NAME: &str = "strongroom";
/// SD-ID of the structured data: a private name under a private enterprise number.
pub const SD_ID: &str = "strongroom@32473";

const MAX_HOSTNAME: usize = 255;
const MAX_MSGID: usize = 32;
/// UTF-8 byte order mark, which RFC 5424 §6.4 requires before a UTF-8 MSG.
const BOM: &str = "\u{feff}";

/// The syslog message of `event`; `hostname` overrides the event's node.
pub fn message(event: &AuditEvent, hostname: Option<&str>) -> String {
    let severity = match event.outcome {
        Outcome::Success => SEVERITY_NOTICE,
        Outcome::Failure | Outcome::Denied => SEVERITY_WARNING,
    };
    let pri = FACILITY_AUTHPRIV * 8 + severity;
    format!(
        "<{pri}>1 {} {} {APP_NAME} - {} {} {BOM}{}",
        timestamp(event.at),
        header_field(hostname.unwrap_or(&event.node), MAX_HOSTNAME),
        header_field(&event.action, MAX_MSGID),
        structured_data(event),
        event.render_line(),
    )
}

/// `message` framed for RFC 5425: its length in octets, a space, the message.
pub fn frame(message: &str) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message.as_bytes());
    out
}

/// RFC 3339 in UTC with milliseconds (`2027-01-15T08:00:00.123Z`); `-` when out of range.
pub fn timestamp(at_ms: i64) -> String {
    let nanos = i128::from(at_ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) if (0..=9999).contains(&t.year()) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        _ => "-".to_owned(),
    }
}

/// A header field: printable US-ASCII (33–126) only, others replaced by `_`, at most `max`
/// characters; `-` (the NILVALUE) when empty.
pub fn header_field(text: &str, max: usize) -> String {
    let out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if out.is_empty() { "-".to_owned() } else { out }
}

/// An SD-PARAM value: controls as `\uXXXX`, then `"`, `\` and `]` escaped with `\`.
pub fn sd_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_controls(text).chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `[strongroom@32473 id="…" outcome="…" actor="…" …]`: the event's fixed fields, for
/// collectors that index structured data; the free-text ones are left to MSG.
fn structured_data(event: &AuditEvent) -> String {
    let outcome = match event.outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Denied => "denied",
    };
    let resource = event.resource.as_ref();
    let params: [(&str, Option<&str>); 9] = [
        ("id", Some(&event.id)),
        ("action", Some(&event.action)),
        ("outcome", Some(outcome)),
        ("actor", Some(actor_kind_name(event.actor.kind))),
        ("actor_id", event.actor.id.as_deref()),
        ("tenant", event.actor.tenant.as_deref()),
        ("resource", resource.map(|r| r.kind.as_str())),
        ("resource_id", resource.and_then(|r| r.id.as_deref())),
        ("ip", event.client.ip.as_deref()),
    ];
    let mut out = format!("[{SD_ID}");
    for (name, value) in params {
        if let Some(value) = value {
            out.push_str(&format!(" {name}=\"{}\"", sd_value(value)));
        }
    }
    out.push(']');
    out
}

/// The name an actor kind has in the event's JSON (`system_admin`).
fn actor_kind_name(kind: audit::ActorKind) -> &'static str {
    use audit::ActorKind::*;
    match kind {
        User => "user",
        Service => "service",
        Token => "token",
        SystemAdmin => "system_admin",
        Bootstrap => "bootstrap",
        Anonymous => "anonymous",
        System => "system",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_800_000_000_123), "2027-01-15T08:00:00.123Z");
        assert_eq!(timestamp(i64::MAX), "-");
        assert_eq!(timestamp(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn header_fields_keep_printable_ascii_only() {
        assert_eq!(header_field("login.failed", 32), "login.failed");
        assert_eq!(header_field("a b\n\u{1b}é", 32), "a_b___");
        assert_eq!(header_field(&"x".repeat(40), 32).len(), 32);
        assert_eq!(header_field("", 32), "-");
    }

    #[test]
    fn sd_values_escape_quote_backslash_bracket_and_controls() {
        assert_eq!(sd_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(sd_value("x\ny\u{1b}"), r"x\\u000ay\\u001b");
    }
}
