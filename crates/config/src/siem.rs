//! `[audit.file_sink]` and `[audit.syslog]`: where audit events are exported for a SIEM, and
//! the checks `config check` makes on them. The sinks themselves are the `siem` crate's.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::Config;
use crate::check::{Finding, error, lexical_absolute};

/// Audit events appended, one JSON line each, to a file rotated by size.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditFileSink {
    /// The file (mode 0600); never inside `storage.data` or `storage.mirror`.
    pub path: PathBuf,
    /// Size in bytes after which the file is rotated to `<path>.1`.
    pub max_bytes: u64,
    /// Rotated files kept (`<path>.1` … `<path>.<keep>`).
    pub keep: u32,
    /// Longest time in milliseconds written lines wait for fdatasync.
    pub sync_ms: u64,
}

impl Default for AuditFileSink {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            max_bytes: 100 * 1024 * 1024,
            keep: 10,
            sync_ms: 1_000,
        }
    }
}

/// Audit events sent as RFC 5424 syslog messages over TLS (RFC 5425).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSyslog {
    /// The receiver, `host:port` (RFC 5425's port is 6514).
    pub address: String,
    /// The name the receiver's certificate must hold. Required.
    pub server_name: Option<String>,
    /// PEM file of the CA certificates the receiver's certificate must chain to. Required.
    pub ca_file: Option<PathBuf>,
    /// HOSTNAME of the messages; by default the node that recorded the event.
    pub hostname: Option<String>,
    /// Messages kept while the receiver is away; beyond, the oldest are dropped and counted.
    pub queue: usize,
}

impl Default for AuditSyslog {
    fn default() -> Self {
        Self {
            address: String::new(),
            server_name: None,
            ca_file: None,
            hostname: None,
            queue: 10_000,
        }
    }
}

const MIN_SINK_BYTES: u64 = 64 * 1024;
const MAX_SINK_BYTES: u64 = 64 * 1024 * 1024 * 1024;

pub(crate) fn check(config: &Config, out: &mut Vec<Finding>) {
    if let Some(sink) = &config.audit.file_sink {
        check_file_sink(config, sink, out);
    }
    if let Some(syslog) = &config.audit.syslog {
        check_syslog(syslog, out);
    }
}

fn check_file_sink(config: &Config, sink: &AuditFileSink, out: &mut Vec<Finding>) {
    let path = &sink.path;
    if path.as_os_str().is_empty() {
        error(
            out,
            "audit.file_sink.path",
            "is empty: name the file audit events are appended to".into(),
        );
        return;
    }
    let storage = &config.storage;
    for (dir, name) in [
        (&storage.data, "storage.data"),
        (&storage.mirror, "storage.mirror"),
    ] {
        if lexical_absolute(path).starts_with(lexical_absolute(dir)) {
            error(
                out,
                "audit.file_sink.path",
                format!(
                    "{} is inside {name}; the export holds events in the clear and must live \
                     outside the data directories",
                    path.display()
                ),
            );
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if meta.file_type().is_symlink() || !meta.is_file() {
            error(
                out,
                "audit.file_sink.path",
                format!("{} is a symlink or not a regular file", path.display()),
            );
        } else if mode & 0o077 != 0 {
            error(
                out,
                "audit.file_sink.path",
                format!(
                    "{} has mode {mode:o}, open to group or others; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            );
        }
    }
    let ranges = [
        (
            "audit.file_sink.max_bytes",
            sink.max_bytes,
            MIN_SINK_BYTES,
            MAX_SINK_BYTES,
        ),
        ("audit.file_sink.keep", u64::from(sink.keep), 0, 1_000),
        ("audit.file_sink.sync_ms", sink.sync_ms, 0, 60_000),
    ];
    for (setting, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            error(out, setting, format!("{value} is outside {min}..={max}"));
        }
    }
}

fn check_syslog(syslog: &AuditSyslog, out: &mut Vec<Finding>) {
    let port_ok = syslog
        .address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok {
        error(
            out,
            "audit.syslog.address",
            format!("`{}` is not host:port", syslog.address),
        );
    }
    if syslog.server_name.as_deref().is_none_or(str::is_empty) {
        error(
            out,
            "audit.syslog.server_name",
            "is required: the name the receiver's certificate must hold (no TLS without name \
             verification)"
                .into(),
        );
    }
    match &syslog.ca_file {
        None => error(
            out,
            "audit.syslog.ca_file",
            "is required: the PEM file of the CA the receiver's certificate must chain to".into(),
        ),
        Some(ca) => {
            if let Err(e) = std::fs::metadata(ca) {
                error(
                    out,
                    "audit.syslog.ca_file",
                    format!("{} can not be read: {e}", ca.display()),
                );
            }
        }
    }
    if let Some(host) = &syslog.hostname {
        let ok =
            !host.is_empty() && host.len() <= 255 && host.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            error(
                out,
                "audit.syslog.hostname",
                format!("`{host}` is not 1 to 255 printable ASCII characters"),
            );
        }
    }
    if !(1..=1_000_000).contains(&syslog.queue) {
        error(
            out,
            "audit.syslog.queue",
            format!("{} is outside 1..=1000000", syslog.queue),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;

    fn errors(config: &Config) -> Vec<&'static str> {
        config
            .check()
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.setting)
            .collect()
    }

    fn with_sinks(dir: &std::path::Path) -> Config {
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "pem").expect("write");
        let mut config = Config::default();
        config.audit.file_sink = Some(AuditFileSink {
            path: dir.join("audit.ndjson"),
            ..AuditFileSink::default()
        });
        config.audit.syslog = Some(AuditSyslog {
            address: "siem.example.org:6514".into(),
            server_name: Some("siem.example.org".into()),
            ca_file: Some(ca),
            ..AuditSyslog::default()
        });
        config
    }

    #[test]
    fn sinks_parse_from_nested_tables_and_safe_ones_pass() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[audit.file_sink]\npath = \"{0}/a.ndjson\"\nkeep = 3\n\
             [audit.syslog]\naddress = \"siem:6514\"\nserver_name = \"siem\"\nca_file = \"{0}/ca.pem\"\n",
            dir.path().display()
        );
        let config: Config = toml::from_str(&text).expect("parse");
        assert_eq!(config.audit.file_sink.as_ref().map(|f| f.keep), Some(3));
        assert_eq!(config.audit.syslog.as_ref().map(|s| s.queue), Some(10_000));
        assert_eq!(errors(&with_sinks(dir.path())), Vec::<&str>::new());
        assert!(toml::from_str::<Config>("[audit.syslog]\nport = 1\n").is_err());
    }

    #[test]
    fn unsafe_sink_settings_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        type Edit = fn(&mut Config);
        let cases: &[(&str, Edit, &str)] = &[
            (
                "no ca",
                |c| set_syslog(c, |s| s.ca_file = None),
                "audit.syslog.ca_file",
            ),
            (
                "missing ca",
                |c| set_syslog(c, |s| s.ca_file = Some("/nonexistent/ca.pem".into())),
                "audit.syslog.ca_file",
            ),
            (
                "no name",
                |c| set_syslog(c, |s| s.server_name = None),
                "audit.syslog.server_name",
            ),
            (
                "empty name",
                |c| set_syslog(c, |s| s.server_name = Some(String::new())),
                "audit.syslog.server_name",
            ),
            (
                "no port",
                |c| set_syslog(c, |s| s.address = "siem".into()),
                "audit.syslog.address",
            ),
            (
                "no queue",
                |c| set_syslog(c, |s| s.queue = 0),
                "audit.syslog.queue",
            ),
            (
                "bad hostname",
                |c| set_syslog(c, |s| s.hostname = Some("a b".into())),
                "audit.syslog.hostname",
            ),
            (
                "in data",
                |c| set_file(c, |f, data| f.path = data.join("audit.ndjson")),
                "audit.file_sink.path",
            ),
            (
                "in mirror, dotted",
                |c| set_file(c, |f, _| f.path = "strongroom/x/../mirror/a.ndjson".into()),
                "audit.file_sink.path",
            ),
            (
                "empty path",
                |c| set_file(c, |f, _| f.path = "".into()),
                "audit.file_sink.path",
            ),
            (
                "tiny",
                |c| set_file(c, |f, _| f.max_bytes = 10),
                "audit.file_sink.max_bytes",
            ),
            (
                "slow sync",
                |c| set_file(c, |f, _| f.sync_ms = 3_600_000),
                "audit.file_sink.sync_ms",
            ),
        ];
        for (name, edit, setting) in cases {
            let mut config = with_sinks(dir.path());
            edit(&mut config);
            let found = errors(&config);
            assert!(
                found.contains(setting),
                "case {name}: expected {setting}, got {found:?}"
            );
        }
    }

    fn set_syslog(config: &mut Config, edit: fn(&mut AuditSyslog)) {
        if let Some(s) = config.audit.syslog.as_mut() {
            edit(s);
        }
    }

    fn set_file(config: &mut Config, edit: fn(&mut AuditFileSink, &std::path::Path)) {
        let data = config.storage.data.clone();
        if let Some(f) = config.audit.file_sink.as_mut() {
            edit(f, &data);
        }
    }

    #[test]
    fn a_sink_file_open_to_others_or_a_symlink_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = with_sinks(dir.path());
        let path = dir.path().join("audit.ndjson");
        std::fs::write(&path, "").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let findings = config.check();
        let f = findings
            .iter()
            .find(|f| f.setting == "audit.file_sink.path")
            .expect("finding");
        assert!(f.message.contains("chmod 600"), "{f}");
        let link = dir.path().join("link.ndjson");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(errors(&config), Vec::<&str>::new());
        if let Some(f) = config.audit.file_sink.as_mut() {
            f.path = link;
        }
        assert_eq!(errors(&config), ["audit.file_sink.path"]);
    }
}
