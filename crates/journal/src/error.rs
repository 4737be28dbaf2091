//! The journal's error type: one enum, operator-facing messages.
//!
//! Every message names the path involved and says what to do next. This module must never
//! swallow an OS error: the original `std::io::Error` or its text always travels in the error.

use std::path::PathBuf;

use crate::MAX_PAYLOAD;

/// Result alias of the journal crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system call failed outside the write path (open, recovery, verify, repair).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Writing or syncing one mirror failed during a commit. The batch was NOT acknowledged and
    /// the journal is now degraded.
    #[error(
        "mirror {} failed: {cause}. This write was not acknowledged and the journal now refuses \
         all writes (fail closed). Fix the mirror, stop the service, run `strongroom repair`, \
         then restart",
        mirror.display()
    )]
    MirrorFailed {
        /// The mirror directory that failed.
        mirror: PathBuf,
        /// The failed operation, the file and the OS error.
        cause: String,
    },

    /// The journal is degraded: writes are refused at once. Reads still work.
    #[error(
        "journal unavailable, writes refused (fail closed): {cause}. Stop the service, fix the \
         cause, run `strongroom repair`, then restart"
    )]
    Unavailable {
        /// What degraded the journal, naming the mirror path and the error.
        cause: String,
    },

    /// The two mirrors hold different content for the same entry (or a different segment layout).
    #[error(
        "mirrors disagree at entry {seq} (segment {}, byte offset {offset}): {detail}. Mirrors: {} \
         and {}. Refusing to choose one: run `strongroom verify` on both, move the wrong mirror \
         directory aside, then run `strongroom repair` to rebuild it from the right one",
        segment.display(),
        a.display(),
        b.display()
    )]
    Disagree {
        /// The first entry on which the mirrors differ.
        seq: u64,
        /// Mirror a.
        a: PathBuf,
        /// Mirror b.
        b: PathBuf,
        /// The segment file name (relative to each mirror directory).
        segment: PathBuf,
        /// Byte offset of the differing frame (or segment boundary) in that segment.
        offset: u64,
        /// What differs.
        detail: String,
    },

    /// A mirror is damaged before its last segment: not a torn write, so open refuses.
    #[error(
        "journal damaged: {} at byte offset {offset}: {reason}. Run `strongroom repair` to \
         rebuild this mirror from the healthy one",
        segment.display()
    )]
    Damaged {
        /// Full path of the damaged segment file.
        segment: PathBuf,
        /// Byte offset of the first bad frame (0 for a bad header or a missing segment).
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// One mirror directory is missing or empty while the other holds entries.
    #[error(
        "mirror directory {} is missing or empty while the other mirror holds the journal. \
         Refusing to open with one copy: run `strongroom repair` to rebuild it",
        mirror.display()
    )]
    MirrorMissing {
        /// The missing or empty mirror directory.
        mirror: PathBuf,
    },

    /// The payload exceeds [`MAX_PAYLOAD`].
    #[error("payload of {size} bytes exceeds the journal limit of {MAX_PAYLOAD} bytes")]
    TooLarge {
        /// Size of the refused payload.
        size: usize,
    },

    /// The commit hook failed. The batch IS durable in both mirrors (it will be replayed on the
    /// next open), but the journal is now degraded so that the state above cannot skip it.
    #[error(
        "commit hook failed: {0}. The entry is durable in both mirrors but was not applied; the \
         journal now refuses writes until it is reopened (restart the service)"
    )]
    Hook(String),

    /// `append` was called from inside the commit hook, which runs on the writer thread and
    /// would wait for itself.
    #[error(
        "append called from inside the journal's commit hook; the hook must not append (the \
         writer thread would wait for itself)"
    )]
    Reentrant,

    /// The journal was shut down.
    #[error("journal is shut down; no more appends are accepted")]
    Closed,

    /// The configuration is unusable.
    #[error("invalid journal configuration: {0}")]
    Config(String),

    /// `repair` cannot proceed without losing or inventing data.
    #[error("repair refused: {0}")]
    RepairRefused(String),

    /// [`crate::Importer`] refused its directories or an entry; nothing was written for it.
    #[error("import refused: {0}")]
    ImportRefused(String),

    /// A mirror directory holds an import that did not finish: no journal, whatever its segment
    /// files look like. `open` and `repair` refuse it.
    #[error(
        "{} is there: an import (a restore) into this mirror directory did not finish, so it \
         holds no journal. Empty both mirror directories and run the import again",
        marker.display()
    )]
    ImportUnfinished {
        /// The marker file the import leaves until it finishes.
        marker: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
