//! Retention over an injected clock: events spread over 500 days in small segments. Retention
//! removes exactly the old whole segments, records and signs it, and the log reopens and
//! verifies with its kept range; nothing newer than the horizon ever goes (random horizons);
//! segments removed without a signed record naming that start are breaks; a crash between the
//! steps (reproduced as the files it leaves) reopens cleanly and is finished; random tampers of
//! a retained copy are all reported (2,000 cases, `AUDIT_RETAINED_TAMPER_CASES`); and no public
//! function of the crate but `apply_retention` says it removes or edits anything.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit::payload::{Header, entry_time};
use audit::{AuditLog, RetentionRecord, verify_dir};
use common::{Rng, copy_dir};
use journal::{Journal, JournalConfig};
use types::{ManualClock, Timestamp};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_800_000_000_000;
const EVENTS: u64 = 600;
/// One event every 20 hours: 600 events span 500 days.
const STEP: i64 = 20 * 3_600_000;
const SEGMENT: u64 = 4096;
const EVERY: u64 = 50;

fn config(root: &Path) -> JournalConfig {
    let mut c = JournalConfig::new(root.join("a"), root.join("b"));
    c.segment_bytes = SEGMENT;
    c
}

fn open(root: &Path, seed: &[u8; 32], now: i64) -> AuditLog {
    let key = crypto::SigningKey::from_seed(seed).expect("key");
    let clock = Arc::new(ManualClock::new(Timestamp(now)));
    AuditLog::open_with(config(root), key, clock, EVERY).expect("open")
}

fn event(i: u64, at: i64) -> Vec<u8> {
    let header = Header {
        tenant: None,
        key_version: 1,
        id: [i as u8; 16],
        at,
        source: i,
    };
    header.encode(format!("sealed event {i} would be here").as_bytes())
}

/// A stopped log of `EVENTS` events, one every `STEP` from `T0`; returns the key seed and the
/// time of the last event ("now").
async fn write_log(root: &Path) -> ([u8; 32], i64) {
    let key = crypto::SigningKey::generate().expect("key");
    let seed = *key.seed();
    let clock = ManualClock::new(Timestamp(T0));
    let log = AuditLog::open_with(config(root), key, Arc::new(clock.clone()), EVERY).expect("open");
    for i in 0..EVENTS {
        log.record(event(i, T0 + i as i64 * STEP))
            .await
            .expect("record");
        clock.advance_millis(STEP);
    }
    log.shutdown().await.expect("shutdown");
    (seed, T0 + EVENTS as i64 * STEP)
}

/// Every entry of a mirror: seq, chain hash, time.
fn entries(dir: &Path) -> Vec<(u64, [u8; 32], Option<i64>)> {
    let scan = journal::scan_dir(dir).expect("scan");
    assert!(scan.problem.is_none(), "{:?}", scan.problem);
    scan.entries
        .map(|e| e.expect("entry"))
        .map(|e| (e.seq, e.hash, entry_time(&e.payload)))
        .collect()
}

/// First seqs of a mirror's segment files.
fn segment_starts(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)
        .expect("read")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().into_string().expect("utf-8");
            name.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    v.sort();
    v
}

/// The first seq kept by retention at `horizon`, computed from the files alone: the oldest
/// segments whose every entry is at or before it, never the last segment.
fn expected_first(dir: &Path, horizon: i64) -> u64 {
    let all = entries(dir);
    let starts = segment_starts(dir);
    let mut first = starts[0];
    for w in starts.windows(2) {
        let old = all
            .iter()
            .filter(|(seq, _, _)| *seq >= w[0] && *seq < w[1])
            .all(|(_, _, at)| at.is_some_and(|at| at <= horizon));
        if !old {
            break;
        }
        first = w[1];
    }
    first
}

fn copy_log(from: &Path, to: &Path) {
    for m in ["a", "b"] {
        copy_dir(&from.join(m), &to.join(m));
    }
}

fn public(seed: &[u8; 32]) -> [u8; 32] {
    crypto::SigningKey::from_seed(seed)
        .expect("key")
        .public_key()
}

fn assert_broken(dir: &Path, public: &[u8; 32], what: &str, expect: &str) {
    match verify_dir(dir, public) {
        Ok(v) => panic!("{what}: verified as {v}"),
        Err(b) => assert!(
            b.to_string().contains(expect),
            "{what}: expected a break saying {expect:?}, got {b}"
        ),
    }
}

#[tokio::test]
async fn retention_removes_exactly_the_old_whole_segments_records_it_and_reopens() {
    let root = tempfile::tempdir().expect("tempdir");
    let (seed, now) = write_log(root.path()).await;
    let a = root.path().join("a");
    let before = entries(&a);
    let starts = segment_starts(&a);
    let horizon = now - 400 * DAY;
    let first = expected_first(&a, horizon);
    assert!(
        first > starts[1],
        "more than one segment is old: {starts:?}"
    );

    let log = open(root.path(), &seed, now);
    let report = log.apply_retention(horizon).await.expect("retention");
    let removed = starts.iter().filter(|s| **s < first).count() as u64;
    assert_eq!(report.first_seq, first, "{report:?}");
    assert_eq!(report.segments_removed, removed);
    assert_eq!(report.entries_removed, first - 1);
    for m in ["a", "b"] {
        let kept: Vec<u64> = starts.iter().copied().filter(|s| *s >= first).collect();
        assert_eq!(segment_starts(&root.path().join(m)), kept, "mirror {m}");
    }
    // The record names what it removed, and a checkpoint after it signs it.
    let record_at = report.record.expect("a record");
    let scan = journal::scan_dir(&a).expect("scan");
    let record = scan
        .entries
        .map(|e| e.expect("entry"))
        .find(|e| e.seq == record_at.seq)
        .map(|e| RetentionRecord::decode(&e.payload).expect("a retention record"))
        .expect("record kept");
    assert_eq!(record.segments, removed);
    assert_eq!(record.first_seq, first);
    assert_eq!(record.previous_hash, before[(first - 2) as usize].1);
    assert_eq!(record.at, now);
    let head = log.head().seq;
    for m in ["a", "b"] {
        let v = verify_dir(&root.path().join(m), &public(&seed)).expect("verifies");
        assert_eq!((v.first_seq, v.head), (first, head), "{v}");
        assert_eq!(v.retentions, 1);
        assert_eq!(v.unsigned_tail, 0, "the record is signed: {v}");
        assert_eq!(v.last_checkpoint.map(|c| c.0), Some(head), "{v}");
        assert!(
            v.to_string()
                .contains(&format!("entries {first}..={head} kept"))
        );
    }
    // The same horizon again finds nothing and writes nothing.
    let again = log.apply_retention(horizon).await.expect("retention");
    assert_eq!((again.segments_removed, again.record), (0, None));
    assert_eq!(log.head().seq, head);
    log.shutdown().await.expect("shutdown");

    let log = open(root.path(), &seed, now + DAY);
    log.record(event(9_999, now + DAY)).await.expect("record");
    log.shutdown().await.expect("shutdown");
    for m in ["a", "b"] {
        let v = verify_dir(&root.path().join(m), &public(&seed)).expect("verifies");
        assert_eq!((v.first_seq, v.head), (first, head + 2), "{v}");
    }
}

#[tokio::test]
async fn nothing_newer_than_the_horizon_is_ever_removed() {
    let root = tempfile::tempdir().expect("tempdir");
    let base = root.path().join("base");
    let (seed, now) = write_log(&base).await;
    let times = entries(&base.join("a"));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let span = (now - T0 + 20 * DAY) as usize;
    let mut extremes = (false, false);
    for case in 0..26 {
        let horizon = match case {
            0 => T0 - DAY,
            1 => now + DAY,
            _ => T0 - 10 * DAY + rng.below(span) as i64,
        };
        let dir = root.path().join(format!("case{case}"));
        copy_log(&base, &dir);
        let expected = expected_first(&dir.join("a"), horizon);
        let log = open(&dir, &seed, now);
        let report = log.apply_retention(horizon).await.expect("retention");
        log.shutdown().await.expect("shutdown");
        let newest_removed = times
            .iter()
            .filter(|(seq, _, _)| *seq < report.first_seq)
            .filter_map(|(_, _, at)| *at)
            .max();
        assert!(
            newest_removed.is_none_or(|at| at <= horizon),
            "case {case}: horizon {horizon}, removed an entry of {newest_removed:?}"
        );
        assert_eq!(report.first_seq, expected, "case {case}: horizon {horizon}");
        let v = verify_dir(&dir.join("b"), &public(&seed))
            .unwrap_or_else(|b| panic!("case {case}: horizon {horizon}: {b}"));
        assert_eq!(v.first_seq, expected, "case {case}");
        assert_eq!(v.retentions, u64::from(expected > 1), "case {case}");
        let last = *segment_starts(&base.join("a")).last().expect("segments");
        extremes.0 |= report.first_seq == 1;
        extremes.1 |= report.first_seq == last;
    }
    assert_eq!(
        extremes,
        (true, true),
        "nothing removed once, all but the last once"
    );
}

/// A raw journal over a copy of the log's files: what someone with the files but without the
/// signing key can do.
fn raw_journal(root: &Path) -> Journal {
    let (j, _) = Journal::open(config(root), Box::new(|_| Ok(()))).expect("raw open");
    j
}

#[tokio::test]
async fn segments_removed_without_a_signed_record_naming_that_start_are_breaks() {
    let root = tempfile::tempdir().expect("tempdir");
    let base = root.path().join("base");
    let (seed, now) = write_log(&base).await;
    let public = public(&seed);
    let starts = segment_starts(&base.join("a"));
    let copy = |name: &str| {
        let dir = root.path().join(name);
        copy_log(&base, &dir);
        dir
    };

    // By hand, no record: the first segment file deleted.
    let dir = copy("first-deleted");
    std::fs::remove_file(dir.join("a").join(format!("{:020}.seg", starts[0]))).expect("rm");
    assert_broken(
        &dir.join("a"),
        &public,
        "first deleted",
        "a segment file is missing",
    );

    // Through the journal, no record: the start is recorded but never signed.
    let dir = copy("no-record");
    raw_journal(&dir)
        .remove_segments_before(starts[2])
        .expect("cut");
    assert_broken(&dir.join("a"), &public, "no record", "no retention record");

    // An unsigned record naming exactly that start, appended without the key.
    let dir = copy("unsigned-record");
    let j = raw_journal(&dir);
    let before = entries(&dir.join("a"));
    let record = RetentionRecord {
        segments: 2,
        first_seq: starts[2],
        previous_hash: before[(starts[2] - 2) as usize].1,
        at: now,
    };
    j.append_blocking(record.encode()).expect("append");
    j.remove_segments_before(starts[2]).expect("cut");
    j.shutdown();
    assert_broken(
        &dir.join("a"),
        &public,
        "unsigned record",
        "no retention record",
    );

    // Real retention, then more removed by hand: the record names another seq.
    let dir = copy("more-removed");
    let log = open(&dir, &seed, now);
    let report = log.apply_retention(T0 + 60 * DAY).await.expect("retention");
    log.shutdown().await.expect("shutdown");
    let kept = segment_starts(&dir.join("a"));
    assert_eq!(kept[0], report.first_seq);
    verify_dir(&dir.join("a"), &public).expect("retention itself verifies");
    let middle = root.path().join("middle-removed");
    copy_log(&dir, &middle);
    raw_journal(&dir)
        .remove_segments_before(kept[1])
        .expect("cut");
    assert_broken(
        &dir.join("a"),
        &public,
        "one more removed",
        "no retention record",
    );

    // A middle segment removed after retention: a gap in the chain.
    std::fs::remove_file(middle.join("a").join(format!("{:020}.seg", kept[1]))).expect("rm");
    assert_broken(
        &middle.join("a"),
        &public,
        "middle removed",
        "a segment file is missing",
    );

    // A retention signed by another key: its checkpoint does not verify.
    let dir = copy("forged");
    let other = crypto::SigningKey::generate().expect("key");
    let log = open(&dir, other.seed(), now);
    log.apply_retention(T0 + 60 * DAY).await.expect("retention");
    log.shutdown().await.expect("shutdown");
    assert_broken(
        &dir.join("a"),
        &public,
        "other key",
        "signature does not verify",
    );
}

#[tokio::test]
async fn every_tamper_of_a_retained_copy_is_reported() {
    let root = tempfile::tempdir().expect("tempdir");
    let (seed, now) = write_log(root.path()).await;
    let log = open(root.path(), &seed, now);
    let report = log
        .apply_retention(now - 400 * DAY)
        .await
        .expect("retention");
    log.shutdown().await.expect("shutdown");
    let a = root.path().join("a");
    let v = verify_dir(&a, &public(&seed)).expect("an untouched retained copy verifies");
    assert!(v.first_seq == report.first_seq && v.first_seq > 1, "{v}");
    let cases: usize = std::env::var("AUDIT_RETAINED_TAMPER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let undetected = common::tamper(&a, root.path(), &public(&seed), cases, 0x51_7cc1_b727_220a);
    println!(
        "retained audit tamper: {cases} cases, {} undetected",
        undetected.len()
    );
    assert!(
        undetected.is_empty(),
        "undetected:\n{}",
        undetected.join("\n")
    );
}

/// The steps of a retention as files: the log before it (`pre`), after it (`post`).
struct Steps {
    root: PathBuf,
    seed: [u8; 32],
    now: i64,
    first: u64,
    post_head: u64,
}

impl Steps {
    /// A copy of the finished retention with the removed segments put back (the crash came
    /// before the removal), then `change` applied to it.
    fn state(&self, name: &str, change: impl Fn(&Path)) -> PathBuf {
        let dir = self.root.join(name);
        copy_log(&self.root.join("post"), &dir);
        for m in ["a", "b"] {
            for s in segment_starts(&self.root.join("pre").join(m)) {
                if s < self.first {
                    let file = format!("{s:020}.seg");
                    std::fs::copy(
                        self.root.join("pre").join(m).join(&file),
                        dir.join(m).join(&file),
                    )
                    .expect("restore");
                }
            }
        }
        change(&dir);
        dir
    }

    /// Opens the crashed state, checks that the removal was finished, writes one more event.
    async fn reopen_and_check(&self, dir: &Path, what: &str) {
        let log = open(dir, &self.seed, self.now);
        log.record(event(7_777, self.now)).await.expect("record");
        log.shutdown().await.expect("shutdown");
        for m in ["a", "b"] {
            let d = dir.join(m);
            assert!(
                segment_starts(&d)[0] == self.first,
                "{what}: mirror {m} not finished"
            );
            let v = verify_dir(&d, &public(&self.seed)).unwrap_or_else(|b| panic!("{what}: {b}"));
            assert_eq!(v.first_seq, self.first, "{what}: {v}");
            assert!(v.head > self.post_head, "{what}: {v}");
        }
    }
}

fn remove(path: PathBuf) {
    std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[tokio::test]
async fn a_crash_between_the_steps_reopens_cleanly() {
    let root = tempfile::tempdir().expect("tempdir");
    let (seed, now) = write_log(&root.path().join("pre")).await;
    copy_log(&root.path().join("pre"), &root.path().join("post"));
    let log = open(&root.path().join("post"), &seed, now);
    let report = log
        .apply_retention(now - 400 * DAY)
        .await
        .expect("retention");
    let post_head = log.head().seq;
    log.shutdown().await.expect("shutdown");
    let steps = Steps {
        root: root.path().to_path_buf(),
        seed,
        now,
        first: report.first_seq,
        post_head,
    };
    let public = public(&seed);

    // Record and its checkpoint written, nothing removed: verifies as a whole chain.
    let dir = steps.state("signed", |d| {
        remove(d.join("a/start"));
        remove(d.join("b/start"));
    });
    let v = verify_dir(&dir.join("a"), &public).expect("verifies before reopening");
    assert_eq!((v.first_seq, v.retentions), (1, 1), "{v}");
    steps
        .reopen_and_check(&dir, "signed, nothing removed")
        .await;

    // The start written in mirror a only.
    let dir = steps.state("start-a", |d| remove(d.join("b/start")));
    for m in ["a", "b"] {
        verify_dir(&dir.join(m), &public).expect("verifies before reopening");
    }
    steps.reopen_and_check(&dir, "start in a only").await;

    // Both starts written, mirror a's segments removed, b's not.
    let dir = steps.state("removed-in-a", |d| {
        for s in segment_starts(&d.join("a")) {
            if s < report.first_seq {
                remove(d.join("a").join(format!("{s:020}.seg")));
            }
        }
    });
    steps.reopen_and_check(&dir, "removed in a only").await;

    // The record written, its checkpoint not: the last entry and record cut from both.
    let dir = steps.state("unsigned", |d| {
        for m in ["a", "b"] {
            remove(d.join(m).join("start"));
            let last = segment_starts(&d.join(m)).pop().expect("segment");
            let seg = d.join(m).join(format!("{last:020}.seg"));
            let len = std::fs::metadata(&seg).expect("meta").len();
            let cut = (16 + audit::checkpoint::LEN) as u64;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&seg)
                .expect("open");
            f.set_len(len - cut).expect("cut entry");
            let file = d.join(m).join(audit::log::CHECKPOINTS);
            let bytes = std::fs::read(&file).expect("read");
            std::fs::write(&file, &bytes[..bytes.len() - audit::log::RECORD_LEN]).expect("cut");
        }
    });
    let v = verify_dir(&dir.join("a"), &public).expect("verifies before reopening");
    assert_eq!(
        (v.first_seq, v.unsigned_tail, v.head),
        (1, 1, post_head - 1),
        "{v}"
    );
    steps.reopen_and_check(&dir, "record unsigned").await;
}

#[test]
fn no_public_function_but_apply_retention_removes_or_edits() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let forbidden = ["delete", "remove", "edit", "update", "truncate", "erase"];
    let mut names = Vec::new();
    for file in std::fs::read_dir(&src).expect("src") {
        let path = file.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for line in text.lines().map(str::trim_start) {
            let Some((before, after)) = line.split_once("fn ") else {
                continue;
            };
            if !before.starts_with("pub") {
                continue;
            }
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push((path.display().to_string(), name));
        }
    }
    let all: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
    assert!(
        all.contains(&"apply_retention") && all.contains(&"verify_dir") && all.contains(&"record"),
        "the scan finds the public functions: {all:?}"
    );
    let offending: Vec<String> = names
        .iter()
        .filter(|(_, n)| n != "apply_retention")
        .filter(|(_, n)| forbidden.iter().any(|w| n.to_lowercase().contains(w)))
        .map(|(f, n)| format!("{f}: pub fn {n}"))
        .collect();
    assert!(
        offending.is_empty(),
        "public functions that would edit or delete audit entries: {offending:?}"
    );
}
