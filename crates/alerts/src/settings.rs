//! What [`crate::Alerts::start`] needs: the rules, the channels (email, webhook), the retry
//! timings and the bounds. The binary fills it from the `[alerts]` configuration section.
//!
//! Secrets (the SMTP password, the webhook HMAC key) are never here: only the paths of the
//! files that hold them, read once at start by [`read_secret_file`], which refuses a file that
//! group or others may read.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crypto::Secret;

use crate::rules::Rule;
use crate::{Error, Result};

/// Everything the alerts need to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The node name written into the events this crate makes.
    pub node: String,
    /// The rules in force (see [`crate::rules::rule_set`]).
    pub rules: Vec<Rule>,
    pub email: Option<EmailSettings>,
    pub webhook: Option<WebhookSettings>,
    pub retry: RetryPolicy,
    /// Alerts waiting for the delivery task; beyond it [`crate::Alerts::observe`] drops new
    /// alerts with a warning (it never blocks).
    pub queue_capacity: usize,
    /// Deliveries (alert × channel) in progress or waiting for a retry at once.
    pub max_pending: usize,
    /// (rule, group) pairs the evaluator tracks at once.
    pub max_groups: usize,
}

impl Settings {
    /// Settings with the given rules, no channel, the default retry timings and bounds.
    pub fn new(node: impl Into<String>, rules: Vec<Rule>) -> Settings {
        Settings {
            node: node.into(),
            rules,
            email: None,
            webhook: None,
            retry: RetryPolicy::default(),
            queue_capacity: 1024,
            max_pending: 4096,
            max_groups: 10_000,
        }
    }
}

/// Email by SMTP; STARTTLS is always required.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// Recipients, at least one.
    pub to: Vec<String>,
    pub from: String,
    /// The SMTP server; also the name its certificate must carry.
    pub host: String,
    /// 587 (submission) by default.
    pub port: u16,
    /// Username for AUTH; the password comes from `password_file`.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// PEM CA certificate(s) trusted for the server instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// Longest one delivery attempt may take.
    pub timeout: Duration,
}

/// A signed `POST` to a URL.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `https://…`, or `http://` to a loopback host only.
    pub url: String,
    /// The file holding the HMAC-SHA256 key.
    pub secret_file: PathBuf,
    /// PEM CA certificate(s) trusted for the receiver instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// Longest one delivery attempt may take.
    pub timeout: Duration,
}

/// Exponential backoff: `first`, doubling up to `max` between attempts; no attempt starts
/// after `give_up_after` from the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub max: Duration,
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 1 s doubling to 10 min, giving up after 24 h.
    fn default() -> Self {
        RetryPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// Reads a secret from `path` (surrounding whitespace trimmed). Refuses a file readable by
/// group or others, and an empty one. Errors name the file, never its contents.
pub fn read_secret_file(path: &Path, what: &'static str) -> Result<Secret<Vec<u8>>> {
    let fail = |problem: String| Error::SecretFile {
        what,
        path: path.to_owned(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "mode {mode:o} lets group or others read it; run `chmod 600 {}`",
            path.display()
        )));
    }
    let raw = Secret::new(std::fs::read(path).map_err(|e| fail(e.to_string()))?);
    let text = raw.expose().trim_ascii();
    if text.is_empty() {
        return Err(fail("is empty".into()));
    }
    Ok(Secret::new(text.to_vec()))
}

/// Reads a PEM file of CA certificates.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::CaFile {
        path: path.to_owned(),
        problem: source.to_string(),
    })
}
