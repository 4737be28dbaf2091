//! SIEM export of audit events (P16): the same injection-safe lines as the NDJSON stream,
//! appended to a size-rotated file ([`FileSink`]) and sent as RFC 5424 syslog messages over TLS
//! with RFC 5425 framing ([`SyslogTls`]). [`Sinks`] starts the configured ones and feeds both.
//!
//! Sending never blocks the caller: each sink has a bounded queue, and a line that can not be
//! queued or written is counted in `dropped()`, never lost silently, so the caller can record
//! that fact as an event of its own. Errors and logs name paths and addresses, never an
//! event's content. This crate reads no configuration file (the binary maps `config` to
//! [`SinksConfig`]) and never edits the audit log: it only copies events out of it.

mod counters;
pub mod file;
pub mod rfc5424;
mod rotate;
pub mod syslog;

use std::path::PathBuf;

use audit::AuditEvent;

pub use counters::Stats;
pub use file::{FileSink, FileSinkOptions};
pub use syslog::{SyslogOptions, SyslogTls};

/// What can go wrong while starting, running or stopping a sink.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sink file (or one of its rotated copies) can not be used safely.
    #[error("audit file sink {path}: {reason}")]
    Unsafe { path: PathBuf, reason: String },
    /// An I/O error on the sink file or its directory.
    #[error("audit file sink {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An option out of its range.
    #[error("audit sink option {name}: {message}")]
    Option { name: &'static str, message: String },
    /// The CA file of the syslog receiver can not be read or holds no certificate.
    #[error("audit syslog CA file {path}: {message}")]
    CaFile { path: PathBuf, message: String },
    /// The syslog server name is neither a DNS name nor an IP address.
    #[error("audit syslog server_name `{0}` is not a valid DNS name or IP address")]
    ServerName(String),
    /// rustls refused the client configuration.
    #[error("audit syslog TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The syslog sink was started outside a Tokio runtime.
    #[error("the audit syslog sink must be started inside a Tokio runtime")]
    NoRuntime,
    /// A sink stopped with `count` lines it could not write or deliver; they are counted as
    /// dropped in `stats`, the sink's final counters.
    #[error(
        "audit {sink}: {count} lines could not be delivered before shutdown ({} dropped in all): {}",
        stats.dropped,
        stats.last_error.as_deref().unwrap_or("no failure recorded")
    )]
    Undelivered {
        sink: &'static str,
        count: u64,
        stats: Stats,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which sinks to start; `None` leaves a sink off.
#[derive(Debug, Clone, Default)]
pub struct SinksConfig {
    pub file: Option<FileSinkOptions>,
    pub syslog: Option<SyslogOptions>,
}

/// The running sinks: one `send` feeds each of them.
#[derive(Debug)]
pub struct Sinks {
    file: Option<FileSink>,
    syslog: Option<SyslogTls>,
}

impl Sinks {
    /// Starts the configured sinks. The syslog sink needs a Tokio runtime (it spawns a task);
    /// the file sink runs on a thread of its own. Refuses an unsafe sink file and an unreadable
    /// CA file before anything is started.
    pub fn start(config: SinksConfig) -> Result<Sinks> {
        let file = config.file.map(FileSink::start).transpose()?;
        let syslog = config.syslog.map(SyslogTls::start).transpose()?;
        Ok(Sinks { file, syslog })
    }

    /// Queues `event` for every sink; never blocks. A sink whose queue is full counts a drop.
    pub fn send(&self, event: &AuditEvent) {
        if let Some(file) = &self.file {
            file.send(event);
        }
        if let Some(syslog) = &self.syslog {
            syslog.send(event);
        }
    }

    /// Lines dropped so far by all sinks together (queue overflow, failed writes at shutdown).
    pub fn dropped(&self) -> u64 {
        self.file.as_ref().map_or(0, FileSink::dropped)
            + self.syslog.as_ref().map_or(0, SyslogTls::dropped)
    }

    /// The file sink, when configured (for its [`Stats`]).
    pub fn file(&self) -> Option<&FileSink> {
        self.file.as_ref()
    }

    /// The syslog sink, when configured (for its [`Stats`]).
    pub fn syslog(&self) -> Option<&SyslogTls> {
        self.syslog.as_ref()
    }

    /// Writes, syncs and delivers what is queued, then stops both sinks. Both are stopped even
    /// when the first fails; the first error is returned.
    pub async fn shutdown(self) -> Result<()> {
        let file = match self.file {
            Some(file) => file.shutdown().await.map(drop),
            None => Ok(()),
        };
        let syslog = match self.syslog {
            Some(syslog) => syslog.shutdown().await.map(drop),
            None => Ok(()),
        };
        file.and(syslog)
    }
}
