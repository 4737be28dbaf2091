//! The file sink: one JSON line per event, 0600, size rotation that keeps `keep` files and
//! loses no line, unsafe files refused, write failures reported without content and retried,
//! and every line either written or counted as dropped.

mod common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use audit::AuditEvent;
use common::{event, hostile, hostile_events, raw_controls, uniform, wait_until};
use siem::{Error, FileSink, FileSinkOptions};

fn options(path: &Path) -> FileSinkOptions {
    FileSinkOptions {
        sync_ms: 0,
        ..FileSinkOptions::new(path)
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The file and its rotated copies that exist, oldest first.
fn files_oldest_first(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (1..100)
        .map(|i| PathBuf::from(format!("{}.{i}", path.display())))
        .filter(|p| p.exists())
        .collect();
    out.reverse();
    out.push(path.to_owned());
    out
}

fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let e: AuditEvent = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            e.id
        })
        .collect()
}

/// The ids of every line in the file and its rotated copies, oldest first.
fn all_ids(path: &Path) -> Vec<String> {
    let all: Vec<String> = files_oldest_first(path)
        .iter()
        .flat_map(|f| lines(f))
        .collect();
    ids(&all)
}

/// Bytes `event` takes in the file.
fn line_len(event: &AuditEvent) -> u64 {
    event.render_line().len() as u64 + 1
}

/// A sink writing `dir/audit.ndjson`, rotated after `max_bytes`, keeping `keep` old files.
fn rotating(dir: &Path, max_bytes: u64, keep: u32, queue: usize) -> (PathBuf, FileSink) {
    let path = dir.join("audit.ndjson");
    let options = FileSinkOptions {
        max_bytes,
        keep,
        queue,
        ..options(&path)
    };
    (path, FileSink::start(options).expect("start"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn every_event_is_exactly_one_line_in_order_in_a_0600_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.ndjson");
    let sink = FileSink::start(options(&path)).expect("start");
    assert_eq!(mode(&path), 0o600, "created with mode 0600");
    let events: Vec<AuditEvent> = (0..500).map(event).collect();
    for e in &events {
        sink.send(e);
    }
    let stats = sink.shutdown().await.expect("shutdown");
    let got = lines(&path);
    assert_eq!(got.len(), 500, "one line per event");
    for (line, e) in got.iter().zip(&events) {
        assert_eq!(line, &e.render_line());
        let back: AuditEvent = serde_json::from_str(line).expect("json");
        assert_eq!(&back, e);
    }
    assert_eq!(
        (stats.delivered, stats.dropped, stats.failures),
        (500, 0, 0)
    );
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn hostile_text_stays_inside_one_json_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.ndjson");
    let sink = FileSink::start(options(&path)).expect("start");
    let events = hostile_events();
    for e in &events {
        sink.send(e);
    }
    sink.shutdown().await.expect("shutdown");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text.matches('\n').count(),
        events.len(),
        "exactly one newline per event:\n{text:?}"
    );
    for (line, e) in text.lines().zip(&events) {
        assert_eq!(
            raw_controls(line),
            Vec::<char>::new(),
            "raw controls in {line:?}"
        );
        let back: AuditEvent = serde_json::from_str(line).unwrap_or_else(|err| {
            panic!("line is not JSON ({err}): {line:?}");
        });
        assert_eq!(&back, e, "the escapes decode to the very text sent");
    }
    for escape in [
        "\\n", "\\r", "\\u001b", "\\u2028", "\\u2029", "\\u0000", "\\u007f",
    ] {
        assert!(text.contains(escape), "{escape} missing from {text:?}");
    }
}

#[tokio::test]
async fn rotation_keeps_every_line_in_order_across_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let max_bytes = line_len(&uniform(0)) * 15 / 2;
    let (path, sink) = rotating(dir.path(), max_bytes, 50, 1000);
    for n in 0..100 {
        sink.send(&uniform(n));
    }
    sink.shutdown().await.expect("shutdown");
    let files = files_oldest_first(&path);
    assert_eq!(files.len(), 15, "100 lines at 7 a file: {files:?}");
    for f in &files {
        let size = std::fs::metadata(f).expect("metadata").len();
        assert!(
            size <= max_bytes,
            "{} has {size} > {max_bytes}",
            f.display()
        );
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let expected: Vec<String> = (0..100).map(|n| uniform(n).id).collect();
    assert_eq!(all_ids(&path), expected, "every line once, in order");
}

#[tokio::test]
async fn rotation_keeps_only_keep_old_files_holding_the_newest_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, sink) = rotating(dir.path(), line_len(&uniform(0)) * 5, 3, 1000);
    for n in 0..52 {
        sink.send(&uniform(n));
    }
    sink.shutdown().await.expect("shutdown");
    let files = files_oldest_first(&path);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "audit.ndjson.3",
            "audit.ndjson.2",
            "audit.ndjson.1",
            "audit.ndjson"
        ]
    );
    // 52 lines in files of 5: the current file holds 2, the three kept ones 15.
    let expected: Vec<String> = (35..52).map(|n| uniform(n).id).collect();
    assert_eq!(
        all_ids(&path),
        expected,
        "the newest lines, contiguous, in order"
    );
}

#[tokio::test]
async fn appends_to_an_existing_private_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.ndjson");
    for round in 0..2 {
        let sink = FileSink::start(options(&path)).expect("start");
        sink.send(&uniform(round));
        sink.shutdown().await.expect("shutdown");
    }
    assert_eq!(ids(&lines(&path)), [uniform(0).id, uniform(1).id]);
}

#[test]
fn a_file_open_to_others_a_symlink_or_a_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = dir.path().join("open.ndjson");
    std::fs::write(&open, "").expect("write");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let private = dir.path().join("private.ndjson");
    std::fs::write(&private, "").expect("write");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let link = dir.path().join("link.ndjson");
    symlink(&private, &link).expect("symlink");
    let cases = [
        (open.clone(), "chmod 600"),
        (link.clone(), "symbolic link"),
        (dir.path().to_owned(), "not a regular file"),
    ];
    for (path, reason) in cases {
        match FileSink::start(options(&path)) {
            Err(err @ Error::Unsafe { .. }) => {
                let text = err.to_string();
                assert!(text.contains(&*path.to_string_lossy()), "{text}");
                assert!(
                    text.contains(reason),
                    "{path:?}: expected {reason:?} in {text}"
                );
            }
            other => panic!("{path:?}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(mode(&open), 0o640, "the refused file is left as it was");
    assert_eq!(
        std::fs::read(&private).expect("read"),
        b"",
        "nothing written via the link"
    );
}

/// Blocks the rotation of `dir/audit.ndjson`: its `.1` is a non-empty directory, which no
/// rename or removal replaces.
fn block_rotation(dir: &Path) -> PathBuf {
    let blocker = dir.join("audit.ndjson.1");
    std::fs::create_dir(&blocker).expect("mkdir");
    std::fs::write(blocker.join("x"), "x").expect("write");
    blocker
}

#[tokio::test]
async fn a_failed_write_is_reported_without_content_and_retried_until_it_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = block_rotation(dir.path());
    let max_bytes = line_len(&hostile(0, "CANARY-7f3a")) * 4;
    let (path, sink) = rotating(dir.path(), max_bytes, 1, 1000);
    for n in 0..6 {
        sink.send(&hostile(n, "CANARY-7f3a"));
    }
    wait_until(Duration::from_secs(10), "a failed rotation", || {
        sink.stats().failures >= 1
    })
    .await;
    let stats = sink.stats();
    let error = stats.last_error.expect("last error");
    assert!(
        error.contains(&*path.to_string_lossy()),
        "names the path: {error}"
    );
    assert!(!error.contains("CANARY"), "never the content: {error}");
    assert_eq!(
        stats.delivered, 4,
        "the lines before the rotation are written"
    );
    std::fs::remove_dir_all(&blocker).expect("unblock");
    wait_until(Duration::from_secs(20), "the retry", || {
        sink.stats().delivered == 6
    })
    .await;
    assert_eq!(sink.dropped(), 0);
    sink.shutdown().await.expect("shutdown");
    let expected: Vec<String> = (0..6).map(|n| uniform(n).id).collect();
    assert_eq!(all_ids(&path), expected, "no line lost or written twice");
}

#[tokio::test]
async fn lines_that_can_not_be_written_are_counted_never_lost_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    block_rotation(dir.path());
    let (path, sink) = rotating(dir.path(), line_len(&uniform(0)) * 2, 1, 4);
    sink.send(&uniform(0));
    sink.send(&uniform(1));
    sink.send(&uniform(2));
    wait_until(Duration::from_secs(10), "a failed rotation", || {
        sink.stats().failures >= 1
    })
    .await;
    for n in 3..40 {
        sink.send(&uniform(n));
    }
    assert!(
        sink.dropped() > 0,
        "a stuck writer with a queue of 4 must drop"
    );
    let result = sink.shutdown().await;
    let Err(Error::Undelivered { count, stats, .. }) = result else {
        panic!("shutdown must report the lines it could not write: {result:?}");
    };
    assert!(count > 0);
    assert_eq!(stats.delivered, 2);
    assert_eq!(
        stats.delivered + stats.dropped,
        40,
        "every line is written or counted: {stats:?}"
    );
    let written = lines(&path);
    assert_eq!(ids(&written), [uniform(0).id, uniform(1).id]);
}
