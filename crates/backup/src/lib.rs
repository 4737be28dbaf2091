//! Backup archives (P12, issue 6; see `docs/design/backup.md`): the format only, so far.
//!
//! - [`part`]: a part's bytes sealed in 4 MiB chunks under the backup's archive key, each chunk
//!   bound to its backup, part, place and whether it is the last (no reordering, moving or
//!   cutting goes unnoticed);
//! - [`manifest`]: what a backup covers and every part's digest, authenticated with a key derived
//!   from the master key.
//!
//! Not yet: taking a snapshot, destinations (`object_store`), the schedule, restore, drills.
//! This crate never sees plaintext it did not get from a reader, writes only to the writers it
//! is given, and never puts key material into an error.

pub mod manifest;
pub mod part;

pub use manifest::{Manifest, PartEntry, Position, manifest_key};
pub use part::{PartRef, Sealed};

/// What can go wrong with an archive.
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
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
