//! What the metrics read from the engine at scrape time: live sessions, the journal's size and
//! the free space of each location.
//!
//! Read-only and cheap (one counting query, one directory listing, two `statvfs`); it must never
//! change anything, and it returns plain numbers: the metrics format is the edge's business.

use crate::model::{Document, SessionDoc};
use crate::{Engine, Error, Result};

/// The space of the file system holding one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes an unprivileged process may still write (`f_bavail × f_frsize`).
    pub free_bytes: u64,
    /// Size of the file system (`f_blocks × f_frsize`).
    pub total_bytes: u64,
}

impl Engine {
    /// Sessions neither revoked nor past their absolute expiry, last seen (as journaled, at
    /// most a minute late) after `seen_after` (milliseconds; the caller applies its idle
    /// timeout).
    pub fn count_live_sessions(&self, seen_after: i64) -> Result<u64> {
        let now = self.now().millis();
        let q = state_sqlite::DocCount {
            kind: SessionDoc::KIND,
            unset: &["revoked_at"],
            above: &[("expires_at", now), ("last_seen_at", seen_after)],
        };
        Ok(u64::try_from(self.state().count_docs(&q)?).unwrap_or(0))
    }

    /// The bytes of the journal's segment files (mirror a; mirror b holds the same).
    pub fn journal_bytes(&self) -> Result<u64> {
        Ok(self.journal().size_bytes()?)
    }

    /// The space of each location's file system, named as in the configuration (`data`,
    /// `mirror`).
    pub fn disk_space(&self) -> [(&'static str, Result<DiskSpace>); 2] {
        let paths = self.paths();
        [
            ("data", disk_space(&paths.data)),
            ("mirror", disk_space(&paths.mirror)),
        ]
    }
}

fn disk_space(path: &std::path::Path) -> Result<DiskSpace> {
    let stat = rustix::fs::statvfs(path).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: e.into(),
    })?;
    Ok(DiskSpace {
        free_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
        total_bytes: stat.f_blocks.saturating_mul(stat.f_frsize),
    })
}
