//! Retention: the only way entries leave the audit log, and only as whole old segments.
//!
//! [`AuditLog::apply_retention`] removes the oldest segments whose every entry is at or before
//! the horizon, never the segment being appended to, in this order: a checkpoint over the head;
//! a plaintext retention record entry (how many segments, the first seq kept and the chain hash
//! before it, the time); a checkpoint that signs it; then the journal's removal (start files,
//! then the old files, in both locations). A crash before the record leaves the log as it was;
//! after it, [`AuditLog::open`] signs the record if needed and finishes the removal. `audit
//! verify` accepts a chain that starts after seq 1 only where a signed retention record says.
//!
//! Record layout (little-endian), 64 bytes:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `SRRETN01` |
//! | 8 | 8 | segments removed |
//! | 16 | 8 | first seq kept |
//! | 24 | 32 | chain hash of the entry before it |
//! | 56 | 8 | at: Unix milliseconds |
//!
//! This module must never remove anything but whole segments before a signed record, and never
//! offers a way to edit or delete one event.

use journal::Position;

use crate::log::{AuditLog, LogError};
use crate::payload::entry_time;
use crate::{Error, Result};

/// The first bytes of every retention record payload.
pub const MAGIC: &[u8; 8] = b"SRRETN01";
/// Length of an encoded retention record.
pub const LEN: usize = 64;

/// A removal of old segments, as recorded in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRecord {
    /// Segment files removed (from each location).
    pub segments: u64,
    /// The first entry kept.
    pub first_seq: u64,
    /// The chain hash of entry `first_seq - 1`, the last one removed.
    pub previous_hash: [u8; 32],
    /// Unix milliseconds.
    pub at: i64,
}

impl RetentionRecord {
    /// The position just before the first entry kept (where the journal now starts).
    pub fn start(&self) -> Position {
        Position {
            seq: self.first_seq.saturating_sub(1),
            hash: self.previous_hash,
        }
    }

    /// The payload of the record's journal entry.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.segments.to_le_bytes());
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.extend_from_slice(&self.previous_hash);
        out.extend_from_slice(&self.at.to_le_bytes());
        out
    }

    /// Whether a journal payload is a retention record (by its magic).
    pub fn is_retention(payload: &[u8]) -> bool {
        payload.starts_with(MAGIC)
    }

    /// Reads a retention record; refuses anything that is not exactly one.
    pub fn decode(bytes: &[u8]) -> Result<RetentionRecord> {
        if bytes.len() != LEN {
            return Err(Error::Malformed("retention record of the wrong length"));
        }
        if !bytes.starts_with(MAGIC) {
            return Err(Error::Malformed("retention record with the wrong magic"));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let first_seq = u64_at(16);
        if first_seq < 2 {
            return Err(Error::Malformed("retention record that keeps seq 1"));
        }
        let mut previous_hash = [0u8; 32];
        previous_hash.copy_from_slice(&bytes[24..56]);
        Ok(RetentionRecord {
            segments: u64_at(8),
            first_seq,
            previous_hash,
            at: u64_at(56) as i64,
        })
    }
}

/// What [`AuditLog::apply_retention`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segment files removed from each location (0: nothing was old enough).
    pub segments_removed: u64,
    /// Entries removed.
    pub entries_removed: u64,
    /// The first entry the log now holds.
    pub first_seq: u64,
    /// The retention record's own entry, when something was removed.
    pub record: Option<Position>,
}

/// The last retention record found at open, and whether a checkpoint follows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub record: RetentionRecord,
    pub signed: bool,
}

/// Which leading segments may go: their count, the first seq kept and the hash before it.
struct Cut {
    segments: u64,
    first_seq: u64,
    previous_hash: [u8; 32],
}

type LogResult<T> = std::result::Result<T, LogError>;

impl AuditLog {
    /// Removes the oldest whole segments whose every entry is at or before `horizon_ms` (Unix
    /// milliseconds), never the segment being appended to, and records it: a checkpoint, a
    /// retention record entry, a checkpoint signing it, then the removal in both locations.
    /// Removes nothing (and writes nothing) when the oldest segment holds a newer entry or one
    /// whose time is unknown. The only way entries leave the audit log.
    pub async fn apply_retention(&self, horizon_ms: i64) -> LogResult<RetentionReport> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(LogError::Closed);
        }
        let mut previous = self.previous.lock().await;
        let start = self.journal.start();
        let Some(cut) = self.old_segments(horizon_ms)? else {
            return Ok(RetentionReport {
                segments_removed: 0,
                entries_removed: 0,
                first_seq: start.seq + 1,
                record: None,
            });
        };
        self.checkpoint_locked(&mut previous).await?;
        let record = RetentionRecord {
            segments: cut.segments,
            first_seq: cut.first_seq,
            previous_hash: cut.previous_hash,
            at: self.clock.now().millis(),
        };
        let entry = self.journal.append(record.encode()).await?;
        self.checkpoint_locked(&mut previous).await?;
        self.journal.remove_segments_before(cut.first_seq)?;
        Ok(RetentionReport {
            segments_removed: cut.segments,
            entries_removed: cut.first_seq - 1 - start.seq,
            first_seq: cut.first_seq,
            record: Some(entry),
        })
    }

    /// The leading segments whose entries are all at or before the horizon, oldest first, up to
    /// (not including) the segment being appended to.
    fn old_segments(&self, horizon_ms: i64) -> LogResult<Option<Cut>> {
        let segments = self.journal.segments()?;
        let Some(&oldest) = segments.first() else {
            return Ok(None);
        };
        let mut kept = 0usize;
        let mut hash = self.journal.start().hash;
        let mut cut_hash = hash;
        for entry in self.journal.read_from(oldest)? {
            let entry = entry?;
            while kept + 1 < segments.len() && entry.seq >= segments[kept + 1] {
                kept += 1;
                cut_hash = hash;
            }
            let old = entry_time(&entry.payload).is_some_and(|at| at <= horizon_ms);
            if kept + 1 == segments.len() || !old {
                break;
            }
            hash = entry.hash;
        }
        Ok((kept > 0).then(|| Cut {
            segments: kept as u64,
            first_seq: segments[kept],
            previous_hash: cut_hash,
        }))
    }

    /// At open: a retention record the chain holds but the journal has not carried out (a crash
    /// between the record and the removal) is signed if it is not yet, then carried out.
    pub(crate) fn finish_retention(&mut self, pending: Pending) -> LogResult<()> {
        let record = pending.record;
        if record.first_seq <= self.journal.start().seq + 1 {
            return Ok(());
        }
        let before = self
            .journal
            .read_from(record.first_seq - 1)?
            .next()
            .transpose()?;
        if before.map(|e| (e.seq, e.hash)) != Some((record.first_seq - 1, record.previous_hash)) {
            return Err(LogError::Damaged {
                path: self.dirs[0].clone(),
                reason: format!(
                    "a retention record names seq {} and a chain hash this chain does not have",
                    record.first_seq
                ),
            });
        }
        let mut previous = *self.previous.get_mut();
        if !pending.signed
            && let Some(cp) = self.next_checkpoint(&previous)
        {
            let entry = self.journal.append_blocking(cp.encode())?;
            self.file_checkpoint(entry, &cp, &mut previous)?;
            *self.previous.get_mut() = previous;
        }
        self.journal.remove_segments_before(record.first_seq)?;
        Ok(())
    }
}
