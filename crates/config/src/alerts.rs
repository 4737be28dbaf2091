//! The `[alerts]` section: where alerts go (email, webhook), extra rules, retry timings, and
//! its part of `config check`. Secrets stay in files named here (mode 0600), never in the config.

use std::path::PathBuf;

use serde::Deserialize;

use crate::Config;
use crate::check::{Finding, check_private_file, error, warning};

/// Alert delivery and rules (P17). Built-in rules are on unless `builtins = false`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alerts {
    /// The built-in rules (failed logins per account and per IP, lockouts, degraded mirror,
    /// failed audit verification, low disk).
    pub builtins: bool,
    /// Recipients of alert email; needs `smtp_host` and `email_from`.
    pub email_to: Vec<String>,
    pub email_from: Option<String>,
    /// The SMTP server; STARTTLS is always required.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_username: Option<String>,
    /// File holding the SMTP password (mode 0600).
    pub smtp_password_file: Option<PathBuf>,
    /// PEM CA certificate(s) for the SMTP server instead of the built-in web roots.
    pub smtp_ca_file: Option<PathBuf>,
    /// `https://…` (or `http://` to a loopback host) receiving signed alert JSON.
    pub webhook_url: Option<String>,
    /// File holding the webhook's HMAC-SHA256 key (mode 0600).
    pub webhook_secret_file: Option<PathBuf>,
    /// PEM CA certificate(s) for the webhook receiver instead of the built-in web roots.
    pub webhook_ca_file: Option<PathBuf>,
    /// First wait before a retry; doubles up to `retry_max_secs`.
    pub retry_first_secs: u64,
    pub retry_max_secs: u64,
    /// No retry starts later than this after the first attempt.
    pub retry_give_up_secs: u64,
    /// Extra rules, after the built-ins.
    pub rules: Vec<AlertRule>,
}

impl Default for Alerts {
    fn default() -> Self {
        Self {
            builtins: true,
            email_to: Vec::new(),
            email_from: None,
            smtp_host: None,
            smtp_port: 587,
            smtp_username: None,
            smtp_password_file: None,
            smtp_ca_file: None,
            webhook_url: None,
            webhook_secret_file: None,
            webhook_ca_file: None,
            retry_first_secs: 1,
            retry_max_secs: 600,
            retry_give_up_secs: 24 * 3600,
            rules: Vec::new(),
        }
    }
}

/// One extra alert rule, as `alerts::Rule` reads it (`[[alerts.rules]]`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    /// Action patterns: exact (`login.locked`) or a family (`login.*`); one string or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub action: Vec<String>,
    /// `actor`, `ip`, `tenant`, `resource` or `none`.
    pub group_by: String,
    pub threshold: u32,
    pub window_secs: u64,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub cooldown_secs: u64,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Actions {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Actions::deserialize(d)? {
        Actions::One(one) => vec![one],
        Actions::Many(many) => many,
    })
}

const GROUPS: &[&str] = &["actor", "ip", "tenant", "resource", "none"];
const SEVERITIES: &[&str] = &["info", "warning", "critical"];

/// Whether `url` is `https://…`, or `http://` to localhost or a loopback address.
fn is_allowed_webhook(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    !authority.contains('@')
        && (host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()))
}

pub(crate) fn check(config: &Config, out: &mut Vec<Finding>) {
    let a = &config.alerts;
    if !a.email_to.is_empty() {
        if a.smtp_host.is_none() {
            error(
                out,
                "alerts.smtp_host",
                "missing while alerts.email_to is set".into(),
            );
        }
        if a.email_from.is_none() {
            error(
                out,
                "alerts.email_from",
                "missing while alerts.email_to is set".into(),
            );
        }
    } else if a.smtp_host.is_some() {
        warning(
            out,
            "alerts.email_to",
            "empty: alerts.smtp_host is set but no email is sent".into(),
        );
    }
    if a.smtp_username.is_some() != a.smtp_password_file.is_some() {
        error(
            out,
            "alerts.smtp_password_file",
            "alerts.smtp_username and alerts.smtp_password_file go together".into(),
        );
    }
    if let Some(url) = &a.webhook_url {
        if !is_allowed_webhook(url) {
            error(
                out,
                "alerts.webhook_url",
                format!("`{url}` refused: use https://, or http:// to a loopback host only"),
            );
        }
        if a.webhook_secret_file.is_none() {
            error(
                out,
                "alerts.webhook_secret_file",
                "missing while alerts.webhook_url is set".into(),
            );
        }
    }
    for (file, setting) in [
        (&a.smtp_password_file, "alerts.smtp_password_file"),
        (&a.webhook_secret_file, "alerts.webhook_secret_file"),
    ] {
        if let Some(path) = file {
            check_private_file(out, setting, path);
        }
    }
    if a.retry_first_secs == 0
        || a.retry_max_secs < a.retry_first_secs
        || a.retry_give_up_secs < a.retry_max_secs
    {
        error(
            out,
            "alerts.retry_first_secs",
            "retry timings need 0 < retry_first_secs <= retry_max_secs <= retry_give_up_secs"
                .into(),
        );
    }
    for rule in &a.rules {
        check_rule(rule, out);
    }
}

fn check_rule(rule: &AlertRule, out: &mut Vec<Finding>) {
    let name = &rule.name;
    let problems = [
        (name.trim().is_empty(), "has an empty name".to_owned()),
        (
            rule.action.is_empty() || rule.action.iter().any(|p| p.is_empty()),
            "needs at least one non-empty action pattern".to_owned(),
        ),
        (
            !GROUPS.contains(&rule.group_by.as_str()),
            format!(
                "group_by `{}` is not one of {}",
                rule.group_by,
                GROUPS.join(", ")
            ),
        ),
        (
            !SEVERITIES.contains(&rule.severity.as_str()),
            format!(
                "severity `{}` is not one of {}",
                rule.severity,
                SEVERITIES.join(", ")
            ),
        ),
        (
            !(1..=10_000).contains(&rule.threshold),
            format!("threshold {} is outside 1..=10000", rule.threshold),
        ),
        (
            !(1..=604_800).contains(&rule.window_secs),
            format!("window_secs {} is outside 1..=604800", rule.window_secs),
        ),
    ];
    for (_, problem) in problems.into_iter().filter(|(bad, _)| *bad) {
        error(out, "alerts.rules", format!("rule `{name}` {problem}"));
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::check::tests::errors;

    #[test]
    fn unsafe_alert_settings_are_refused_by_name() {
        type Edit = fn(&mut Alerts);
        let cases: &[(&str, Edit, &str)] = &[
            (
                "email without host",
                |a| a.email_to = vec!["o@x.test".into()],
                "alerts.smtp_host",
            ),
            (
                "plain http",
                |a| a.webhook_url = Some("http://hooks.example.com/x".into()),
                "alerts.webhook_url",
            ),
            (
                "http to a lookalike",
                |a| a.webhook_url = Some("http://127.0.0.1.evil.test/".into()),
                "alerts.webhook_url",
            ),
            (
                "http with userinfo",
                |a| a.webhook_url = Some("http://localhost@evil.test/".into()),
                "alerts.webhook_url",
            ),
            (
                "no secret",
                |a| a.webhook_url = Some("https://h.example.com/".into()),
                "alerts.webhook_secret_file",
            ),
            (
                "user alone",
                |a| a.smtp_username = Some("u".into()),
                "alerts.smtp_password_file",
            ),
            (
                "retry",
                |a| a.retry_first_secs = 0,
                "alerts.retry_first_secs",
            ),
        ];
        for (name, edit, setting) in cases {
            let mut config = Config::default();
            edit(&mut config.alerts);
            let found = errors(&config);
            assert!(
                found.contains(setting),
                "case {name}: expected {setting}, got {found:?}"
            );
        }
        let mut config = Config::default();
        config.alerts.webhook_url = Some("http://[::1]:8080/hook".into());
        config.alerts.webhook_secret_file = Some("/nonexistent/secret".into());
        assert_eq!(
            errors(&config),
            Vec::<&str>::new(),
            "loopback http is allowed"
        );
    }

    #[test]
    fn secret_files_readable_by_others_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("hook.secret");
        std::fs::write(&secret, "s").expect("write");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let mut config = Config::default();
        config.alerts.webhook_url = Some("https://h.example.com/".into());
        config.alerts.webhook_secret_file = Some(secret.clone());
        config.alerts.smtp_username = Some("u".into());
        config.alerts.smtp_password_file = Some(secret.clone());
        let found = errors(&config);
        assert!(found.contains(&"alerts.webhook_secret_file"), "{found:?}");
        assert!(found.contains(&"alerts.smtp_password_file"), "{found:?}");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(errors(&config), Vec::<&str>::new());
    }

    #[test]
    fn rules_read_from_toml_and_bad_ones_are_named() {
        let config: Config = toml::from_str(
            "[alerts]\nemail_to = []\n[[alerts.rules]]\nname = \"bursts\"\naction = \"login.*\"\n\
             group_by = \"tenant\"\nthreshold = 0\nwindow_secs = 60\nseverity = \"loud\"\n\
             cooldown_secs = 0\n",
        )
        .expect("parse");
        assert_eq!(config.alerts.rules[0].action, ["login.*"]);
        let messages: Vec<String> = crate::check::run(&config)
            .into_iter()
            .filter(|f| f.setting == "alerts.rules")
            .map(|f| f.message)
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages.iter().all(|m| m.contains("bursts")),
            "{messages:?}"
        );
    }
}
