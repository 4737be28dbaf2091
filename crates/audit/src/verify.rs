//! `strongroom audit verify DIR`: checks a copy of one location's `audit/` directory with the
//! published public key alone, and reports the first break with its position.
//!
//! Checked: the journal's own frame checksums, seq continuity and chain; each checkpoint entry's
//! signature, that the head it covers is a position of this chain, and that it names the
//! checkpoint before it; and the checkpoint file, record by record against the checkpoint
//! entries — a record without its entry means the chain was cut, an entry without its record
//! means the file was. Events after the last checkpoint are reported as the unsigned tail.

use std::fmt;
use std::path::Path;

use journal::Position;

use crate::checkpoint::Checkpoint;
use crate::log::{CHECKPOINTS, read_records};

/// A verified audit directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries that are events (checkpoints not counted).
    pub events: u64,
    pub checkpoints: u64,
    /// The last checkpoint's own entry and time.
    pub last_checkpoint: Option<(u64, i64)>,
    /// Events after the last checkpoint: intact as far as the chain shows, not yet signed.
    pub unsigned_tail: u64,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok: {} events, {} checkpoints",
            self.events, self.checkpoints
        )?;
        if let Some((seq, at)) = self.last_checkpoint {
            write!(f, ", last checkpoint at seq {seq} ({at} ms)")?;
        }
        write!(f, ", unsigned tail: {} events", self.unsigned_tail)
    }
}

/// The first break found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// Where: a file and offset, or an entry's seq, or a checkpoint record's number.
    pub position: String,
    pub reason: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BROKEN at {}: {}", self.position, self.reason)
    }
}

fn broken(position: impl Into<String>, reason: impl Into<String>) -> Break {
    Break {
        position: position.into(),
        reason: reason.into(),
    }
}

/// Verifies the audit directory `dir` against the `trusted` public key.
pub fn verify_dir(dir: &Path, trusted: &[u8; crypto::PUBLIC_KEY_LEN]) -> Result<Verified, Break> {
    let scan =
        journal::scan_dir(dir).map_err(|e| broken(dir.display().to_string(), e.to_string()))?;
    if let Some(problem) = scan.problem {
        return Err(broken(
            format!("{} byte {}", problem.segment.display(), problem.offset),
            problem.reason,
        ));
    }
    if scan.first_seq != 1 {
        return Err(broken(
            format!("seq {}", scan.first_seq),
            "the chain does not start at seq 1 (segments are missing)",
        ));
    }
    // Chain hashes by seq (index 0: the empty chain), to check what checkpoints cover.
    let mut hashes = vec![Position::EMPTY.hash];
    let mut checkpoints: Vec<(Position, Checkpoint)> = Vec::new();
    let mut events = 0u64;
    let mut since = 0u64;
    for entry in scan.entries {
        let entry = entry.map_err(|e| broken(dir.display().to_string(), e.to_string()))?;
        hashes.push(entry.hash);
        if !Checkpoint::is_checkpoint(&entry.payload) {
            events += 1;
            since += 1;
            continue;
        }
        let at = format!("seq {} (checkpoint)", entry.seq);
        let cp = Checkpoint::decode(&entry.payload).map_err(|e| broken(&at, e.to_string()))?;
        cp.verify(trusted).map_err(|e| broken(&at, e.to_string()))?;
        let covered = cp.covered;
        let covers_this_chain =
            covered.seq < entry.seq && hashes.get(covered.seq as usize) == Some(&covered.hash);
        if !covers_this_chain {
            return Err(broken(
                &at,
                format!(
                    "it signs a head (seq {}) this chain does not have",
                    covered.seq
                ),
            ));
        }
        let previous = checkpoints.last().map_or(Position::EMPTY, |(p, _)| *p);
        if cp.previous != previous {
            return Err(broken(&at, "it does not name the checkpoint before it"));
        }
        checkpoints.push((
            Position {
                seq: entry.seq,
                hash: entry.hash,
            },
            cp,
        ));
        since = 0;
    }
    let file = dir.join(CHECKPOINTS);
    let records =
        read_records(&file).map_err(|e| broken(file.display().to_string(), e.to_string()))?;
    for (i, record) in records.iter().enumerate() {
        let at = format!("{} record {}", file.display(), i + 1);
        match checkpoints.get(i) {
            Some(entry) if entry == record => {}
            Some(_) => return Err(broken(at, "it differs from the chain's checkpoint entry")),
            None => {
                return Err(broken(
                    at,
                    format!(
                        "it names checkpoint entry seq {} but the chain ends at seq {}",
                        record.0.seq,
                        hashes.len() - 1
                    ),
                ));
            }
        }
    }
    if let Some((entry, _)) = checkpoints.get(records.len()) {
        return Err(broken(
            file.display().to_string(),
            format!(
                "the chain's checkpoint at seq {} has no record (the file was cut)",
                entry.seq
            ),
        ));
    }
    Ok(Verified {
        events,
        checkpoints: checkpoints.len() as u64,
        last_checkpoint: checkpoints.last().map(|(p, cp)| (p.seq, cp.at)),
        unsigned_tail: since,
    })
}
