//! Typed configuration: defaults, then a TOML file, then `STRONGROOM_*` environment variables,
//! then command-line flags (applied by the binary). [`Config::check`] refuses unsafe settings and
//! names the setting it refuses.
//!
//! This crate reads files and the environment it is handed; it never opens the data directories
//! and never holds secrets (the master key lives in its own file, never in the config).

mod alerts;
mod backup;
mod check;
mod env;
mod siem;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use alerts::{AlertRule, Alerts};
pub use backup::{Backup, Destination, DestinationKind};
pub use check::{Finding, Severity};
pub use siem::{AuditFileSink, AuditSyslog};

/// Everything that can go wrong while loading configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The whole configuration of a `strongroom` process.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub storage: Storage,
    pub server: Server,
    pub auth: Auth,
    pub limits: Limits,
    pub attachments: Attachments,
    pub audit: Audit,
    pub log: Log,
    pub alerts: Alerts,
    /// `[exports]`: tenant exports (P14).
    pub exports: Exports,
    /// `[backup]`: encrypted backups in several regions (P12); absent: backups are off.
    pub backup: Option<Backup>,
}

/// The audit log (P16).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// The Ed25519 key that signs checkpoints; absent: `audit-signing.key` beside the master
    /// key. Kept outside both data locations, like the master key.
    pub signing_key_file: Option<PathBuf>,
    /// Events between two signed checkpoints.
    pub checkpoint_events: u64,
    /// Longest time between two checkpoints when anything happened, in seconds (at most an
    /// hour).
    pub checkpoint_secs: u64,
    /// Days an event is kept; older whole segments are removed after a checkpoint.
    pub retention_days: u32,
    /// `[audit.file_sink]`: events appended to a rotated NDJSON file (off when absent).
    pub file_sink: Option<AuditFileSink>,
    /// `[audit.syslog]`: events sent as RFC 5424 syslog over TLS (off when absent).
    pub syslog: Option<AuditSyslog>,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            signing_key_file: None,
            checkpoint_events: 1_000,
            checkpoint_secs: 3_600,
            retention_days: 400,
            file_sink: None,
            syslog: None,
        }
    }
}

/// Tenant exports (P14).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exports {
    /// Export jobs running at once (Argon2id and a full read of a tenant each); further
    /// requests wait in order.
    pub max_concurrent: usize,
}

impl Default for Exports {
    fn default() -> Self {
        Self { max_concurrent: 2 }
    }
}

/// Files attached to records.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Attachments {
    /// Largest file in bytes (a tenant may set a lower limit in its settings).
    pub max_bytes: u64,
    /// Content types accepted (`type/subtype`, lower case). Absent: the built-in list (PDF,
    /// JSON, ZIP, PNG, JPEG, GIF, WebP, plain text, CSV). Types a browser runs as a page
    /// (HTML, SVG, XML, JavaScript) are refused by `config check`.
    pub allowed_types: Option<Vec<String>>,
}

impl Default for Attachments {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            allowed_types: None,
        }
    }
}

/// Request rate limits (per minute), answered with 429 and `Retry-After`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Requests per client IP.
    pub ip_per_minute: u32,
    /// Requests per tenant (all its users and tokens together).
    pub tenant_per_minute: u32,
    /// Requests per session or API token.
    pub credential_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ip_per_minute: 6_000,
            tenant_per_minute: 60_000,
            credential_per_minute: 6_000,
        }
    }
}

/// Authentication limits.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Requests per minute per client IP on the authentication routes.
    pub ip_per_minute: u32,
    /// Argon2id computations in flight at once; 0 means two per CPU core.
    pub hash_concurrency: usize,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            ip_per_minute: 30,
            hash_concurrency: 0,
        }
    }
}

/// Where durable data lives.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// First location: journal mirror a, keyring copy a, derived state, TLS material.
    pub data: PathBuf,
    /// Second location: journal mirror b and keyring copy b. Put it on another disk.
    pub mirror: PathBuf,
    /// The master key file. Kept outside both locations.
    pub key_file: PathBuf,
    /// Journal segment size before roll-over, in bytes.
    pub segment_bytes: u64,
}

/// The HTTPS listener.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub listen: SocketAddr,
    /// PEM certificate chain; when absent a self-signed certificate for localhost is made.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// `Strict-Transport-Security: max-age` in seconds.
    pub hsts_max_age_secs: u64,
    /// Longest a client may take to finish the TLS handshake.
    pub handshake_timeout_secs: u64,
    /// Lowest TLS version offered: "1.2" or "1.3".
    pub tls_min_version: String,
}

/// Log output.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// "json" (default) or "text".
    pub format: String,
    /// A `tracing` filter such as "info" or "strongroom=debug,info".
    pub level: String,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

impl Default for Storage {
    fn default() -> Self {
        Self {
            data: PathBuf::from("strongroom/data"),
            mirror: PathBuf::from("strongroom/mirror"),
            key_file: PathBuf::from("strongroom/master.key"),
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls_cert: None,
            tls_key: None,
            hsts_max_age_secs: 31_536_000,
            handshake_timeout_secs: 10,
            tls_min_version: "1.2".to_owned(),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: "json".to_owned(),
            level: "info".to_owned(),
        }
    }
}

impl Config {
    /// Loads defaults, then `file` (when given), then the `STRONGROOM_*` variables of `vars`.
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        env::apply(&mut config, vars)?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| Error::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Checks the settings for safety; see [`check`].
    pub fn check(&self) -> Vec<Finding> {
        check::run(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("strongroom.toml");
        std::fs::write(
            &path,
            "[storage]\ndata = \"/srv/a\"\n[server]\nlisten = \"127.0.0.1:9000\"\n",
        )
        .expect("write");
        let vars = vec![("STRONGROOM_LISTEN".to_owned(), "127.0.0.1:9001".to_owned())];
        let config = Config::load(Some(&path), vars).expect("load");
        assert_eq!(config.storage.data, PathBuf::from("/srv/a"));
        assert_eq!(config.server.listen.port(), 9001);
        assert_eq!(config.storage.mirror, Storage::default().mirror);
    }

    #[test]
    fn unknown_file_keys_are_refused_with_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("strongroom.toml");
        std::fs::write(&path, "[storage]\ndata_dir = \"/srv/a\"\n").expect("write");
        let err = Config::load(Some(&path), Vec::new()).expect_err("must refuse");
        assert!(err.to_string().contains("data_dir"), "{err}");
    }
}
