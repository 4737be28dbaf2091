//! Recovery on open, `verify` and `repair` against torn, damaged, disagreeing and missing mirrors.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Mirrors, append_range, assert_entries, cut_tail, flip_byte, frame_offsets, read_all, segments,
};
use journal::{Error, Journal, repair, verify};

/// A shut-down journal with `n` entries in segments of `segment_bytes`.
fn journal_with(n: u64, segment_bytes: u64) -> Mirrors {
    let m = Mirrors::new();
    let (j, _) = m.open(segment_bytes);
    append_range(&j, 1, n);
    j.shutdown();
    m
}

#[test]
fn torn_tail_in_a_is_truncated_and_refilled_from_b() {
    let m = journal_with(40, 1 << 20);
    let last = segments(&m.a).pop().unwrap();
    cut_tail(&last, 5);
    let v = verify(&m.a, &m.b);
    assert!(!v.is_ok(), "{v}");
    assert!(
        v.a.problem.as_ref().unwrap().reason.contains("torn tail"),
        "{v}"
    );

    let (j, report) = m.open(1 << 20);
    let text = report.to_string();
    assert!(
        text.contains("torn tail truncated in mirror") && text.contains("mirror-a"),
        "{text}"
    );
    assert!(
        text.contains("1 entries (seq 40..=40) copied from mirror"),
        "{text}"
    );
    assert_eq!(report.head.seq, 40);
    assert_entries(&read_all(&j, 1), 40);
    j.shutdown();
    let v = verify(&m.a, &m.b);
    assert!(v.is_ok(), "{v}");
}

#[test]
fn flipped_byte_in_last_frame_of_b_is_refilled_from_a() {
    let m = journal_with(40, 1 << 20);
    let last = segments(&m.b).pop().unwrap();
    let offset = *frame_offsets(&last).last().unwrap();
    flip_byte(&last, offset + 20);
    let (j, report) = m.open(1 << 20);
    let text = report.to_string();
    assert!(
        text.contains("torn tail truncated in mirror") && text.contains("mirror-b"),
        "{text}"
    );
    assert!(text.contains(&format!("offset {offset}")), "{text}");
    assert_entries(&read_all(&j, 1), 40);
    j.shutdown();
    assert!(verify(&m.a, &m.b).is_ok());
}

#[test]
fn identical_torn_tails_are_truncated_in_both() {
    let m = journal_with(30, 1 << 20);
    for dir in [&m.a, &m.b] {
        cut_tail(&segments(dir).pop().unwrap(), 3);
    }
    let (j, report) = m.open(1 << 20);
    assert_eq!(report.head.seq, 29, "{report}");
    assert_eq!(
        report.to_string().matches("torn tail truncated").count(),
        2,
        "{report}"
    );
    assert_entries(&read_all(&j, 1), 29);
    append_range(&j, 30, 31);
    j.shutdown();
    assert!(verify(&m.a, &m.b).is_ok());
}

#[test]
fn damage_in_a_sealed_segment_is_located_refused_and_repaired() {
    let m = journal_with(100, 2048);
    let segs = segments(&m.a);
    assert!(segs.len() >= 3, "{segs:?}");
    let sealed = &segs[1];
    let offsets = frame_offsets(sealed);
    let victim = offsets[offsets.len() / 2];
    flip_byte(sealed, victim + 18);

    let v = verify(&m.a, &m.b);
    assert!(!v.is_ok());
    let p = v.a.problem.clone().unwrap();
    assert_eq!(&p.segment, sealed, "{v}");
    assert_eq!(p.offset, victim, "{v}");
    assert!(v.b.problem.is_none(), "{v}");
    let text = v.to_string();
    assert!(
        text.contains(sealed.file_name().unwrap().to_str().unwrap()),
        "{text}"
    );
    assert!(text.contains(&format!("byte offset {victim}")), "{text}");

    let err = Journal::open(m.config(2048), common::noop_hook())
        .err()
        .unwrap();
    match &err {
        Error::Damaged {
            segment, offset, ..
        } => {
            assert_eq!((segment, *offset), (sealed, victim));
            assert!(err.to_string().contains("strongroom repair"), "{err}");
        }
        other => panic!("expected Damaged, got {other}"),
    }

    let r = repair(&m.a, &m.b).unwrap();
    assert!(r.to_string().contains("rebuilt damaged mirror"), "{r}");
    assert_eq!(r.head.seq, 100);
    let v = verify(&m.a, &m.b);
    assert!(v.is_ok(), "{v}");
    let (j, _) = m.open(2048);
    assert_entries(&read_all(&j, 1), 100);
}

#[test]
fn reads_fall_back_to_b_when_a_is_damaged() {
    let m = Mirrors::new();
    let (j, _) = m.open(2048);
    append_range(&j, 1, 60);
    let sealed = &segments(&m.a)[0];
    let offsets = frame_offsets(sealed);
    flip_byte(sealed, offsets[2] + 17);
    assert_entries(&read_all(&j, 1), 60);
}

#[test]
fn disagreeing_mirrors_are_refused() {
    let m = journal_with(10, 1 << 20);
    // Another journal whose entry 6 differs: its segment replaces mirror a's.
    let other = Mirrors::new();
    let (j, _) = other.open(1 << 20);
    append_range(&j, 1, 5);
    j.append_blocking(b"forged entry".to_vec()).unwrap();
    append_range(&j, 7, 10);
    j.shutdown();
    let seg = segments(&m.a).pop().unwrap();
    std::fs::copy(segments(&other.a).pop().unwrap(), &seg).unwrap();
    let sixth = frame_offsets(&seg)[5];

    let err = Journal::open(m.config(1 << 20), common::noop_hook())
        .err()
        .unwrap();
    match &err {
        Error::Disagree {
            seq,
            a,
            b,
            segment,
            offset,
            ..
        } => {
            assert_eq!(*seq, 6, "{err}");
            assert_eq!((a, b), (&m.a, &m.b));
            assert_eq!(segment.as_os_str(), seg.file_name().unwrap());
            assert_eq!(*offset, sixth);
        }
        other => panic!("expected Disagree, got {other}"),
    }
    let v = verify(&m.a, &m.b);
    assert!(!v.is_ok());
    assert!(v.difference.as_ref().unwrap().contains("at entry 6"), "{v}");
    assert!(matches!(
        repair(&m.a, &m.b),
        Err(Error::Disagree { seq: 6, .. })
    ));
}

#[test]
fn missing_mirror_is_refused_then_rebuilt_by_repair() {
    let m = journal_with(50, 4096);
    std::fs::remove_dir_all(&m.b).unwrap();
    let err = Journal::open(m.config(4096), common::noop_hook())
        .err()
        .unwrap();
    assert!(
        matches!(&err, Error::MirrorMissing { mirror } if *mirror == m.b),
        "{err}"
    );
    assert!(err.to_string().contains("strongroom repair"), "{err}");
    assert!(!verify(&m.a, &m.b).is_ok());

    let r = repair(&m.a, &m.b).unwrap();
    assert!(r.to_string().contains("rebuilt missing mirror"), "{r}");
    let v = verify(&m.a, &m.b);
    assert!(v.is_ok(), "{v}");
    let (j, _) = m.open(4096);
    assert_entries(&read_all(&j, 1), 50);
}

#[test]
fn empty_mirror_directory_counts_as_missing() {
    let m = journal_with(5, 4096);
    std::fs::remove_dir_all(&m.a).unwrap();
    std::fs::create_dir(&m.a).unwrap();
    let err = Journal::open(m.config(4096), common::noop_hook())
        .err()
        .unwrap();
    assert!(
        matches!(&err, Error::MirrorMissing { mirror } if *mirror == m.a),
        "{err}"
    );
}

#[test]
fn a_lagging_mirror_gets_missing_segments_copied() {
    let m = journal_with(60, 2048);
    // Mirror b loses its last segment file (as if it lagged behind a roll).
    let mut segs = segments(&m.b);
    assert!(segs.len() >= 3, "{segs:?}");
    std::fs::remove_file(segs.pop().unwrap()).unwrap();
    let (j, report) = m.open(2048);
    assert!(
        report.to_string().contains("copied from mirror"),
        "{report}"
    );
    assert_entries(&read_all(&j, 1), 60);
    j.shutdown();
    assert!(verify(&m.a, &m.b).is_ok());
}

#[test]
fn repair_refuses_when_both_mirrors_are_damaged() {
    let m = journal_with(100, 2048);
    for dir in [&m.a, &m.b] {
        let sealed = &segments(dir)[0];
        flip_byte(sealed, frame_offsets(sealed)[1] + 20);
    }
    let err = repair(&m.a, &m.b).unwrap_err();
    assert!(matches!(err, Error::RepairRefused(_)), "{err}");
    assert!(
        err.to_string().contains("both mirrors are damaged"),
        "{err}"
    );
}

#[test]
fn a_missing_mirror_of_an_empty_journal_is_recreated() {
    // A crash during the very first open can leave one mirror without its directory.
    let m = journal_with(0, 4096);
    std::fs::remove_dir_all(&m.b).unwrap();
    let (j, report) = m.open(4096);
    assert!(report.to_string().contains("was missing"), "{report}");
    append_range(&j, 1, 3);
    j.shutdown();
    assert!(verify(&m.a, &m.b).is_ok());
}
