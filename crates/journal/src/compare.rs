//! Comparing the valid prefixes of two mirrors: where (if anywhere) they first disagree.
//!
//! Read-only. Two mirrors agree when one's valid prefix is a prefix of the other's, with the same
//! segment layout. This module must never decide which mirror is right when they disagree.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::format::short_hex;
use crate::scan::{MirrorScan, ReadError, ScannedSegment, SegmentReader};

/// The first point where two mirrors differ.
#[derive(Debug)]
pub(crate) struct Divergence {
    pub seq: u64,
    pub segment: String,
    pub offset: u64,
    pub detail: String,
}

impl Divergence {
    pub(crate) fn into_error(self, a: &MirrorScan, b: &MirrorScan) -> Error {
        Error::Disagree {
            seq: self.seq,
            a: a.dir.clone(),
            b: b.dir.clone(),
            segment: PathBuf::from(self.segment),
            offset: self.offset,
            detail: self.detail,
        }
    }
}

/// Finds the first entry (or segment boundary) on which the valid prefixes of `a` and `b` differ.
pub(crate) fn first_divergence(a: &MirrorScan, b: &MirrorScan) -> Result<Option<Divergence>> {
    for (i, (sa, sb)) in a.segments.iter().zip(&b.segments).enumerate() {
        if sa.first_seq != sb.first_seq {
            return Ok(Some(Divergence {
                seq: sa.first_seq.min(sb.first_seq),
                segment: sa.name.clone().min(sb.name.clone()),
                offset: 0,
                detail: format!(
                    "segment layouts differ: mirror a has segment {}, mirror b has segment {}",
                    sa.name, sb.name
                ),
            }));
        }
        if sa.end_seq == sb.end_seq && sa.end_hash == sb.end_hash && sa.valid_len == sb.valid_len {
            continue;
        }
        if let Some(d) = walk_lockstep(sa, sb)? {
            return Ok(Some(d));
        }
        // One segment's valid prefix is a prefix of the other's: that is only fine when the
        // shorter one is the last scanned segment of its mirror.
        let (short, short_scan, long_name) = if sa.end_seq <= sb.end_seq {
            (sa, a, "b")
        } else {
            (sb, b, "a")
        };
        if i + 1 < short_scan.segments.len() {
            return Ok(Some(Divergence {
                seq: short.end_seq + 1,
                segment: short.name.clone(),
                offset: short.valid_len,
                detail: format!(
                    "segment layouts differ: mirror {long_name} continues segment {} with entry \
                     {} while the other mirror starts a new segment there",
                    short.name,
                    short.end_seq + 1
                ),
            }));
        }
    }
    Ok(None)
}

/// Reads two copies of the same segment side by side up to the shorter valid end.
fn walk_lockstep(sa: &ScannedSegment, sb: &ScannedSegment) -> Result<Option<Divergence>> {
    let common_end = sa.end_seq.min(sb.end_seq);
    let mut ra = SegmentReader::open(&sa.path).map_err(ReadError::into_error)?;
    let mut rb = SegmentReader::open(&sb.path).map_err(ReadError::into_error)?;
    if ra.header() != rb.header() {
        return Ok(Some(Divergence {
            seq: sa.first_seq,
            segment: sa.name.clone(),
            offset: 0,
            detail: "the segment headers differ".to_owned(),
        }));
    }
    let mut seq = sa.first_seq;
    while seq <= common_end {
        let fa = ra.next_frame().map_err(ReadError::into_error)?;
        let fb = rb.next_frame().map_err(ReadError::into_error)?;
        let (Some(fa), Some(fb)) = (fa, fb) else {
            // The scans validated these ranges; ending early means the files changed under us.
            return Err(Error::Damaged {
                segment: sa.path.clone(),
                offset: ra.offset(),
                reason: format!("entry {seq} vanished while comparing the mirrors"),
            });
        };
        if fa.hash != fb.hash {
            return Ok(Some(Divergence {
                seq,
                segment: sa.name.clone(),
                offset: fa.offset,
                detail: format!(
                    "mirror a holds chain hash {}.., mirror b holds {}..",
                    short_hex(&fa.hash),
                    short_hex(&fb.hash)
                ),
            }));
        }
        seq += 1;
    }
    Ok(None)
}

/// Which of two agreeing mirrors holds more: `true` when `a` covers `b`.
pub(crate) fn a_covers_b(a: &MirrorScan, b: &MirrorScan) -> bool {
    (a.head.seq, a.segments.len()) >= (b.head.seq, b.segments.len())
}
