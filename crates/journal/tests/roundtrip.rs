//! Append/read round trips across segment rollovers, reopen, limits and shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Mirrors, append_range, assert_entries, payload, read_all, segments};
use journal::{Error, Health, MAX_PAYLOAD, Position, verify};

#[test]
fn round_trip_across_rollovers_and_reopen() {
    let m = Mirrors::new();
    let (j, report) = m.open(2048);
    assert!(
        report.to_string().contains("fresh journal created"),
        "{report}"
    );
    assert_eq!(report.head, Position::EMPTY);
    let acked = append_range(&j, 1, 120);
    assert_eq!(acked.last().unwrap().seq, 120);
    assert_eq!(j.head(), *acked.last().unwrap());
    assert_eq!(j.health(), Health::Healthy);
    let segs = segments(&m.a);
    assert!(segs.len() >= 5, "expected several segments, got {segs:?}");
    assert_eq!(
        segs.iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>(),
        segments(&m.b)
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(segs[0].file_name().unwrap(), "00000000000000000001.seg");
    let entries = read_all(&j, 1);
    assert_entries(&entries, 120);
    for (e, p) in entries.iter().zip(&acked) {
        assert_eq!((e.seq, e.hash), (p.seq, p.hash));
    }
    // Reading from the middle of a segment, and from past the head.
    let tail = read_all(&j, 77);
    assert_eq!(tail.first().unwrap().seq, 77);
    assert_eq!(tail.len(), 44);
    assert!(read_all(&j, 121).is_empty());
    let head = j.head();
    j.shutdown();
    drop(j);

    let report = verify(&m.a, &m.b);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.a.entries, 120);

    let (j, report) = m.open(2048);
    assert_eq!(report.head, head, "{report}");
    assert_eq!(j.head(), head);
    let more = append_range(&j, 121, 150);
    assert_eq!(more[0].seq, 121);
    assert_entries(&read_all(&j, 1), 150);
}

#[test]
fn oversized_payload_is_refused_and_nothing_is_written() {
    let m = Mirrors::new();
    let (j, _) = m.open(1 << 20);
    let err = j.append_blocking(vec![0; MAX_PAYLOAD + 1]).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size } if size == MAX_PAYLOAD + 1),
        "{err}"
    );
    assert_eq!(j.head(), Position::EMPTY);
    assert_eq!(j.health(), Health::Healthy);
    append_range(&j, 1, 1);
    assert_entries(&read_all(&j, 1), 1);
}

#[test]
fn shutdown_drains_then_refuses() {
    let m = Mirrors::new();
    let (j, _) = m.open(1 << 20);
    append_range(&j, 1, 10);
    j.shutdown();
    let err = j.append_blocking(payload(11)).unwrap_err();
    assert!(matches!(err, Error::Closed), "{err}");
    assert_entries(&read_all(&j, 1), 10);
    j.shutdown();
}

#[test]
fn same_directory_twice_is_refused() {
    let m = Mirrors::new();
    let mut c = m.config(1 << 20);
    c.b = c.a.clone();
    let err = journal::Journal::open(c, common::noop_hook())
        .err()
        .unwrap();
    assert!(matches!(err, Error::Config(_)), "{err}");
}
