//! `STRONGROOM_*` environment overrides. Every variable maps to one setting; an unknown
//! `STRONGROOM_*` name is refused so a typo never silently falls back to a default.

use std::path::PathBuf;

use crate::{Config, Error, Result};

/// The variables this crate reads, with the setting each one overrides.
pub const VARIABLES: &[(&str, &str)] = &[
    ("STRONGROOM_DATA", "storage.data"),
    ("STRONGROOM_MIRROR", "storage.mirror"),
    ("STRONGROOM_KEY_FILE", "storage.key_file"),
    ("STRONGROOM_SEGMENT_BYTES", "storage.segment_bytes"),
    ("STRONGROOM_LISTEN", "server.listen"),
    ("STRONGROOM_TLS_CERT", "server.tls_cert"),
    ("STRONGROOM_TLS_KEY", "server.tls_key"),
    ("STRONGROOM_HSTS_MAX_AGE_SECS", "server.hsts_max_age_secs"),
    (
        "STRONGROOM_HANDSHAKE_TIMEOUT_SECS",
        "server.handshake_timeout_secs",
    ),
    ("STRONGROOM_TLS_MIN_VERSION", "server.tls_min_version"),
    ("STRONGROOM_AUTH_IP_PER_MINUTE", "auth.ip_per_minute"),
    ("STRONGROOM_AUTH_HASH_CONCURRENCY", "auth.hash_concurrency"),
    ("STRONGROOM_LIMITS_IP_PER_MINUTE", "limits.ip_per_minute"),
    (
        "STRONGROOM_LIMITS_TENANT_PER_MINUTE",
        "limits.tenant_per_minute",
    ),
    (
        "STRONGROOM_LIMITS_CREDENTIAL_PER_MINUTE",
        "limits.credential_per_minute",
    ),
    ("STRONGROOM_ATTACHMENTS_MAX_BYTES", "attachments.max_bytes"),
    (
        "STRONGROOM_ATTACHMENTS_ALLOWED_TYPES",
        "attachments.allowed_types (comma-separated)",
    ),
    (
        "STRONGROOM_EXPORTS_MAX_CONCURRENT",
        "exports.max_concurrent",
    ),
    ("STRONGROOM_LOG_FORMAT", "log.format"),
    ("STRONGROOM_LOG_LEVEL", "log.level"),
    (
        "STRONGROOM_ALERTS_EMAIL_TO",
        "alerts.email_to (comma-separated)",
    ),
    ("STRONGROOM_ALERTS_EMAIL_FROM", "alerts.email_from"),
    ("STRONGROOM_ALERTS_SMTP_HOST", "alerts.smtp_host"),
    ("STRONGROOM_ALERTS_SMTP_PORT", "alerts.smtp_port"),
    ("STRONGROOM_ALERTS_WEBHOOK_URL", "alerts.webhook_url"),
];

/// Variables read by the binary itself rather than mapped to a setting.
const NOT_SETTINGS: &[&str] = &["STRONGROOM_CONFIG"];

pub(crate) fn apply(
    config: &mut Config,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<()> {
    for (name, value) in vars {
        if !name.starts_with("STRONGROOM_") || NOT_SETTINGS.contains(&name.as_str()) {
            continue;
        }
        set(config, &name, value)?;
    }
    Ok(())
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| Error::Env {
        name: name.to_owned(),
        message: format!("{e} (got `{value}`)"),
    })
}

/// `a, b,,c` → `["a", "b", "c"]`.
fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn set(config: &mut Config, name: &str, value: String) -> Result<()> {
    match name {
        "STRONGROOM_DATA" => config.storage.data = PathBuf::from(value),
        "STRONGROOM_MIRROR" => config.storage.mirror = PathBuf::from(value),
        "STRONGROOM_KEY_FILE" => config.storage.key_file = PathBuf::from(value),
        "STRONGROOM_SEGMENT_BYTES" => config.storage.segment_bytes = parse(name, &value)?,
        "STRONGROOM_LISTEN" => config.server.listen = parse(name, &value)?,
        "STRONGROOM_TLS_CERT" => config.server.tls_cert = Some(PathBuf::from(value)),
        "STRONGROOM_TLS_KEY" => config.server.tls_key = Some(PathBuf::from(value)),
        "STRONGROOM_HSTS_MAX_AGE_SECS" => config.server.hsts_max_age_secs = parse(name, &value)?,
        "STRONGROOM_HANDSHAKE_TIMEOUT_SECS" => {
            config.server.handshake_timeout_secs = parse(name, &value)?
        }
        "STRONGROOM_TLS_MIN_VERSION" => config.server.tls_min_version = value,
        "STRONGROOM_AUTH_IP_PER_MINUTE" => config.auth.ip_per_minute = parse(name, &value)?,
        "STRONGROOM_AUTH_HASH_CONCURRENCY" => config.auth.hash_concurrency = parse(name, &value)?,
        "STRONGROOM_LIMITS_IP_PER_MINUTE" => config.limits.ip_per_minute = parse(name, &value)?,
        "STRONGROOM_LIMITS_TENANT_PER_MINUTE" => {
            config.limits.tenant_per_minute = parse(name, &value)?
        }
        "STRONGROOM_LIMITS_CREDENTIAL_PER_MINUTE" => {
            config.limits.credential_per_minute = parse(name, &value)?
        }
        "STRONGROOM_ATTACHMENTS_MAX_BYTES" => config.attachments.max_bytes = parse(name, &value)?,
        "STRONGROOM_ATTACHMENTS_ALLOWED_TYPES" => {
            config.attachments.allowed_types = Some(comma_list(&value))
        }
        "STRONGROOM_EXPORTS_MAX_CONCURRENT" => config.exports.max_concurrent = parse(name, &value)?,
        "STRONGROOM_LOG_FORMAT" => config.log.format = value,
        "STRONGROOM_LOG_LEVEL" => config.log.level = value,
        "STRONGROOM_ALERTS_EMAIL_TO" => config.alerts.email_to = comma_list(&value),
        "STRONGROOM_ALERTS_EMAIL_FROM" => config.alerts.email_from = Some(value),
        "STRONGROOM_ALERTS_SMTP_HOST" => config.alerts.smtp_host = Some(value),
        "STRONGROOM_ALERTS_SMTP_PORT" => config.alerts.smtp_port = parse(name, &value)?,
        "STRONGROOM_ALERTS_WEBHOOK_URL" => config.alerts.webhook_url = Some(value),
        _ => {
            let known: Vec<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
            return Err(Error::Env {
                name: name.to_owned(),
                message: format!("unknown setting; known variables: {}", known.join(", ")),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_variable_is_accepted() {
        for (name, _) in VARIABLES {
            let value = match *name {
                "STRONGROOM_LISTEN" => "127.0.0.1:1",
                n if n.ends_with("_BYTES")
                    || n.ends_with("_SECS")
                    || n.ends_with("_MINUTE")
                    || n.ends_with("_CONCURRENCY")
                    || n.ends_with("_CONCURRENT")
                    || n.ends_with("_PORT") =>
                {
                    "7"
                }
                _ => "x",
            };
            let mut config = Config::default();
            apply(&mut config, vec![(name.to_string(), value.to_owned())])
                .unwrap_or_else(|e| panic!("{name} refused: {e}"));
        }
    }

    #[test]
    fn typo_is_refused_by_name() {
        let mut config = Config::default();
        let err = apply(&mut config, vec![("STRONGROOM_LISTN".into(), "x".into())])
            .expect_err("typo must be refused");
        assert!(err.to_string().contains("STRONGROOM_LISTN"), "{err}");
    }

    #[test]
    fn bad_number_names_variable_and_value() {
        let mut config = Config::default();
        let err = apply(
            &mut config,
            vec![("STRONGROOM_SEGMENT_BYTES".into(), "lots".into())],
        )
        .expect_err("must refuse");
        let text = err.to_string();
        assert!(
            text.contains("STRONGROOM_SEGMENT_BYTES") && text.contains("lots"),
            "{text}"
        );
    }
}
