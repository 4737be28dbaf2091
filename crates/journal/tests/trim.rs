//! Removing leading segments (the audit log's retention): the chain that is left reopens, reads
//! and verifies; every check a chain from seq 1 gets still holds (a segment deleted by hand, a
//! lost or damaged start file are refused); a removal interrupted between its steps is finished
//! at open; `repair` rebuilds a mirror with its start.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{Mirrors, append_range, read_all, segments};
use journal::{Error, Journal, Position, repair, verify};

const SEGMENT: u64 = 2048;

fn journal_with(n: u64) -> (Mirrors, Journal) {
    let m = Mirrors::new();
    let (j, _) = m.open(SEGMENT);
    append_range(&j, 1, n);
    (m, j)
}

fn start_file(dir: &Path) -> PathBuf {
    dir.join("start")
}

/// Asserts that `entries` are exactly entries `first..=last` of a journal written by
/// `append_range` (same payloads, same chain).
fn assert_same(entries: &[journal::Entry], all: &[journal::Entry], first: u64) {
    let want = &all[(first - 1) as usize..];
    assert_eq!(entries.len(), want.len(), "entries from seq {first}");
    assert_eq!(entries, want, "entries from seq {first} differ");
}

#[test]
fn the_kept_chain_reads_appends_reopens_and_verifies() {
    let (m, j) = journal_with(100);
    let all = read_all(&j, 1);
    let segs = j.segments().unwrap();
    assert!(segs.len() > 5, "{segs:?}");
    let cut = segs[3];
    let removed = j.remove_segments_before(cut).unwrap();
    let start = Position {
        seq: cut - 1,
        hash: all[(cut - 2) as usize].hash,
    };
    assert_eq!(removed.segments, 3);
    assert_eq!(removed.start, start);
    assert_eq!(j.start(), start);
    assert_eq!(j.segments().unwrap(), segs[3..].to_vec());
    for dir in [&m.a, &m.b] {
        assert_eq!(segments(dir).len(), segs.len() - 3, "{}", dir.display());
        assert!(start_file(dir).exists());
    }
    assert_same(&read_all(&j, 1), &all, cut);
    append_range(&j, 101, 110);
    j.shutdown();
    let v = verify(&m.a, &m.b);
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.a.entries, 110 - (cut - 1), "{v}");

    let (j, report) = m.open(SEGMENT);
    assert_eq!(report.head.seq, 110, "{report}");
    assert_eq!(j.start(), start);
    let kept = read_all(&j, cut);
    assert_eq!(kept.len() as u64, 110 - (cut - 1));
    assert_eq!(kept[0].seq, cut);
    assert_eq!(kept[0].payload, all[(cut - 1) as usize].payload);
    let scan = journal::scan_dir(&m.a).unwrap();
    assert_eq!((scan.start, scan.first_seq), (start, cut));
    assert!(scan.problem.is_none());
    j.shutdown();
}

#[test]
fn only_segment_starts_after_the_start_are_cut_points_and_the_last_segment_stays() {
    let (m, j) = journal_with(60);
    let segs = j.segments().unwrap();
    let before = (segments(&m.a), segments(&m.b));
    for bad in [segs[1] + 1, 61, 1_000] {
        let err = j.remove_segments_before(bad).unwrap_err();
        assert!(matches!(err, Error::Damaged { .. }), "cut at {bad}: {err}");
    }
    assert_eq!((segments(&m.a), segments(&m.b)), before, "nothing removed");
    // Everything sealed may go; the segment being appended to stays.
    let last = *segs.last().unwrap();
    let removed = j.remove_segments_before(last).unwrap();
    assert_eq!(removed.segments, segs.len() - 1);
    assert_eq!(segments(&m.a).len(), 1);
    let again = j.remove_segments_before(last).unwrap();
    assert_eq!(again.segments, 0, "cutting at the start removes nothing");
    let err = j.remove_segments_before(segs[0]).unwrap_err();
    assert!(err.to_string().contains("already starts at"), "{err}");
    append_range(&j, 61, 65);
    j.shutdown();
    assert!(verify(&m.a, &m.b).is_ok());
}

fn refused(m: &Mirrors, what: &str) -> String {
    match Journal::open(m.config(SEGMENT), common::noop_hook()) {
        Ok(_) => panic!("{what}: open accepted it"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn segments_deleted_by_hand_or_a_lost_start_file_are_refused() {
    // Without a start file: the chain must begin at seq 1, as always.
    let (m, j) = journal_with(60);
    j.shutdown();
    for dir in [&m.a, &m.b] {
        std::fs::remove_file(&segments(dir)[0]).unwrap();
    }
    let err = refused(&m, "first segment deleted");
    assert!(err.contains("a segment file is missing"), "{err}");
    assert!(!verify(&m.a, &m.b).is_ok());

    // With one: the first kept segment must be exactly where it says.
    let (m, j) = journal_with(60);
    let segs = j.segments().unwrap();
    j.remove_segments_before(segs[2]).unwrap();
    j.shutdown();
    let kept = m.a.join(format!("{:020}.seg", segs[2]));
    let saved = std::fs::read(&kept).unwrap();
    for dir in [&m.a, &m.b] {
        std::fs::remove_file(dir.join(format!("{:020}.seg", segs[2]))).unwrap();
    }
    let err = refused(&m, "first kept segment deleted");
    assert!(err.contains("a segment file is missing"), "{err}");
    for dir in [&m.a, &m.b] {
        std::fs::write(dir.join(format!("{:020}.seg", segs[2])), &saved).unwrap();
    }
    let start = std::fs::read(start_file(&m.a)).unwrap();
    for dir in [&m.a, &m.b] {
        std::fs::remove_file(start_file(dir)).unwrap();
    }
    let err = refused(&m, "start files deleted");
    assert!(err.contains("entries before it end at seq 0"), "{err}");
    let mut bad = start.clone();
    bad[20] ^= 1;
    for dir in [&m.a, &m.b] {
        std::fs::write(start_file(dir), &bad).unwrap();
    }
    let err = refused(&m, "start file damaged");
    assert!(err.contains("start") && err.contains("checksum"), "{err}");
    for dir in [&m.a, &m.b] {
        std::fs::write(start_file(dir), &start).unwrap();
    }
    let (j, _) = m.open(SEGMENT);
    j.shutdown();
    assert!(verify(&m.a, &m.b).is_ok());
}

#[test]
fn a_removal_interrupted_between_its_steps_is_finished_at_open() {
    let (m, j) = journal_with(80);
    let all = read_all(&j, 1);
    let cut = j.segments().unwrap()[3];
    let old: Vec<(PathBuf, Vec<u8>)> = segments(&m.a)[..3]
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    j.remove_segments_before(cut).unwrap();
    j.shutdown();
    let start = std::fs::read(start_file(&m.a)).unwrap();
    let restore = |dir: &Path| {
        for (path, bytes) in &old {
            std::fs::write(dir.join(path.file_name().unwrap()), bytes).unwrap();
        }
    };
    // Crash after the start file of mirror a, before mirror b's: nothing removed yet.
    restore(&m.a);
    restore(&m.b);
    std::fs::remove_file(start_file(&m.b)).unwrap();
    let (j, report) = m.open(SEGMENT);
    let text = report.to_string();
    assert!(text.contains("finished the interrupted removal"), "{text}");
    assert_eq!(text.matches("removed segment").count(), 6, "{text}");
    assert_eq!(j.start().seq, cut - 1);
    assert_same(&read_all(&j, 1), &all, cut);
    j.shutdown();
    assert_eq!(std::fs::read(start_file(&m.b)).unwrap(), start);
    let v = verify(&m.a, &m.b);
    assert!(v.is_ok(), "{v}");

    // Crash after both start files and mirror a's removals, before mirror b's.
    restore(&m.b);
    let (j, report) = m.open(SEGMENT);
    assert_eq!(
        report.to_string().matches("removed segment").count(),
        3,
        "{report}"
    );
    assert_same(&read_all(&j, 1), &all, cut);
    j.shutdown();
    assert_eq!(
        segments(&m.a),
        segments(&m.b)
            .iter()
            .map(|p| m.a.join(p.file_name().unwrap()))
            .collect::<Vec<_>>()
    );
    assert!(verify(&m.a, &m.b).is_ok());
}

#[test]
fn repair_rebuilds_a_missing_mirror_with_its_start() {
    let (m, j) = journal_with(60);
    let cut = j.segments().unwrap()[2];
    j.remove_segments_before(cut).unwrap();
    j.shutdown();
    std::fs::remove_dir_all(&m.b).unwrap();
    let report = repair(&m.a, &m.b).unwrap();
    assert_eq!(report.head.seq, 60, "{report}");
    assert_eq!(
        std::fs::read(start_file(&m.b)).unwrap(),
        std::fs::read(start_file(&m.a)).unwrap()
    );
    let v = verify(&m.a, &m.b);
    assert!(v.is_ok(), "{v}");
    let (j, _) = m.open(SEGMENT);
    assert_eq!(j.start().seq, cut - 1);
    j.shutdown();
}
