//! The importer (a restore rebuilding a journal): what it writes is byte for byte what the writer
//! wrote, from seq 1 or from a later start; it refuses what it must; an import that did not
//! finish is refused by open, verify and repair; the journal it wrote goes on after it.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{Mirrors, Tmpfs, chain, read_all, segments};
use journal::{Entry, Error, Importer, Journal, MAX_PAYLOAD, Position, repair, verify};

const SEGMENT: u64 = 4096;

/// Deterministic pseudo-random numbers (splitmix64), so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A payload of random size: mostly up to 700 bytes, sometimes empty, sometimes larger than
    /// a whole segment (which the writer puts alone in a segment).
    fn payload(&mut self) -> Vec<u8> {
        let len = match self.next() % 50 {
            0 => 0,
            1 => SEGMENT as usize + (self.next() % 2000) as usize,
            _ => (self.next() % 700) as usize,
        };
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// A journal written by a real `Journal`, one append at a time, and its entries read back.
fn written(n: usize, seed: u64) -> (Mirrors, Vec<Entry>) {
    let m = Mirrors::new();
    let (j, _) = m.open(SEGMENT);
    let mut rng = Rng(seed);
    for i in 1..=n {
        let pos = j.append_blocking(rng.payload()).unwrap();
        assert_eq!(pos.seq, i as u64);
    }
    let entries = read_all(&j, 1);
    assert_eq!(entries.len(), n);
    j.shutdown();
    (m, entries)
}

/// Imports `entries` after `start` into two new directories.
fn import(entries: &[Entry], start: Position) -> (Mirrors, Position) {
    let m = Mirrors::new();
    let head = import_after(&m, entries, start);
    (m, head)
}

/// Imports `entries` after `start` into the directories of `m`; returns the head.
fn import_after(m: &Mirrors, entries: &[Entry], start: Position) -> Position {
    let mut importer = Importer::create(&m.a, &m.b, start, SEGMENT).unwrap();
    assert_eq!(importer.head(), start);
    for e in entries {
        let pos = importer.push(e.seq, &e.payload).unwrap();
        assert_eq!(pos, position(e), "position after entry {}", e.seq);
    }
    let head = importer.head();
    assert_eq!(importer.finish().unwrap(), head);
    head
}

fn position(e: &Entry) -> Position {
    Position {
        seq: e.seq,
        hash: e.hash,
    }
}

/// Every file of a directory: name and bytes, sorted by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Asserts that the imported mirrors hold exactly the files of `original` (both mirrors).
fn assert_same_files(original: &Path, imported: &Mirrors) {
    let want = files(original);
    for dir in [&imported.a, &imported.b] {
        let got = files(dir);
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&got), names(&want), "files of {}", dir.display());
        for ((name, g), (_, w)) in got.iter().zip(&want) {
            assert!(
                g == w,
                "{name} differs in {} from the original",
                dir.display()
            );
        }
    }
}

/// Appends one entry after opening and checks that it continues the chain, then verifies.
fn assert_appends_continue(m: &Mirrors, j: Journal) {
    let head = j.head();
    let payload = b"written after the import".to_vec();
    let pos = j.append_blocking(payload.clone()).unwrap();
    assert_eq!(pos.seq, head.seq + 1);
    assert_eq!(pos.hash, chain(&head.hash, pos.seq, &payload));
    j.shutdown();
    let v = verify(&m.a, &m.b);
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.a.head, pos, "{v}");
}

#[test]
fn an_imported_journal_is_byte_identical_to_the_written_one() {
    let (original, entries) = written(400, 1);
    assert!(segments(&original.a).len() > 10, "want several segments");
    let (m, head) = import(&entries, Position::EMPTY);
    assert_eq!(head, position(entries.last().unwrap()));
    assert_same_files(&original.a, &m);
    assert_same_files(&original.b, &m);
    let v = verify(&m.a, &m.b);
    assert!(v.is_ok(), "{v}");

    let (j, report) = m.open(SEGMENT);
    assert_eq!(report.head, head, "{report}");
    assert_eq!(j.start(), Position::EMPTY);
    assert_eq!(read_all(&j, 1), entries);
    assert_appends_continue(&m, j);
}

#[test]
fn an_import_from_a_later_start_opens_reads_and_verifies() {
    let (original, entries) = written(300, 2);
    let head = position(entries.last().unwrap());
    for k in [1, 137, 299, 300] {
        let start = position(&entries[k - 1]);
        let (m, imported) = import(&entries[k..], start);
        assert_eq!(imported, head, "start {k}");
        let v = verify(&m.a, &m.b);
        assert!(v.is_ok(), "start {k}: {v}");
        assert_eq!(v.a.entries, (300 - k) as u64, "{v}");
        let scan = journal::scan_dir(&m.b).unwrap();
        assert_eq!((scan.start, scan.first_seq), (start, k as u64 + 1));
        assert!(scan.problem.is_none(), "start {k}: {:?}", scan.problem);

        let (j, report) = m.open(SEGMENT);
        assert_eq!(report.head, head, "start {k}: {report}");
        assert_eq!(j.start(), start);
        assert_eq!(read_all(&j, k as u64 + 1), entries[k..]);
        assert_eq!(read_all(&j, 1), entries[k..], "reads begin at the start");
        assert_appends_continue(&m, j);
    }

    // Cut where a segment starts: exactly the files `remove_segments_before` leaves, start file
    // included.
    let (j, _) = original.open(SEGMENT);
    let cut = j.segments().unwrap()[4];
    let removed = j.remove_segments_before(cut).unwrap();
    j.shutdown();
    let k = (cut - 1) as usize;
    assert_eq!(removed.start, position(&entries[k - 1]));
    let (m, _) = import(&entries[k..], removed.start);
    assert!(files(&m.a).iter().any(|f| f.0 == "start"));
    assert_same_files(&original.a, &m);
    assert_same_files(&original.b, &m);
}

#[test]
fn an_empty_import_is_an_empty_journal_at_its_start() {
    let start = Position {
        seq: 41,
        hash: [9; 32],
    };
    for start in [Position::EMPTY, start] {
        let (m, head) = import(&[], start);
        assert_eq!(head, start);
        assert!(verify(&m.a, &m.b).is_ok());
        let (j, report) = m.open(SEGMENT);
        assert_eq!((report.head, j.start()), (start, start), "{report}");
        assert_appends_continue(&m, j);
    }
}

#[test]
fn directories_that_hold_anything_or_a_bad_start_are_refused_before_anything_is_written() {
    for stray in ["a", "b"] {
        let m = Mirrors::new();
        let dir = if stray == "a" { &m.a } else { &m.b };
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("stray.txt"), b"x").unwrap();
        let err = Importer::create(&m.a, &m.b, Position::EMPTY, SEGMENT)
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(matches!(err, Error::ImportRefused(_)), "{text}");
        assert!(text.contains(&dir.display().to_string()), "{text}");
        assert!(text.contains("stray.txt"), "{text}");
        let other = if stray == "a" { &m.b } else { &m.a };
        assert!(!other.exists(), "nothing created: {}", other.display());
    }
    let m = Mirrors::new();
    let err = Importer::create(&m.a, &m.a, Position::EMPTY, SEGMENT)
        .err()
        .unwrap();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let err = Importer::create(&m.a, &m.b, Position::EMPTY, 10)
        .err()
        .unwrap();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let bad_start = Position {
        seq: 0,
        hash: [1; 32],
    };
    let err = Importer::create(&m.a, &m.b, bad_start, SEGMENT)
        .err()
        .unwrap();
    assert!(matches!(err, Error::ImportRefused(_)), "{err}");
    assert!(!m.a.exists() && !m.b.exists());
}

#[test]
fn entries_out_of_order_or_too_large_are_refused_and_the_import_goes_on() {
    let m = Mirrors::new();
    let start = Position {
        seq: 10,
        hash: [3; 32],
    };
    let mut importer = Importer::create(&m.a, &m.b, start, SEGMENT).unwrap();
    let first = importer.push(11, b"eleven").unwrap();
    for seq in [0, 10, 11, 13, u64::MAX] {
        let err = importer.push(seq, b"x").unwrap_err();
        assert!(matches!(err, Error::ImportRefused(_)), "seq {seq}: {err}");
        assert!(err.to_string().contains("cannot follow entry 11"), "{err}");
        assert_eq!(importer.head(), first, "seq {seq} changed the head");
    }
    let err = importer.push(12, &vec![0; MAX_PAYLOAD + 1]).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size } if size == MAX_PAYLOAD + 1),
        "{err}"
    );
    assert_eq!(importer.head(), first);
    let largest = vec![7u8; MAX_PAYLOAD];
    importer.push(12, &largest).unwrap();
    let last = importer.push(13, b"thirteen").unwrap();
    assert_eq!(importer.finish().unwrap(), last);

    let (j, report) = m.open(SEGMENT);
    assert_eq!(report.head, last, "{report}");
    let got: Vec<(u64, Vec<u8>)> = read_all(&j, 1)
        .into_iter()
        .map(|e| (e.seq, e.payload))
        .collect();
    let want = vec![
        (11, b"eleven".to_vec()),
        (12, largest),
        (13, b"thirteen".to_vec()),
    ];
    assert!(got == want, "entries read back differ from those pushed");
    assert_appends_continue(&m, j);
}

/// Asserts that `m` is refused everywhere as an unfinished import, and that nothing was changed.
fn assert_refused_as_unfinished(m: &Mirrors) {
    let before = (files(&m.a), files(&m.b));
    let marker = m.a.join("import-unfinished");
    match Journal::open(m.config(SEGMENT), common::noop_hook()) {
        Err(Error::ImportUnfinished { marker: got }) => assert_eq!(got, marker),
        Err(other) => panic!("open: expected ImportUnfinished, got {other}"),
        Ok(_) => panic!("open accepted an unfinished import"),
    }
    match repair(&m.a, &m.b) {
        Err(Error::ImportUnfinished { marker: got }) => assert_eq!(got, marker),
        other => panic!("repair: expected ImportUnfinished, got {other:?}"),
    }
    let v = verify(&m.a, &m.b);
    assert!(!v.is_ok(), "{v}");
    assert!(v.to_string().contains("did not finish"), "{v}");
    let scan = journal::scan_dir(&m.b).unwrap();
    assert!(
        scan.problem
            .is_some_and(|p| p.reason.contains("did not finish"))
    );
    assert_eq!(
        (files(&m.a), files(&m.b)),
        before,
        "a refusal changed files"
    );
}

#[test]
fn an_import_that_did_not_finish_is_refused_until_the_directories_are_emptied() {
    let (_, entries) = written(200, 3);
    let m = Mirrors::new();
    let mut importer = Importer::create(&m.a, &m.b, Position::EMPTY, SEGMENT).unwrap();
    for e in &entries {
        importer.push(e.seq, &e.payload).unwrap();
    }
    drop(importer);
    // Sealed segments are on disk, the last one is still empty (its bytes were buffered).
    let segs = segments(&m.a);
    assert!(segs.len() > 10);
    assert_eq!(std::fs::metadata(segs.last().unwrap()).unwrap().len(), 0);
    assert_refused_as_unfinished(&m);

    // What a crash could leave instead: the last segment on disk cut inside a frame. Without
    // the marker, open would truncate it as a torn tail and open a shorter journal.
    for dir in [&m.a, &m.b] {
        let segs = segments(dir);
        std::fs::remove_file(&segs[segs.len() - 1]).unwrap();
        common::cut_tail(&segs[segs.len() - 2], 7);
    }
    assert_refused_as_unfinished(&m);

    for dir in [&m.a, &m.b] {
        std::fs::remove_dir_all(dir).unwrap();
    }
    let head = import_after(&m, &entries, Position::EMPTY);
    assert_eq!(head, position(entries.last().unwrap()));
    let (j, _) = m.open(SEGMENT);
    assert_eq!(read_all(&j, 1), entries);
    j.shutdown();

    // Nothing pushed at all: still no journal (open would otherwise create a fresh one).
    let m = Mirrors::new();
    drop(Importer::create(&m.a, &m.b, Position::EMPTY, SEGMENT).unwrap());
    assert_refused_as_unfinished(&m);
}

#[test]
fn a_full_disk_in_one_mirror_fails_the_whole_import() {
    let m = Mirrors::new();
    let fs = match Tmpfs::mount(&m.root().join("tmpfs"), "256k") {
        Ok(fs) => fs,
        Err(why) => {
            println!("import full_disk: NOT RUN: cannot mount a tmpfs ({why})");
            return;
        }
    };
    let b: PathBuf = fs.dir.join("mirror-b");
    let mut importer = Importer::create(&m.a, &b, Position::EMPTY, SEGMENT).unwrap();
    let payload = vec![5u8; 1000];
    let mut failed = None;
    for seq in 1..=2000u64 {
        if let Err(e) = importer.push(seq, &payload) {
            failed = Some((seq, e));
            break;
        }
    }
    let (seq, err) = failed.expect("a tmpfs of 256 KiB never filled up");
    assert!(seq > 10, "filled too early: {err}");
    match &err {
        Error::Io { path, .. } => assert!(path.starts_with(&b), "{err}"),
        other => panic!("expected an I/O error naming mirror b, got {other}"),
    }
    assert!(err.to_string().contains("No space left"), "{err}");
    let later = importer.push(seq, &payload).unwrap_err();
    assert!(matches!(later, Error::ImportRefused(_)), "{later}");
    assert!(later.to_string().contains("No space left"), "{later}");
    let finish = importer.finish().unwrap_err();
    assert!(matches!(finish, Error::ImportRefused(_)), "{finish}");
    match Journal::open(
        journal::JournalConfig::new(m.a.clone(), b.clone()),
        common::noop_hook(),
    ) {
        Err(Error::ImportUnfinished { .. }) => {}
        Err(other) => panic!("open: expected ImportUnfinished, got {other}"),
        Ok(_) => panic!("open accepted a failed import"),
    }
}
