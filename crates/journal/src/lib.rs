//! The journal: Strongroom's system of record (promise P10, "written to two locations").
//!
//! Append-only segment files, each frame length-prefixed and crc32c-checked, every entry
//! hash-chained to the one before, mirrored byte for byte in two directories. A single writer
//! thread group-commits: one write and one `fdatasync` per mirror per batch, both mirrors in
//! parallel, and an append is acknowledged only when its batch is durable in both mirrors and the
//! commit hook ran. Payloads are opaque bytes (the engine seals them before they arrive).
//! [`Importer`] writes a whole journal that is not open, the way a restore rebuilds one.
//!
//! This crate must never acknowledge a write that is not synced in both mirrors, never rewrite or
//! delete a committed entry (only torn, unacknowledged tails are truncated, and whole leading
//! segments go when the owner asks, through [`Journal::remove_segments_before`]), never guess
//! when the mirrors disagree, and never look inside payloads. The on-disk format, the durability argument
//! and the recovery algorithm live in `docs/design/journal.md`.

mod ack;
mod compare;
mod config;
mod error;
mod format;
mod fsutil;
mod import;
mod journal;
mod mirror;
mod read;
mod recover;
mod repair;
mod scan;
mod start;
mod stats;
mod trim;
mod verify;
mod writer;

pub use config::JournalConfig;
pub use error::{Error, Result};
pub use format::chain as chain_hash;
pub use import::Importer;
pub use journal::{CommitHook, Journal};
pub use read::Entries;
pub use recover::OpenReport;
pub use repair::{RepairReport, repair};
pub use stats::{BATCH_SIZE_BOUNDS, FSYNC_MICROS_BOUNDS, Histogram, MirrorStats, Stats};
pub use trim::Removed;
pub use verify::{DirScan, MirrorReport, Problem, SegmentReport, VerifyReport, scan_dir, verify};

/// Largest payload one entry may carry; larger payloads get [`Error::TooLarge`].
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// One committed journal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number, starting at 1, contiguous.
    pub seq: u64,
    /// Chain hash after this entry: `SHA-256(previous hash || seq LE || payload)`.
    pub hash: [u8; 32],
    /// The opaque payload.
    pub payload: Vec<u8>,
}

/// A point in the journal: the last entry's seq and chain hash.
/// Seq 0 with the zero hash is the empty journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Seq of the entry (0 = before the first entry).
    pub seq: u64,
    /// Chain hash after that entry.
    pub hash: [u8; 32],
}

impl Position {
    /// The position of an empty journal.
    pub const EMPTY: Position = Position {
        seq: 0,
        hash: [0; 32],
    };
}

/// Whether the journal accepts writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Both mirrors are written and synced.
    Healthy,
    /// Writes are refused (fail closed); reads keep working.
    Degraded {
        /// What went wrong, naming the mirror path and the error.
        cause: String,
    },
}
