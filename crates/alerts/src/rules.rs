//! Alert rules: which events count (action, exact or `family.*`), how they are grouped, how many
//! in what window make an alert, how bad it is, and how long a repeat stays quiet. Plus the
//! built-in rules, on unless `builtins = false`.
//!
//! Rules are data (serde, from the `[alerts]` section of the configuration); they never run code
//! and never look at anything but the audit event they are given.

use audit::AuditEvent;
use serde::{Deserialize, Serialize};

/// What an alert's events are grouped by: one sliding window per rule and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// `actor.id` (an account, or the keyed hash of an unknown account name).
    Actor,
    /// `client.ip`.
    Ip,
    /// `actor.tenant`.
    Tenant,
    /// `resource.kind` and `resource.id` (a mirror, a disk location).
    Resource,
    /// All matching events together.
    None,
}

impl GroupBy {
    /// The group key of `event`, or `None` when the event lacks the field (it then does not
    /// count for this rule).
    pub fn key(self, event: &AuditEvent) -> Option<String> {
        match self {
            GroupBy::Actor => event.actor.id.clone(),
            GroupBy::Ip => event.client.ip.clone(),
            GroupBy::Tenant => event.actor.tenant.clone(),
            GroupBy::Resource => event.resource.as_ref().map(|r| match &r.id {
                Some(id) => format!("{}:{id}", r.kind),
                None => r.kind.clone(),
            }),
            GroupBy::None => Some("*".to_owned()),
        }
    }

    /// The name used in configuration and in alerts (`actor`, `ip`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Actor => "actor",
            GroupBy::Ip => "ip",
            GroupBy::Tenant => "tenant",
            GroupBy::Resource => "resource",
            GroupBy::None => "none",
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One action pattern or several; configuration may write `action = "login.failed"` or
/// `action = ["login.failed", "mfa.failed"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Actions {
    One(String),
    Many(Vec<String>),
}

impl Actions {
    /// The patterns, whichever form was written.
    pub fn patterns(&self) -> &[String] {
        match self {
            Actions::One(one) => std::slice::from_ref(one),
            Actions::Many(many) => many,
        }
    }
}

/// Whether `action` matches `pattern`: equal, or `pattern` is `family.*` and `action` starts
/// with `family.`; `*` alone matches every action.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

/// One alert rule: `threshold` matching events of one group within `window_secs` fire an alert,
/// then that (rule, group) stays quiet for `cooldown_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name, shown in alerts (`failed_logins_per_account`).
    pub name: String,
    /// Action patterns: exact (`login.locked`) or a family prefix (`login.*`).
    pub action: Actions,
    pub group_by: GroupBy,
    /// Events needed in the window; at least 1.
    pub threshold: u32,
    /// Length of the sliding window, in seconds of event time.
    pub window_secs: u64,
    pub severity: Severity,
    /// After a firing, the same (rule, group) does not fire again for this long.
    pub cooldown_secs: u64,
}

impl Rule {
    /// Whether `event` counts for this rule (its group aside).
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.action
            .patterns()
            .iter()
            .any(|p| action_matches(p, &event.action))
    }

    /// What is wrong with this rule, if anything, in words naming the field.
    pub fn problem(&self) -> Option<String> {
        if self.name.trim().is_empty() {
            return Some("a rule has an empty name".into());
        }
        let name = &self.name;
        if self.action.patterns().is_empty() || self.action.patterns().iter().any(|p| p.is_empty())
        {
            return Some(format!(
                "rule {name}: `action` needs at least one non-empty pattern"
            ));
        }
        if !(1..=MAX_THRESHOLD).contains(&self.threshold) {
            return Some(format!(
                "rule {name}: threshold {} is outside 1..={MAX_THRESHOLD}",
                self.threshold
            ));
        }
        if !(1..=MAX_WINDOW_SECS).contains(&self.window_secs) {
            return Some(format!(
                "rule {name}: window_secs {} is outside 1..={MAX_WINDOW_SECS}",
                self.window_secs
            ));
        }
        None
    }
}

/// Largest threshold: the evaluator keeps up to this many timestamps per group.
pub const MAX_THRESHOLD: u32 = 10_000;
/// Longest window: one week.
pub const MAX_WINDOW_SECS: u64 = 7 * 24 * 3600;

fn rule(
    name: &str,
    actions: &[&str],
    group_by: GroupBy,
    threshold: u32,
    window_secs: u64,
    severity: Severity,
    cooldown_secs: u64,
) -> Rule {
    Rule {
        name: name.to_owned(),
        action: Actions::Many(actions.iter().map(|a| (*a).to_owned()).collect()),
        group_by,
        threshold,
        window_secs,
        severity,
        cooldown_secs,
    }
}

/// The built-in rules: failed logins per account (10 in 5 min) and per IP (50 in 5 min), any
/// lockout, a degraded mirror, a failed audit verification, low disk, a backup destination
/// that failed (per destination) or a failed restore drill.
pub fn builtins() -> Vec<Rule> {
    use GroupBy::*;
    use Severity::*;
    let failed = ["login.failed", "mfa.failed"];
    vec![
        rule(
            "failed_logins_per_account",
            &failed,
            Actor,
            10,
            300,
            Warning,
            900,
        ),
        rule("failed_logins_per_ip", &failed, Ip, 50, 300, Warning, 900),
        rule(
            "account_locked",
            &["login.locked"],
            Actor,
            1,
            300,
            Warning,
            900,
        ),
        rule(
            "mirror_degraded",
            &["mirror.degraded"],
            Resource,
            1,
            300,
            Critical,
            3600,
        ),
        rule(
            "audit_verify_failed",
            &["audit.verify_failed"],
            None,
            1,
            300,
            Critical,
            3600,
        ),
        rule("disk_low", &["disk.low"], Resource, 1, 300, Warning, 3600),
        rule(
            "data_rights",
            &["data_rights.deadline_near", "tenant.deletion_failed"],
            Resource,
            1,
            300,
            Critical,
            3600,
        ),
        rule(
            "backup_failed",
            &[
                "backup.failed",
                "backup.drill_failed",
                "backup.shred_failed",
            ],
            Resource,
            1,
            300,
            Critical,
            3600,
        ),
    ]
}

/// The rules in force: the built-ins (when `with_builtins`) followed by `extra`. Refuses a rule
/// with a problem or a name used twice.
pub fn rule_set(extra: Vec<Rule>, with_builtins: bool) -> crate::Result<Vec<Rule>> {
    let mut rules = if with_builtins {
        builtins()
    } else {
        Vec::new()
    };
    rules.extend(extra);
    for (i, rule) in rules.iter().enumerate() {
        if let Some(problem) = rule.problem() {
            return Err(crate::Error::Rule(problem));
        }
        if rules[..i].iter().any(|r| r.name == rule.name) {
            return Err(crate::Error::Rule(format!(
                "rule name {} is used twice (built-in names: {})",
                rule.name,
                builtins()
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exactly_or_by_family() {
        let table = [
            ("login.failed", "login.failed", true),
            ("login.failed", "login.failed_x", false),
            ("login.*", "login.locked", true),
            ("login.*", "loginx.locked", false),
            ("login.*", "mfa.failed", false),
            ("*", "anything.at_all", true),
        ];
        for (pattern, action, expected) in table {
            assert_eq!(
                action_matches(pattern, action),
                expected,
                "{pattern} vs {action}"
            );
        }
    }

    #[test]
    fn rules_read_one_action_or_several() {
        let one: Rule = serde_json::from_str(
            r#"{"name":"r","action":"login.*","group_by":"ip","threshold":3,"window_secs":60,
                "severity":"critical","cooldown_secs":0}"#,
        )
        .expect("one");
        assert_eq!(one.action.patterns(), ["login.*".to_owned()]);
        let many: Rule = serde_json::from_str(
            r#"{"name":"r","action":["a.b","c.*"],"group_by":"none","threshold":1,
                "window_secs":1,"severity":"info","cooldown_secs":5}"#,
        )
        .expect("many");
        assert_eq!(many.action.patterns().len(), 2);
    }

    #[test]
    fn bad_rules_and_duplicate_names_are_refused_by_name() {
        let mut zero = builtins()[0].clone();
        zero.name = "mine".into();
        zero.threshold = 0;
        let err = rule_set(vec![zero], true).expect_err("threshold 0");
        assert!(err.to_string().contains("mine"), "{err}");
        let err = rule_set(vec![builtins()[1].clone()], true).expect_err("duplicate");
        assert!(err.to_string().contains("failed_logins_per_ip"), "{err}");
        assert_eq!(rule_set(Vec::new(), false).expect("empty").len(), 0);
        assert_eq!(rule_set(Vec::new(), true).expect("builtins").len(), 8);
    }
}
