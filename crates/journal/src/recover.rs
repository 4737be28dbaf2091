//! Recovery on open: bring both mirrors to the same valid state, or refuse.
//!
//! Refusals (damage before the last segment, disagreeing mirrors, a missing mirror, an import
//! that did not finish) happen before anything is written. Only two kinds of change are made:
//! truncating a torn tail of a mirror's last segment, and copying frames or segment files that
//! one mirror lacks from the other. This module must never drop an entry that the other mirror
//! does not also lack.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::Position;
use crate::compare::{a_covers_b, first_divergence};
use crate::error::{Error, Result};
use crate::format::{SegmentHeader, ZERO_HASH};
use crate::fsutil::{
    copy_file_atomic, copy_range, create_dir_durable, create_segment, fsync_dir, remove_file,
    truncate,
};
use crate::scan::{DirState, MirrorScan, ScannedSegment, scan_mirror};
use crate::start::write_start;

/// What `Journal::open` found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenReport {
    /// One human-readable line per action or finding, in order.
    pub lines: Vec<String>,
    /// The last committed entry after recovery.
    pub head: Position,
}

impl fmt::Display for OpenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        write!(f, "journal open: head at entry {}", self.head.seq)
    }
}

/// Where the writer continues after recovery.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub report: OpenReport,
    /// The position before the first entry (not [`Position::EMPTY`] once segments were removed).
    pub start: Position,
    /// File name of the last segment (identical in both mirrors).
    pub last_segment: String,
    pub last_first_seq: u64,
    /// Length of the last segment (identical in both mirrors).
    pub last_len: u64,
}

/// Opens or creates the journal files in `a` and `b`, repairing only torn tails and lagging
/// mirrors.
pub(crate) fn recover(a: &Path, b: &Path) -> Result<Recovered> {
    let scan_a = scan_mirror(a)?;
    let scan_b = scan_mirror(b)?;
    scan_a.refuse_unfinished_import()?;
    scan_b.refuse_unfinished_import()?;
    let mut lines = Vec::new();
    let state = |s: &MirrorScan| s.listing.state == DirState::Present;
    let result = match (state(&scan_a), state(&scan_b)) {
        (false, false) => create_fresh(a, b, &mut lines)?,
        (false, true) => recreate_if_empty(scan_b, a, &mut lines)?,
        (true, false) => recreate_if_empty(scan_a, b, &mut lines)?,
        (true, true) => {
            refuse_damage(&scan_a)?;
            refuse_damage(&scan_b)?;
            let (scan_a, scan_b) = align_starts(scan_a, scan_b, &mut lines)?;
            refuse_damage(&scan_a)?;
            refuse_damage(&scan_b)?;
            if let Some(d) = first_divergence(&scan_a, &scan_b)? {
                return Err(d.into_error(&scan_a, &scan_b));
            }
            reconcile(scan_a, scan_b, &mut lines)?
        }
    };
    let last = result.last().ok_or_else(|| Error::Damaged {
        segment: a.to_path_buf(),
        offset: 0,
        reason: "no segment left after recovery".to_owned(),
    })?;
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b))
        && ma.dev() == mb.dev()
    {
        let note = format!(
            "warning: both mirrors are on the same file system (device {}); one disk failure \
             would lose both. Put {} and {} on separate disks",
            ma.dev(),
            a.display(),
            b.display()
        );
        tracing::warn!("{note}");
        lines.push(note);
    }
    let start = Position {
        seq: result.first().map_or(0, |s| s.first_seq - 1),
        hash: result.first().map_or(ZERO_HASH, |s| s.prev_hash),
    };
    Ok(Recovered {
        start,
        last_segment: last.name.clone(),
        last_first_seq: last.first_seq,
        last_len: last.valid_len,
        report: OpenReport {
            lines,
            head: Position {
                seq: last.end_seq,
                hash: last.end_hash,
            },
        },
    })
}

/// One mirror is missing. If the other holds no entry yet (a crash during the very first open),
/// nothing can be lost: recreate the missing one. Otherwise refuse and point to `repair`.
fn recreate_if_empty(
    present: MirrorScan,
    missing: &Path,
    lines: &mut Vec<String>,
) -> Result<Vec<ScannedSegment>> {
    if present.head.seq > 0 || !present.is_healthy() {
        return Err(Error::MirrorMissing {
            mirror: missing.to_path_buf(),
        });
    }
    create_dir_durable(missing)?;
    let empty = scan_mirror(missing)?;
    lines.push(format!(
        "mirror {} was missing while {} held no entry yet: recreated it",
        missing.display(),
        present.dir.display()
    ));
    reconcile(present, empty, lines)
}

fn refuse_damage(scan: &MirrorScan) -> Result<()> {
    match &scan.problem {
        Some(p) if !scan.torn => Err(Error::Damaged {
            segment: p.segment.clone(),
            offset: p.offset,
            reason: p.reason.clone(),
        }),
        _ => Ok(()),
    }
}

/// Creates both mirror directories and the first segment in each.
fn create_fresh(a: &Path, b: &Path, lines: &mut Vec<String>) -> Result<Vec<ScannedSegment>> {
    let header = SegmentHeader {
        first_seq: 1,
        prev_hash: ZERO_HASH,
    };
    let mut segments = Vec::new();
    for dir in [a, b] {
        create_dir_durable(dir)?;
        let (_file, path) = create_segment(dir, &header)?;
        segments.push(ScannedSegment {
            first_seq: 1,
            name: crate::format::segment_name(1),
            path,
            file_len: crate::format::HEADER_LEN,
            prev_hash: ZERO_HASH,
            valid_len: crate::format::HEADER_LEN,
            end_seq: 0,
            end_hash: ZERO_HASH,
        });
    }
    lines.push(format!(
        "fresh journal created in {} and {}",
        a.display(),
        b.display()
    ));
    segments.truncate(1);
    Ok(segments)
}

/// Both mirrors are present, neither is damaged before its last segment, and they agree: remove
/// leftover temp files, truncate torn tails, and copy what the shorter mirror lacks. Returns the
/// (now identical) segment layout.
pub(crate) fn reconcile(
    mut a: MirrorScan,
    mut b: MirrorScan,
    lines: &mut Vec<String>,
) -> Result<Vec<ScannedSegment>> {
    for scan in [&mut a, &mut b] {
        clean_leftovers(scan, lines)?;
        truncate_torn_tail(scan, lines)?;
    }
    let (src, dst) = if a_covers_b(&a, &b) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    copy_missing(src, dst, lines)?;
    Ok(src.segments.clone())
}

/// Removes what an interrupted operation left: temp files of a segment creation or copy, and
/// segments wholly before the start file's position (an interrupted removal of old segments).
pub(crate) fn clean_leftovers(scan: &MirrorScan, lines: &mut Vec<String>) -> Result<()> {
    for tmp in &scan.listing.tmp_files {
        remove_file(tmp)?;
        lines.push(format!(
            "removed leftover temporary file {} (an interrupted segment creation)",
            tmp.display()
        ));
    }
    for old in &scan.leftovers {
        remove_file(&old.path)?;
        lines.push(format!(
            "removed segment {} of mirror {}: it ends before the journal's start at seq {} (an \
             interrupted removal of old segments)",
            old.name,
            scan.dir.display(),
            scan.start.seq + 1
        ));
    }
    if !scan.listing.tmp_files.is_empty() || !scan.leftovers.is_empty() {
        fsync_dir(&scan.dir)?;
    }
    Ok(())
}

/// When one mirror starts later than the other (a removal of old segments was interrupted
/// between the two start files), writes the later start into the other mirror and scans it
/// again, which checks that its segment at that seq exists and chains to that hash. The later
/// start was written only after the decision to remove was durable, so nothing meant to be kept
/// is dropped.
pub(crate) fn align_starts(
    a: MirrorScan,
    b: MirrorScan,
    lines: &mut Vec<String>,
) -> Result<(MirrorScan, MirrorScan)> {
    if a.start == b.start {
        return Ok((a, b));
    }
    let a_later = a.start.seq > b.start.seq;
    let (later, earlier) = if a_later { (a, b) } else { (b, a) };
    write_start(&earlier.dir, later.start)?;
    lines.push(format!(
        "mirror {} starts at seq {} while mirror {} starts at seq {}: finished the interrupted \
         removal of old segments in the first",
        earlier.dir.display(),
        earlier.start.seq + 1,
        later.dir.display(),
        later.start.seq + 1
    ));
    let earlier = scan_mirror(&earlier.dir)?;
    Ok(if a_later {
        (later, earlier)
    } else {
        (earlier, later)
    })
}

/// Cuts the last segment back to its valid prefix when the scan found a torn tail.
pub(crate) fn truncate_torn_tail(scan: &mut MirrorScan, lines: &mut Vec<String>) -> Result<()> {
    if !scan.torn {
        return Ok(());
    }
    let (Some(problem), Some(last)) = (scan.problem.take(), scan.segments.last_mut()) else {
        return Ok(());
    };
    truncate(&last.path, last.valid_len)?;
    lines.push(format!(
        "torn tail truncated in mirror {} at segment {} offset {}: {} bytes discarded ({})",
        scan.dir.display(),
        last.name,
        last.valid_len,
        last.file_len - last.valid_len,
        problem.reason
    ));
    tracing::warn!(
        mirror = %scan.dir.display(),
        segment = %last.name,
        offset = last.valid_len,
        "torn tail truncated: {}",
        problem.reason
    );
    last.file_len = last.valid_len;
    scan.torn = false;
    Ok(())
}

/// Copies into `dst` every frame and segment file of `src` that `dst` lacks. The mirrors agree
/// (checked by the caller), so `dst`'s last segment is a prefix of `src`'s same segment.
pub(crate) fn copy_missing(
    src: &MirrorScan,
    dst: &MirrorScan,
    lines: &mut Vec<String>,
) -> Result<()> {
    let mut new_files = 0usize;
    let mut bytes = 0u64;
    for (i, seg) in src.segments.iter().enumerate() {
        match dst.segments.get(i) {
            Some(d) if d.valid_len < seg.valid_len => {
                copy_range(&seg.path, &d.path, d.valid_len, seg.valid_len)?;
                bytes += seg.valid_len - d.valid_len;
            }
            Some(_) => {}
            None => {
                copy_file_atomic(&seg.path, seg.valid_len, &dst.dir, &seg.name)?;
                new_files += 1;
                bytes += seg.valid_len;
            }
        }
    }
    if new_files > 0 {
        fsync_dir(&dst.dir)?;
    }
    if bytes > 0 {
        let entries = src.head.seq - dst.head.seq;
        let line = format!(
            "{entries} entries (seq {}..={}) copied from mirror {} to mirror {}: {bytes} bytes, \
             {new_files} new segment files",
            dst.head.seq + 1,
            src.head.seq,
            src.dir.display(),
            dst.dir.display()
        );
        tracing::warn!("{line}");
        lines.push(line);
    }
    Ok(())
}
