//! The audit log written through `AuditLog`, then checked offline with the public key alone: an
//! untouched copy verifies; random edits, deletions, reorders and truncations of copied files
//! are each reported: 10,000 cases, one per copy (`AUDIT_TAMPER_CASES` for more or fewer). A
//! checkpoint record lost to a crash is written again when the log is opened.

mod common;

use std::path::Path;
use std::sync::Arc;

use audit::{AuditLog, verify_dir};
use types::{ManualClock, Timestamp};

async fn write_log(root: &Path, events: usize, every: u64) -> [u8; 32] {
    let key = crypto::SigningKey::generate().expect("key");
    let public = key.public_key();
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let dirs = [root.join("a"), root.join("b")];
    let log = AuditLog::open(dirs, key, clock, every).expect("open");
    for i in 0..events {
        let payload = format!("\u{1}event {i} sealed bytes would be here").into_bytes();
        log.record(payload).await.expect("record");
    }
    log.shutdown().await.expect("shutdown");
    public
}

#[tokio::test]
async fn an_untouched_log_verifies_and_every_tamper_is_reported() {
    let root = tempfile::tempdir().expect("tempdir");
    let public = write_log(root.path(), 2_500, 1_000).await;
    for mirror in ["a", "b"] {
        let verified = verify_dir(&root.path().join(mirror), &public).expect("verifies");
        assert_eq!(verified.events, 2_500);
        assert_eq!(verified.checkpoints, 3, "at 1,000, 2,000 and shutdown");
        assert_eq!(verified.unsigned_tail, 0);
    }
    let other = crypto::SigningKey::generate().expect("key").public_key();
    assert!(
        verify_dir(&root.path().join("a"), &other).is_err(),
        "another key"
    );

    let cases: usize = std::env::var("AUDIT_TAMPER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let undetected = common::tamper(
        &root.path().join("a"),
        root.path(),
        &public,
        cases,
        0x9e37_79b9_7f4a_7c15,
    );
    println!(
        "audit tamper: {cases} cases, {} undetected",
        undetected.len()
    );
    assert!(
        undetected.is_empty(),
        "undetected:\n{}",
        undetected.join("\n")
    );
}

#[tokio::test]
async fn a_checkpoint_record_lost_in_a_crash_is_written_again_at_open() {
    let root = tempfile::tempdir().expect("tempdir");
    let key = crypto::SigningKey::generate().expect("key");
    let seed = *key.seed();
    let public = key.public_key();
    write_with(root.path(), key, 1_500).await;
    // The crash: the last checkpoint entry is in the chain, its records are not.
    for mirror in ["a", "b"] {
        let path = root.path().join(mirror).join(audit::log::CHECKPOINTS);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - audit::log::RECORD_LEN]).expect("cut");
        assert!(
            verify_dir(&root.path().join(mirror), &public).is_err(),
            "cut file"
        );
    }
    let key = crypto::SigningKey::from_seed(&seed).expect("key");
    write_with(root.path(), key, 10).await;
    for mirror in ["a", "b"] {
        let v = verify_dir(&root.path().join(mirror), &public).expect("repaired");
        assert_eq!(v.events, 1_510);
        assert_eq!(v.checkpoints, 3, "1,000, shutdown, shutdown");
    }
}

async fn write_with(root: &Path, key: crypto::SigningKey, events: usize) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let log = AuditLog::open([root.join("a"), root.join("b")], key, clock, 1_000).expect("open");
    for i in 0..events {
        log.record(format!("\u{1}event {i}").into_bytes())
            .await
            .expect("record");
    }
    log.shutdown().await.expect("shutdown");
}
