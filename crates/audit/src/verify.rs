//! `strongroom audit verify DIR`: checks a copy of one location's `audit/` directory with the
//! published public key alone, and reports the first break with its position.
//!
//! Checked: the journal's own frame checksums, seq continuity and chain; each checkpoint entry's
//! signature, that the head it covers is a position of this chain, and that it names the
//! checkpoint before it; and the checkpoint file, record by record against the checkpoint
//! entries — a record without its entry means the chain was cut, an entry without its record
//! means the file was. Events after the last checkpoint are reported as the unsigned tail.
//!
//! After retention the chain starts after seq 1: accepted only when a retention record in the
//! chain, signed by a later checkpoint, names exactly that first seq and the chain hash before
//! it. The checkpoint file's records of removed entries are then history: each still verifies
//! and names the one before it, and the first checkpoint kept names the last of them.

use std::fmt;
use std::path::Path;

use journal::Position;

use crate::checkpoint::Checkpoint;
use crate::log::{CHECKPOINTS, read_records};
use crate::retention::RetentionRecord;

/// A verified audit directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries that are events (checkpoints and retention records not counted).
    pub events: u64,
    /// Checkpoint entries in the chain kept.
    pub checkpoints: u64,
    /// Retention records in the chain kept.
    pub retentions: u64,
    /// The first entry kept: 1 unless retention removed older segments.
    pub first_seq: u64,
    /// The last entry.
    pub head: u64,
    /// The last checkpoint's own entry and time.
    pub last_checkpoint: Option<(u64, i64)>,
    /// Events after the last checkpoint: intact as far as the chain shows, not yet signed.
    pub unsigned_tail: u64,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok: entries {}..={} kept, {} events, {} checkpoints, {} retention records",
            self.first_seq, self.head, self.events, self.checkpoints, self.retentions
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
    /// What broke.
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

/// What the walk over the chain found.
#[derive(Default)]
struct Walk {
    /// Chain hashes from the start on: index `i` is seq `start.seq + i`.
    hashes: Vec<[u8; 32]>,
    checkpoints: Vec<(Position, Checkpoint)>,
    /// Retention records and their own seq.
    retentions: Vec<(u64, RetentionRecord)>,
    events: u64,
    since: u64,
}

impl Walk {
    fn hash_at(&self, start: Position, seq: u64) -> Option<&[u8; 32]> {
        let i = usize::try_from(seq.checked_sub(start.seq)?).ok()?;
        self.hashes.get(i)
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
    let start = scan.start;
    let file = dir.join(CHECKPOINTS);
    let records =
        read_records(&file).map_err(|e| broken(file.display().to_string(), e.to_string()))?;
    let removed = records
        .iter()
        .take_while(|(p, _)| p.seq <= start.seq)
        .count();
    let record_at = |i: usize| format!("{} record {}", file.display(), i + 1);
    let previous = history(&records[..removed], trusted, record_at)?;
    let mut walk = Walk {
        hashes: vec![start.hash],
        ..Walk::default()
    };
    for entry in scan.entries {
        let entry = entry.map_err(|e| broken(dir.display().to_string(), e.to_string()))?;
        walk.hashes.push(entry.hash);
        let at = Position {
            seq: entry.seq,
            hash: entry.hash,
        };
        if Checkpoint::is_checkpoint(&entry.payload) {
            let last = walk.checkpoints.last().map_or(previous, |(p, _)| *p);
            let cp = checkpoint_entry(&walk, start, at, last, &entry.payload, trusted)?;
            walk.checkpoints.push((at, cp));
            walk.since = 0;
            continue;
        }
        if RetentionRecord::is_retention(&entry.payload) {
            let record = retention_entry(&walk, start, at.seq, &entry.payload)?;
            walk.retentions.push((at.seq, record));
        } else {
            walk.events += 1;
        }
        walk.since += 1;
    }
    let head = start.seq + walk.hashes.len() as u64 - 1;
    for (i, record) in records.iter().enumerate().skip(removed) {
        match walk.checkpoints.get(i - removed) {
            Some(entry) if entry == record => {}
            Some(_) => {
                return Err(broken(
                    record_at(i),
                    "it differs from the chain's checkpoint entry",
                ));
            }
            None => {
                return Err(broken(
                    record_at(i),
                    format!(
                        "it names checkpoint entry seq {} but the chain ends at seq {head}",
                        record.0.seq
                    ),
                ));
            }
        }
    }
    if let Some((entry, _)) = walk.checkpoints.get(records.len() - removed) {
        return Err(broken(
            file.display().to_string(),
            format!(
                "the chain's checkpoint at seq {} has no record (the file was cut)",
                entry.seq
            ),
        ));
    }
    if start != Position::EMPTY {
        check_start(&walk, start)?;
    }
    Ok(Verified {
        events: walk.events,
        checkpoints: walk.checkpoints.len() as u64,
        retentions: walk.retentions.len() as u64,
        first_seq: start.seq + 1,
        head,
        last_checkpoint: walk.checkpoints.last().map(|(p, cp)| (p.seq, cp.at)),
        unsigned_tail: walk.since,
    })
}

/// Checks the checkpoint file's records of removed entries: each signed by the trusted key and
/// naming the one before it. Returns the last one's entry (what the first checkpoint kept must
/// name).
fn history(
    records: &[(Position, Checkpoint)],
    trusted: &[u8; crypto::PUBLIC_KEY_LEN],
    record_at: impl Fn(usize) -> String,
) -> Result<Position, Break> {
    let mut previous = Position::EMPTY;
    for (i, (entry, cp)) in records.iter().enumerate() {
        cp.verify(trusted)
            .map_err(|e| broken(record_at(i), e.to_string()))?;
        if cp.previous != previous || entry.seq <= previous.seq || cp.covered.seq >= entry.seq {
            return Err(broken(
                record_at(i),
                "a record of a removed checkpoint out of order (it does not name the one before it)",
            ));
        }
        previous = *entry;
    }
    Ok(previous)
}

/// One checkpoint entry: signed by the trusted key, covering a head of this chain (or one
/// removed by retention), naming the checkpoint before it.
fn checkpoint_entry(
    walk: &Walk,
    start: Position,
    entry: Position,
    previous: Position,
    payload: &[u8],
    trusted: &[u8; crypto::PUBLIC_KEY_LEN],
) -> Result<Checkpoint, Break> {
    let at = format!("seq {} (checkpoint)", entry.seq);
    let cp = Checkpoint::decode(payload).map_err(|e| broken(&at, e.to_string()))?;
    cp.verify(trusted).map_err(|e| broken(&at, e.to_string()))?;
    let covered = cp.covered;
    let removed = covered.seq < start.seq;
    let covers_this_chain = covered.seq < entry.seq
        && (removed || walk.hash_at(start, covered.seq) == Some(&covered.hash));
    if !covers_this_chain {
        return Err(broken(
            &at,
            format!(
                "it signs a head (seq {}) this chain does not have",
                covered.seq
            ),
        ));
    }
    if cp.previous != previous {
        return Err(broken(&at, "it does not name the checkpoint before it"));
    }
    Ok(cp)
}

/// One retention record entry: well formed, naming a start at or before itself whose hash is
/// this chain's where the chain still holds it.
fn retention_entry(
    walk: &Walk,
    start: Position,
    seq: u64,
    payload: &[u8],
) -> Result<RetentionRecord, Break> {
    let at = format!("seq {seq} (retention record)");
    let record = RetentionRecord::decode(payload).map_err(|e| broken(&at, e.to_string()))?;
    let named = record.start();
    if named.seq >= seq {
        return Err(broken(&at, "it names a start after itself"));
    }
    if let Some(hash) = walk.hash_at(start, named.seq)
        && *hash != named.hash
    {
        return Err(broken(
            &at,
            format!(
                "it names seq {} as the first kept with a chain hash this chain does not have",
                record.first_seq
            ),
        ));
    }
    Ok(record)
}

/// A chain that starts after seq 1 must start where a signed retention record says.
fn check_start(walk: &Walk, start: Position) -> Result<(), Break> {
    let signed_up_to = walk.checkpoints.last().map_or(0, |(_, cp)| cp.covered.seq);
    let justified = walk
        .retentions
        .iter()
        .any(|(seq, r)| r.start() == start && *seq <= signed_up_to);
    if justified {
        return Ok(());
    }
    Err(broken(
        format!("seq {} (first entry kept)", start.seq + 1),
        format!(
            "the chain starts at seq {} but no retention record signed by a later checkpoint \
             names that start (segments removed without retention)",
            start.seq + 1
        ),
    ))
}
