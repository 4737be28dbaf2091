//! `strongroom config check`: refuses unsafe settings. Each finding names the setting, says what
//! is wrong and what to do. Errors stop `serve`; warnings are printed and serving goes on.

use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One refused or doubtful setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The setting, as written in the TOML file (`storage.mirror`).
    pub setting: &'static str,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.setting, self.message)
    }
}

const MIN_HSTS_SECS: u64 = 31_536_000;
const MIN_SEGMENT: u64 = 64 * 1024;
const MAX_SEGMENT: u64 = 1024 * 1024 * 1024;

pub(crate) fn run(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    check_storage(config, &mut out);
    check_server(config, &mut out);
    check_auth(config, &mut out);
    check_attachments(config, &mut out);
    if !(1..=64).contains(&config.exports.max_concurrent) {
        error(
            &mut out,
            "exports.max_concurrent",
            format!("{} is outside 1..=64", config.exports.max_concurrent),
        );
    }
    check_audit(config, &mut out);
    check_log(config, &mut out);
    crate::alerts::check(config, &mut out);
    crate::siem::check(config, &mut out);
    crate::backup::check(config, &mut out);
    out
}

pub(crate) fn error(out: &mut Vec<Finding>, setting: &'static str, message: String) {
    out.push(Finding {
        severity: Severity::Error,
        setting,
        message,
    });
}

pub(crate) fn warning(out: &mut Vec<Finding>, setting: &'static str, message: String) {
    out.push(Finding {
        severity: Severity::Warning,
        setting,
        message,
    });
}

/// Makes a path absolute and removes `.` and `..` without touching the filesystem.
pub(crate) fn lexical_absolute(path: &Path) -> PathBuf {
    let base = if path.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir().unwrap_or_default()
    };
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether one of `a` and `b` is inside the other (or both are the same), without touching the
/// filesystem.
pub(crate) fn overlaps(a: &Path, b: &Path) -> bool {
    let (a, b) = (lexical_absolute(a), lexical_absolute(b));
    a.starts_with(&b) || b.starts_with(&a)
}

fn check_storage(config: &Config, out: &mut Vec<Finding>) {
    let s = &config.storage;
    if overlaps(&s.data, &s.mirror) {
        error(
            out,
            "storage.mirror",
            format!(
                "{} and storage.data {} overlap; the two journal locations must be separate \
                 directories, ideally on separate disks",
                s.mirror.display(),
                s.data.display()
            ),
        );
    } else if let (Ok(a), Ok(b)) = (std::fs::metadata(&s.data), std::fs::metadata(&s.mirror))
        && a.dev() == b.dev()
    {
        warning(
            out,
            "storage.mirror",
            format!(
                "{} is on the same filesystem as storage.data; a single disk failure loses both \
                 copies (see README: separate disks)",
                s.mirror.display()
            ),
        );
    }
    for (dir, name) in [(&s.data, "storage.data"), (&s.mirror, "storage.mirror")] {
        if lexical_absolute(&s.key_file).starts_with(lexical_absolute(dir)) {
            error(
                out,
                "storage.key_file",
                format!(
                    "{} is inside {name}; the master key must be kept apart from the data it \
                     protects",
                    s.key_file.display()
                ),
            );
        }
    }
    check_private_file(out, "storage.key_file", &s.key_file);
    if !(MIN_SEGMENT..=MAX_SEGMENT).contains(&s.segment_bytes) {
        error(
            out,
            "storage.segment_bytes",
            format!(
                "{} is outside {MIN_SEGMENT}..={MAX_SEGMENT}",
                s.segment_bytes
            ),
        );
    }
}

/// Refuses a secret file (when it exists) that group or others may read.
pub(crate) fn check_private_file(out: &mut Vec<Finding>, setting: &'static str, path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            error(
                out,
                setting,
                format!(
                    "{} has mode {mode:o}, readable by group or others; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            );
        }
    }
}

fn check_server(config: &Config, out: &mut Vec<Finding>) {
    let s = &config.server;
    match (&s.tls_cert, &s.tls_key) {
        (Some(_), None) => error(
            out,
            "server.tls_key",
            "missing while server.tls_cert is set".into(),
        ),
        (None, Some(_)) => error(
            out,
            "server.tls_cert",
            "missing while server.tls_key is set".into(),
        ),
        (None, None) if !s.listen.ip().is_loopback() => warning(
            out,
            "server.tls_cert",
            format!(
                "not set while listening on {}; clients will see a self-signed certificate",
                s.listen
            ),
        ),
        _ => {}
    }
    if !matches!(s.tls_min_version.as_str(), "1.2" | "1.3") {
        error(
            out,
            "server.tls_min_version",
            format!(
                "`{}` refused; only \"1.2\" and \"1.3\" are allowed (TLS 1.0/1.1 and SSL are \
                 never offered)",
                s.tls_min_version
            ),
        );
    }
    if s.hsts_max_age_secs < MIN_HSTS_SECS {
        error(
            out,
            "server.hsts_max_age_secs",
            format!(
                "{} is below one year ({MIN_HSTS_SECS})",
                s.hsts_max_age_secs
            ),
        );
    }
    if !(1..=60).contains(&s.handshake_timeout_secs) {
        error(
            out,
            "server.handshake_timeout_secs",
            format!("{} is outside 1..=60 seconds", s.handshake_timeout_secs),
        );
    }
}

fn check_auth(config: &Config, out: &mut Vec<Finding>) {
    if !(1..=100_000).contains(&config.auth.ip_per_minute) {
        error(
            out,
            "auth.ip_per_minute",
            format!("{} is outside 1..=100000", config.auth.ip_per_minute),
        );
    }
    for (value, setting) in [
        (config.limits.ip_per_minute, "limits.ip_per_minute"),
        (config.limits.tenant_per_minute, "limits.tenant_per_minute"),
        (
            config.limits.credential_per_minute,
            "limits.credential_per_minute",
        ),
    ] {
        if !(1..=10_000_000).contains(&value) {
            error(out, setting, format!("{value} is outside 1..=10000000"));
        }
    }
    if config.auth.hash_concurrency > 256 {
        error(
            out,
            "auth.hash_concurrency",
            format!(
                "{} would allow {} MiB of Argon2 memory at once; use at most 256",
                config.auth.hash_concurrency,
                config.auth.hash_concurrency * 19
            ),
        );
    }
}

/// Largest attachment limit (1 GiB): uploads are held to the request time limit.
const MAX_ATTACHMENT: u64 = 1 << 30;

/// Types a browser runs as a page or script: never served from the API's origin.
const ACTIVE_TYPES: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "text/xsl",
    "application/x-shockwave-flash",
];

/// `type/subtype`, lower case, RFC 6838 restricted names.
fn is_media_type(t: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "!#$&^_.+-".contains(c))
    };
    t.split_once('/')
        .is_some_and(|(kind, sub)| part(kind) && part(sub))
}

fn check_audit(config: &Config, out: &mut Vec<Finding>) {
    let a = &config.audit;
    if a.checkpoint_events == 0 || a.checkpoint_events > 1_000_000 {
        error(
            out,
            "audit.checkpoint_events",
            format!(
                "{} is out of range; sign a checkpoint every 1 to 1000000 events (default 1000)",
                a.checkpoint_events
            ),
        );
    }
    if !(1..=3_600).contains(&a.checkpoint_secs) {
        error(
            out,
            "audit.checkpoint_secs",
            format!(
                "{} is out of range; checkpoints are signed at least hourly: 1 to 3600 seconds",
                a.checkpoint_secs
            ),
        );
    }
    if a.retention_days == 0 {
        error(
            out,
            "audit.retention_days",
            "0 would remove every event; keep them at least a day (default 400)".into(),
        );
    } else if a.retention_days < 365 {
        warning(
            out,
            "audit.retention_days",
            format!(
                "{} days is less than a year; many audits expect a year of logs (default 400)",
                a.retention_days
            ),
        );
    }
    if let Some(key) = &a.signing_key_file {
        let s = &config.storage;
        for dir in [&s.data, &s.mirror] {
            if lexical_absolute(key).starts_with(lexical_absolute(dir)) {
                error(
                    out,
                    "audit.signing_key_file",
                    format!(
                        "{} is inside {}; keep the signing key outside both data locations, so \
                         that a copy of the data can not forge the trail",
                        key.display(),
                        dir.display()
                    ),
                );
            }
        }
        if lexical_absolute(key) == lexical_absolute(&s.key_file) {
            error(
                out,
                "audit.signing_key_file",
                "is the master key file; the signing key must be a file of its own".into(),
            );
        }
    }
}

fn check_attachments(config: &Config, out: &mut Vec<Finding>) {
    let a = &config.attachments;
    if !(1..=MAX_ATTACHMENT).contains(&a.max_bytes) {
        error(
            out,
            "attachments.max_bytes",
            format!("{} is outside 1..={MAX_ATTACHMENT}", a.max_bytes),
        );
    }
    let Some(types) = &a.allowed_types else {
        return;
    };
    if types.is_empty() {
        error(
            out,
            "attachments.allowed_types",
            "is empty: no upload could be accepted; remove it for the built-in list".into(),
        );
    }
    for t in types {
        if !is_media_type(t) {
            error(
                out,
                "attachments.allowed_types",
                format!("`{t}` is not a lower-case `type/subtype` media type"),
            );
        } else if ACTIVE_TYPES.contains(&t.as_str()) || t.ends_with("+xml") {
            error(
                out,
                "attachments.allowed_types",
                format!("`{t}` is refused: a browser can run it as a page or script"),
            );
        }
    }
}

fn check_log(config: &Config, out: &mut Vec<Finding>) {
    if !matches!(config.log.format.as_str(), "json" | "text") {
        error(
            out,
            "log.format",
            format!("`{}` refused; use \"json\" or \"text\"", config.log.format),
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The settings refused with an error.
    pub(crate) fn errors(config: &Config) -> Vec<&'static str> {
        run(config)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.setting)
            .collect()
    }

    #[test]
    fn defaults_are_safe() {
        assert_eq!(errors(&Config::default()), Vec::<&str>::new());
    }

    #[test]
    fn unsafe_settings_are_refused_by_name() {
        type Edit = fn(&mut Config);
        let cases: &[(&str, Edit, &str)] = &[
            (
                "same dirs",
                |c| c.storage.mirror = c.storage.data.clone(),
                "storage.mirror",
            ),
            (
                "nested",
                |c| c.storage.mirror = c.storage.data.join("m"),
                "storage.mirror",
            ),
            (
                "dotted",
                |c| c.storage.mirror = "strongroom/x/../data".into(),
                "storage.mirror",
            ),
            (
                "key in data",
                |c| c.storage.key_file = c.storage.data.join("k"),
                "storage.key_file",
            ),
            (
                "tls 1.1",
                |c| c.server.tls_min_version = "1.1".into(),
                "server.tls_min_version",
            ),
            (
                "hsts short",
                |c| c.server.hsts_max_age_secs = 60,
                "server.hsts_max_age_secs",
            ),
            (
                "cert only",
                |c| c.server.tls_cert = Some("c.pem".into()),
                "server.tls_key",
            ),
            (
                "no timeout",
                |c| c.server.handshake_timeout_secs = 0,
                "server.handshake_timeout_secs",
            ),
            (
                "tiny segment",
                |c| c.storage.segment_bytes = 10,
                "storage.segment_bytes",
            ),
            ("log", |c| c.log.format = "xml".into(), "log.format"),
            (
                "huge attachments",
                |c| c.attachments.max_bytes = 2 << 30,
                "attachments.max_bytes",
            ),
            (
                "html attachments",
                |c| c.attachments.allowed_types = Some(vec!["text/html".into()]),
                "attachments.allowed_types",
            ),
            (
                "svg attachments",
                |c| c.attachments.allowed_types = Some(vec!["image/svg+xml".into()]),
                "attachments.allowed_types",
            ),
            (
                "malformed type",
                |c| c.attachments.allowed_types = Some(vec!["Image/PNG; q=1".into()]),
                "attachments.allowed_types",
            ),
            (
                "no types",
                |c| c.attachments.allowed_types = Some(vec![]),
                "attachments.allowed_types",
            ),
        ];
        for (name, edit, setting) in cases {
            let mut config = Config::default();
            edit(&mut config);
            let found = errors(&config);
            assert!(
                found.contains(setting),
                "case {name}: expected {setting}, got {found:?}"
            );
        }
    }

    #[test]
    fn key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("master.key");
        std::fs::write(&key, "x").expect("write");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut config = Config::default();
        config.storage.key_file = key.clone();
        let findings = run(&config);
        let f = findings
            .iter()
            .find(|f| f.setting == "storage.key_file")
            .expect("finding");
        assert!(f.message.contains("chmod 600"), "{f}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(!errors(&config).contains(&"storage.key_file"));
    }
}
