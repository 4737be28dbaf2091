//! Tenant export (P14, issue 7; see `docs/design/data-rights.md`, "Export").
//!
//! - [`passphrase`]: the 120-bit passphrase shown once, and the Argon2id key derived from it;
//! - [`sealed`]: the `.srx` file: a clear header, then 1 MiB chunks sealed with AES-256-GCM,
//!   each bound to its export, place and whether it is the last;
//! - [`manifest`]: what an archive holds, with every member's, record's and attachment's digest;
//! - [`archive`]: the tar stream of a tenant (records as NDJSON and CSV, schemas, attachments,
//!   users, roles, the audit trail, the manifest last), written member by member through sealed
//!   scratch files, never holding the tenant in memory;
//! - [`open`]: the offline reader behind `strongroom export open`: decrypts, checks every digest,
//!   and writes the files only when everything matched;
//! - [`service`]: the export jobs of a running server (at most N at once, queued in order),
//!   their durable events, the single-use download links, expiry.
//!
//! A service-level crate: it reads the tenant through the records and identity services and the
//! engine; it knows neither HTTP nor SQL. It never writes plaintext to disk (the archive and
//! its scratch files hold ciphertext only), never stores or logs a passphrase, and never puts
//! a password hash, TOTP secret, recovery code or token secret into an archive.

pub mod archive;
pub mod csv_cells;
pub mod manifest;
pub mod open;
pub mod passphrase;
pub mod sealed;
pub mod service;
mod spool;

pub use manifest::{Manifest, record_line};
pub use open::{Opened, open_archive};
pub use passphrase::KdfParams;
pub use service::{Config, DownloadFile, ExportView, Hook, Link, Service};

/// What can go wrong with an export.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the passphrase is not valid: {0}")]
    Passphrase(&'static str),
    #[error("{0}")]
    Format(String),
    /// The first chunk does not open: the usual sign of a wrong passphrase.
    #[error(
        "the archive does not open: the passphrase is wrong, or the file's header or first \
         chunk was altered"
    )]
    FirstChunk,
    #[error("chunk {index} of the archive was altered, moved or does not belong to this export")]
    Chunk { index: u64 },
    #[error(
        "chunk {index} does not open as the archive's last chunk: the file was cut short, \
         extended or altered at its end"
    )]
    LastChunk { index: u64 },
    #[error("the archive is cut short")]
    Truncated,
    #[error("the archive's contents do not match its manifest: {0}")]
    Mismatch(String),
    #[error("{0}")]
    Target(String),
    #[error("no such export")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// An unknown, used or revoked download link.
    #[error("this download link is not valid: it was already used, or never existed")]
    LinkUnknown,
    #[error("this download link has expired; make a new one")]
    LinkExpired,
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error(transparent)]
    Records(#[from] records::Error),
    #[error(transparent)]
    Identity(#[from] identity::Error),
    #[error("an export task failed: {0}")]
    Task(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            what: what.to_owned(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
