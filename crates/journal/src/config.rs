//! Journal configuration: the two mirror directories and the size limits.
//!
//! Plain data with defaults. It must never read the environment or files; the `config` crate
//! builds it.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::format::{HEADER_LEN, frame_len};

/// Where the journal lives and how it batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// Mirror a (reads prefer it).
    pub a: PathBuf,
    /// Mirror b. Put it on a different disk than `a`.
    pub b: PathBuf,
    /// A new segment is started before a batch that would take the current one past this size.
    pub segment_bytes: u64,
    /// Upper bound of one group-commit batch (a single larger payload still goes alone).
    pub max_batch_bytes: usize,
}

impl JournalConfig {
    /// Default segment size: 64 MiB.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
    /// Default batch bound: 8 MiB.
    pub const DEFAULT_MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

    /// A configuration with default sizes.
    pub fn new(a: PathBuf, b: PathBuf) -> Self {
        JournalConfig {
            a,
            b,
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            max_batch_bytes: Self::DEFAULT_MAX_BATCH_BYTES,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.a == self.b {
            return Err(Error::Config(format!(
                "mirror a and mirror b are the same directory ({}); they must be two separate \
                 locations",
                self.a.display()
            )));
        }
        if let (Ok(a), Ok(b)) = (self.a.canonicalize(), self.b.canonicalize())
            && a == b
        {
            return Err(Error::Config(format!(
                "mirror a ({}) and mirror b ({}) resolve to the same directory {}",
                self.a.display(),
                self.b.display(),
                a.display()
            )));
        }
        if self.segment_bytes < HEADER_LEN + frame_len(0) {
            return Err(Error::Config(format!(
                "segment_bytes {} is too small (minimum {})",
                self.segment_bytes,
                HEADER_LEN + frame_len(0)
            )));
        }
        if self.max_batch_bytes == 0 {
            return Err(Error::Config(
                "max_batch_bytes must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}
