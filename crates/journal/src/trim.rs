//! Removing leading segments: the one way entries leave the journal (the audit log's retention).
//!
//! Only whole sealed segments before a segment that exists in both mirrors go, never the last
//! segment (the writer's), and only in this order: the start file in mirror a, then in mirror b,
//! then the old segment files of each mirror. A crash at any step leaves either the old chain or
//! a start file that `open` finishes (see `recover::align_starts` and `clean_leftovers`). This
//! module must never touch the last segment, a frame, or a segment after the new start.

use std::path::PathBuf;

use crate::Position;
use crate::error::{Error, Result};
use crate::format::short_hex;
use crate::fsutil::{fsync_dir, remove_file};
use crate::scan::{ReadError, SegmentFile, SegmentReader, list_dir};
use crate::start::{read_start, write_start};

/// What [`crate::Journal::remove_segments_before`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Segment files removed from each mirror.
    pub segments: usize,
    /// The position before the first entry now kept (its seq is the last removed entry).
    pub start: Position,
}

/// Removes, in both mirrors, every segment before the one whose first entry is `first_seq`.
pub(crate) fn remove_segments_before(dirs: &[PathBuf; 2], first_seq: u64) -> Result<Removed> {
    let mut plans = Vec::with_capacity(2);
    for dir in dirs {
        plans.push(plan(dir, first_seq)?);
    }
    let (old_a, start_a) = &plans[0];
    let (_, start_b) = &plans[1];
    if start_a != start_b {
        return Err(Error::Damaged {
            segment: dirs[1].join(crate::format::segment_name(first_seq)),
            offset: 24,
            reason: format!(
                "its previous hash {} differs from mirror {}'s {}",
                short_hex(&start_b.hash),
                dirs[0].display(),
                short_hex(&start_a.hash)
            ),
        });
    }
    let start = *start_a;
    let segments = old_a.len();
    if plans.iter().all(|(old, _)| old.is_empty()) {
        return Ok(Removed { segments, start });
    }
    for dir in dirs {
        write_start(dir, start)?;
    }
    for (dir, (old, _)) in dirs.iter().zip(&plans) {
        for segment in old {
            remove_file(&segment.path)?;
        }
        fsync_dir(dir)?;
    }
    tracing::info!(
        first_seq,
        segments,
        "removed the journal's segments before seq {first_seq} in both mirrors"
    );
    Ok(Removed { segments, start })
}

/// The segments of `dir` to remove and the new start, or why `first_seq` is not a place to cut.
fn plan(dir: &std::path::Path, first_seq: u64) -> Result<(Vec<SegmentFile>, Position)> {
    let refuse = |reason: String| Error::Damaged {
        segment: dir.to_path_buf(),
        offset: 0,
        reason,
    };
    let current = match read_start(dir)? {
        None => Position::EMPTY,
        Some(Ok(p)) => p,
        Some(Err(p)) => return Err(refuse(p.to_string())),
    };
    if first_seq <= current.seq {
        return Err(refuse(format!(
            "cannot start the journal at seq {first_seq}: it already starts at seq {}",
            current.seq + 1
        )));
    }
    let segments = list_dir(dir)?.segments;
    let Some(at) = segments.iter().position(|s| s.first_seq == first_seq) else {
        return Err(refuse(format!(
            "cannot remove the segments before seq {first_seq}: no segment starts there"
        )));
    };
    let header = SegmentReader::open(&segments[at].path)
        .map_err(ReadError::into_error)?
        .header();
    let start = Position {
        seq: first_seq - 1,
        hash: header.prev_hash,
    };
    let old = segments.into_iter().take(at).collect();
    Ok((old, start))
}
