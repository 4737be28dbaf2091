//! Backups (P12), point-in-time restore (P11) and restore on a bare machine (P13); issue 6, see
//! `docs/design/backup.md`.
//!
//! - [`part`]: a part's bytes sealed in 4 MiB chunks under the set's archive key, each chunk
//!   bound to its set, part, place and whether it is the last;
//! - [`manifest`]: what a set covers and every part's digest, authenticated with a key derived
//!   from the master key;
//! - [`stream`]: journal entries as a part carries them;
//! - [`destination`]: where sets go (`object_store`: a directory, S3);
//! - [`take`]: full backups and journal shipping from a live engine, to every destination on
//!   its own;
//! - [`catalog`]: what a destination holds (sets, keyring copies, attachments), checked;
//! - [`restore`]: a new pair of data locations from a destination and the master key alone, to
//!   the latest entry or a moment;
//! - [`verify`]: everything a destination holds, checked as a restore would read it;
//! - [`drill`]: the latest backup restored into a scratch directory and compared with the live
//!   state at the same position, RTO and RPO measured;
//! - [`service`]: the backups of a running server, one run at a time.
//!
//! Nothing leaves this crate unsealed; keys come from the engine's keyring (the backup key) or
//! the master key (manifests), and never appear in an error.

pub mod catalog;
pub mod destination;
pub mod drill;
pub mod manifest;
pub mod part;
pub mod progress;
pub mod restore;
pub mod retention;
pub mod service;
pub mod shred;
pub mod stream;
pub mod take;
pub mod verify;

pub use catalog::{Catalog, SetRef};
pub use destination::{Destination, Location, Spec};
pub use manifest::{Kind, Manifest, PartEntry, Position, Snapshot};
pub use part::{PartRef, Sealed};
pub use progress::{Progress, Step};

/// What can go wrong with a backup or a restore.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A chunk that does not open: altered, moved from elsewhere, or sealed under another key.
    #[error("part {part}: chunk {index} is damaged or does not belong here (or the key is wrong)")]
    Chunk { part: String, index: u64 },
    /// The part ends before its last chunk.
    #[error("part {part} is cut short: it ends after {chunks} chunk(s), before its last")]
    Truncated { part: String, chunks: u64 },
    #[error("part {part}: {reason}")]
    Format { part: String, reason: String },
    #[error("the manifest is not valid: {0}")]
    Manifest(String),
    /// The manifest's MAC does not match: edited, forged, or another master key.
    #[error(
        "the manifest's MAC does not match: it was changed, or it was made under another master key"
    )]
    ManifestForged,
    #[error("the manifest lists no part {0}")]
    MissingPart(String),
    /// A destination could not do what was asked.
    #[error("destination {name}: {what}: {reason}")]
    Destination {
        name: String,
        what: String,
        reason: String,
    },
    /// A set at a destination is not what its manifest says.
    #[error("destination {destination}, set {set}: {reason}")]
    Set {
        destination: String,
        set: String,
        reason: String,
    },
    /// Nothing to restore from, or not to the moment asked.
    #[error("{0}")]
    Nothing(String),
    /// The restore target is not usable.
    #[error("{0}")]
    Target(String),
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error(transparent)]
    Keyring(#[from] keyring::Error),
    #[error(transparent)]
    Journal(#[from] journal::Error),
    #[error(transparent)]
    State(#[from] state_sqlite::Error),
    #[error("attachments: {0}")]
    Blobs(#[from] blobstore::Error),
    #[error("a backup task failed: {0}")]
    Task(String),
}

impl Error {
    /// Places a set error at its destination and set.
    pub(crate) fn in_set(self, destination: &str, set: &str) -> Error {
        match self {
            Error::Set {
                destination: d,
                set: _,
                reason,
            } if d.is_empty() => Error::Set {
                destination: destination.to_owned(),
                set: set.to_owned(),
                reason,
            },
            Error::Set { .. } | Error::Destination { .. } => self,
            other => Error::Set {
                destination: destination.to_owned(),
                set: set.to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
