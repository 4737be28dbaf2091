//! Offline verification: both mirrors, every frame checksum, the chain, and mirror equality.
//!
//! Strictly read-only: it opens files for reading only and never truncates, copies or deletes,
//! even when it finds a torn tail that `Journal::open` would fix.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Position;
use crate::compare::first_divergence;
use crate::error::Error;
use crate::format::short_hex;
use crate::scan::{DirState, MirrorScan, scan_mirror};

/// Where and why a mirror stops being valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The segment file (or the mirror directory when the problem is the directory itself).
    pub segment: PathBuf,
    /// Byte offset of the first bad frame (0 for a bad header or a directory problem).
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte offset {}: {}",
            self.segment.display(),
            self.offset,
            self.reason
        )
    }
}

/// One segment file as verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentReport {
    /// File name, e.g. `00000000000000000001.seg`.
    pub name: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Valid entries in the file.
    pub entries: u64,
    /// Seq of its first entry.
    pub first_seq: u64,
}

/// What `verify` found in one mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorReport {
    /// The mirror directory.
    pub dir: PathBuf,
    /// Segments scanned (up to and including the first problem).
    pub segments: Vec<SegmentReport>,
    /// Valid entries (from the first kept one: see [`DirScan::start`]).
    pub entries: u64,
    /// Last valid entry.
    pub head: Position,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// Result of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Mirror a.
    pub a: MirrorReport,
    /// Mirror b.
    pub b: MirrorReport,
    /// `None` when the mirrors are identical, otherwise the first difference.
    pub difference: Option<String>,
}

impl VerifyReport {
    /// True when both mirrors hold a journal, have no problem, and are identical.
    pub fn is_ok(&self) -> bool {
        self.a.problem.is_none() && self.b.problem.is_none() && self.difference.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (label, m) in [("a", &self.a), ("b", &self.b)] {
            writeln!(
                f,
                "mirror {label}: {} ({} segments, {} entries, head {} hash {}..)",
                m.dir.display(),
                m.segments.len(),
                m.entries,
                m.head.seq,
                short_hex(&m.head.hash)
            )?;
            for s in &m.segments {
                writeln!(
                    f,
                    "  {}: {} bytes, {} entries from seq {}",
                    s.name, s.bytes, s.entries, s.first_seq
                )?;
            }
            match &m.problem {
                None => writeln!(f, "  first problem: none")?,
                Some(p) => writeln!(f, "  first problem: {p}")?,
            }
        }
        match &self.difference {
            None => writeln!(f, "mirrors: identical")?,
            Some(d) => writeln!(f, "mirrors: DIFFER: {d}")?,
        }
        write!(f, "verify: {}", if self.is_ok() { "OK" } else { "FAILED" })
    }
}

/// Verifies the journal mirrored in `a` and `b` without changing anything.
pub fn verify(a: &Path, b: &Path) -> VerifyReport {
    let scan_a = scan_mirror(a);
    let scan_b = scan_mirror(b);
    let difference = match (&scan_a, &scan_b) {
        (Ok(sa), Ok(sb)) => difference(sa, sb),
        _ => Some("not compared: a mirror could not be read".to_owned()),
    };
    VerifyReport {
        a: mirror_report(a, scan_a),
        b: mirror_report(b, scan_b),
        difference,
    }
}

fn mirror_report(dir: &Path, scan: Result<MirrorScan, Error>) -> MirrorReport {
    let mut report = MirrorReport {
        dir: dir.to_path_buf(),
        segments: Vec::new(),
        entries: 0,
        head: Position::EMPTY,
        problem: None,
    };
    let scan = match scan {
        Ok(scan) => scan,
        Err(e) => {
            report.problem = Some(Problem {
                segment: dir.to_path_buf(),
                offset: 0,
                reason: e.to_string(),
            });
            return report;
        }
    };
    report.segments = scan
        .segments
        .iter()
        .map(|s| SegmentReport {
            name: s.name.clone(),
            bytes: s.file_len,
            entries: s.end_seq + 1 - s.first_seq,
            first_seq: s.first_seq,
        })
        .collect();
    report.entries = scan.head.seq - scan.start.seq;
    report.head = scan.head;
    report.problem = match scan.listing.state {
        DirState::Missing => Some(dir_problem(dir, "the mirror directory is missing")),
        DirState::Empty => Some(dir_problem(
            dir,
            "the mirror directory holds no segment file",
        )),
        DirState::Present => scan.problem.map(|mut p| {
            if scan.torn {
                p.reason
                    .push_str(" (torn tail: opening the journal truncates it)");
            }
            p
        }),
    };
    report
}

fn dir_problem(dir: &Path, reason: &str) -> Problem {
    Problem {
        segment: dir.to_path_buf(),
        offset: 0,
        reason: reason.to_owned(),
    }
}

/// `None` when the two mirrors are identical; otherwise the first difference.
fn difference(a: &MirrorScan, b: &MirrorScan) -> Option<String> {
    match first_divergence(a, b) {
        Err(e) => return Some(format!("comparison failed: {e}")),
        Ok(Some(d)) => {
            return Some(format!(
                "at entry {} (segment {}, byte offset {}): {}",
                d.seq, d.segment, d.offset, d.detail
            ));
        }
        Ok(None) => {}
    }
    let (la, lb) = (&a.dir, &b.dir);
    if a.head.seq != b.head.seq {
        let (short, long) = if a.head.seq < b.head.seq {
            (a, b)
        } else {
            (b, a)
        };
        return Some(format!(
            "mirror {} lacks entries {}..={} that mirror {} holds",
            short.dir.display(),
            short.head.seq + 1,
            long.head.seq,
            long.dir.display()
        ));
    }
    let names = |s: &MirrorScan| -> Vec<(String, u64)> {
        s.listing
            .segments
            .iter()
            .map(|f| {
                let len = std::fs::metadata(&f.path).map_or(0, |m| m.len());
                (f.name.clone(), len)
            })
            .collect()
    };
    let (na, nb) = (names(a), names(b));
    if na != nb {
        let first = na
            .iter()
            .zip(&nb)
            .find(|(x, y)| x != y)
            .map(|(x, y)| {
                format!(
                    "{} is {} bytes in {}, {} is {} bytes in {}",
                    x.0,
                    x.1,
                    la.display(),
                    y.0,
                    y.1,
                    lb.display()
                )
            })
            .unwrap_or_else(|| {
                format!(
                    "{} holds {} segment files, {} holds {}",
                    la.display(),
                    na.len(),
                    lb.display(),
                    nb.len()
                )
            });
        return Some(format!("segment files differ: {first}"));
    }
    None
}

/// One mirror directory read alone, for offline checks of a copy (the audit log's `verify`):
/// the verified prefix, its first problem, and its entries.
pub struct DirScan {
    /// Last valid entry.
    pub head: Position,
    /// The position before the first entry: [`Position::EMPTY`] unless older segments were
    /// removed, then the start file's position, which the first segment's header matched.
    pub start: Position,
    /// Seq of the first entry present (1 unless older segments were removed).
    pub first_seq: u64,
    /// The first problem, if any (entries stop before it).
    pub problem: Option<Problem>,
    /// The valid entries, in order, each checked again as it is read.
    pub entries: crate::Entries,
}

/// Scans `dir` read-only and returns its valid entries and first problem. Only OS errors are
/// returned as `Err`.
pub fn scan_dir(dir: &Path) -> Result<DirScan, Error> {
    let scan = scan_mirror(dir)?;
    let first_seq = scan.start.seq + 1;
    let dirs = [dir.to_path_buf(), dir.to_path_buf()];
    Ok(DirScan {
        head: scan.head,
        start: scan.start,
        first_seq,
        problem: scan.problem,
        entries: crate::Entries::new(dirs, first_seq, scan.head.seq),
    })
}
