//! Offline repair: rebuild a missing or damaged mirror from the healthy one.
//!
//! Refuses, before changing anything, when no healthy mirror is left, when the mirrors disagree,
//! or when the damaged mirror might hold entries the healthy one lacks. Every file it writes goes
//! through a temp file, fsync, rename and directory fsync. It must never run while a `Journal` is
//! open on the same directories (the service must be stopped).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use crate::Position;
use crate::compare::first_divergence;
use crate::error::{Error, Result};
use crate::fsutil::{copy_file_atomic, create_dir_durable, fsync_dir, remove_file};
use crate::recover::{align_starts, clean_leftovers, reconcile, truncate_torn_tail};
use crate::scan::{DirState, MirrorScan, ScannedSegment, SegmentReader, scan_mirror};
use crate::start::write_start;

/// What `repair` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// One human-readable line per action, in order.
    pub lines: Vec<String>,
    /// The last entry of the repaired journal.
    pub head: Position,
}

impl fmt::Display for RepairReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        write!(
            f,
            "repair done: both mirrors hold entries 1..={}",
            self.head.seq
        )
    }
}

/// Rebuilds a missing (absent or empty directory) or damaged mirror from the healthy one, and
/// fixes what `Journal::open` would fix (torn tails, a lagging mirror). The service must be
/// stopped while it runs.
pub fn repair(a: &Path, b: &Path) -> Result<RepairReport> {
    if a == b {
        return Err(Error::Config(format!(
            "mirror a and mirror b are the same directory ({})",
            a.display()
        )));
    }
    let sa = scan_mirror(a)?;
    let sb = scan_mirror(b)?;
    for scan in [&sa, &sb] {
        scan.refuse_unfinished_import()?;
        if let Some(bad) = scan.listing.bad_names.first() {
            return Err(Error::RepairRefused(format!(
                "{} is not a segment file name; move it out of the mirror directory and run \
                 repair again",
                bad.display()
            )));
        }
    }
    let mut lines = Vec::new();
    let present = |s: &MirrorScan| s.listing.state == DirState::Present;
    let segments = match (present(&sa), present(&sb)) {
        (false, false) => {
            return Ok(RepairReport {
                lines: vec![format!(
                    "nothing to repair: neither {} nor {} holds a journal",
                    a.display(),
                    b.display()
                )],
                head: Position::EMPTY,
            });
        }
        (true, false) => rebuild_missing(sa, b, &mut lines)?,
        (false, true) => rebuild_missing(sb, a, &mut lines)?,
        (true, true) => repair_both_present(sa, sb, &mut lines)?,
    };
    let head = segments.last().map_or(Position::EMPTY, |s| Position {
        seq: s.end_seq,
        hash: s.end_hash,
    });
    if lines.is_empty() {
        lines.push("nothing to repair: both mirrors are healthy and identical".to_owned());
    }
    for line in &lines {
        tracing::warn!("repair: {line}");
    }
    Ok(RepairReport { lines, head })
}

fn repair_both_present(
    sa: MirrorScan,
    sb: MirrorScan,
    lines: &mut Vec<String>,
) -> Result<Vec<ScannedSegment>> {
    if let (Some(pa), Some(pb), false, false) =
        (&sa.problem, &sb.problem, sa.is_healthy(), sb.is_healthy())
    {
        return Err(Error::RepairRefused(format!(
            "both mirrors are damaged (a: {pa}; b: {pb}); no healthy copy is left to rebuild \
             from. Restore the journal from a backup"
        )));
    }
    let (sa, sb) = if sa.is_healthy() && sb.is_healthy() {
        align_starts(sa, sb, lines)?
    } else {
        (sa, sb)
    };
    if let Some(d) = first_divergence(&sa, &sb)? {
        return Err(d.into_error(&sa, &sb));
    }
    match (sa.is_healthy(), sb.is_healthy()) {
        (false, _) => rebuild_damaged(sb, sa, lines),
        (_, false) => rebuild_damaged(sa, sb, lines),
        (true, true) => reconcile(sa, sb, lines),
    }
}

/// Recreates the mirror directory `dst` as a copy of `src`.
fn rebuild_missing(
    mut src: MirrorScan,
    dst: &Path,
    lines: &mut Vec<String>,
) -> Result<Vec<ScannedSegment>> {
    if let (false, Some(p)) = (src.is_healthy(), &src.problem) {
        return Err(Error::RepairRefused(format!(
            "mirror {} is missing and the other mirror is damaged ({p}); no healthy copy is left. \
             Restore the journal from a backup",
            dst.display()
        )));
    }
    clean_leftovers(&src, lines)?;
    truncate_torn_tail(&mut src, lines)?;
    create_dir_durable(dst)?;
    let leftovers = scan_mirror(dst)?;
    clean_leftovers(&leftovers, lines)?;
    for seg in &src.segments {
        copy_file_atomic(&seg.path, seg.valid_len, dst, &seg.name)?;
    }
    write_start(dst, src.start)?;
    fsync_dir(dst)?;
    lines.push(format!(
        "rebuilt missing mirror {} from mirror {}: {} segment files, {} entries",
        dst.display(),
        src.dir.display(),
        src.segments.len(),
        src.head.seq
    ));
    Ok(src.segments)
}

/// Replaces every segment of `dst` from its first problem on with `src`'s copy.
fn rebuild_damaged(
    mut src: MirrorScan,
    dst: MirrorScan,
    lines: &mut Vec<String>,
) -> Result<Vec<ScannedSegment>> {
    clean_leftovers(&src, lines)?;
    clean_leftovers(&dst, lines)?;
    truncate_torn_tail(&mut src, lines)?;
    refuse_if_dst_holds_more(&src, &dst)?;
    let problem = dst
        .problem
        .as_ref()
        .map_or_else(String::new, ToString::to_string);
    let mut replaced = Vec::new();
    for (i, seg) in src.segments.iter().enumerate() {
        let same = dst.segments.get(i).is_some_and(|d| {
            d.name == seg.name
                && d.valid_len == d.file_len
                && d.valid_len == seg.valid_len
                && d.end_hash == seg.end_hash
        });
        if !same {
            copy_file_atomic(&seg.path, seg.valid_len, &dst.dir, &seg.name)?;
            replaced.push(seg.name.clone());
        }
    }
    let keep: HashSet<&str> = src.segments.iter().map(|s| s.name.as_str()).collect();
    let mut removed = Vec::new();
    for f in &dst.listing.segments {
        if !keep.contains(f.name.as_str()) {
            remove_file(&f.path)?;
            removed.push(f.name.clone());
        }
    }
    write_start(&dst.dir, src.start)?;
    fsync_dir(&dst.dir)?;
    lines.push(format!(
        "rebuilt damaged mirror {} from mirror {} (damage: {problem}): replaced segment files \
         [{}], removed [{}]",
        dst.dir.display(),
        src.dir.display(),
        replaced.join(", "),
        removed.join(", ")
    ));
    Ok(src.segments)
}

/// Refuses when the damaged mirror's readable entries go beyond the healthy mirror's head.
fn refuse_if_dst_holds_more(src: &MirrorScan, dst: &MirrorScan) -> Result<()> {
    let refuse = |seq: u64, file: &Path| {
        Err(Error::RepairRefused(format!(
            "the damaged mirror {} holds entry {seq} (in {}) but the healthy mirror {} ends at \
             entry {}; rebuilding would drop it. Copy both mirrors aside and restore from a backup",
            dst.dir.display(),
            file.display(),
            src.dir.display(),
            src.head.seq
        )))
    };
    if dst.head.seq > src.head.seq {
        return refuse(dst.head.seq, &dst.dir);
    }
    let scanned: HashSet<&str> = dst.segments.iter().map(|s| s.name.as_str()).collect();
    for f in &dst.listing.segments {
        if scanned.contains(f.name.as_str()) {
            continue;
        }
        // Past the damage: read what is readable on its own.
        let Ok(mut reader) = SegmentReader::open(&f.path) else {
            continue;
        };
        let mut last = None;
        while let Ok(Some(frame)) = reader.next_frame() {
            last = Some(frame.seq);
        }
        if let Some(seq) = last.filter(|s| *s > src.head.seq) {
            return refuse(seq, &f.path);
        }
    }
    Ok(())
}
