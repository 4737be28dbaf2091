//! Restore drills: the latest backup restored into a scratch directory matches the live state
//! at the same position; the recovery point measured is the age of the oldest entry the backup
//! lacks (zero once shipped); a damaged backup fails the drill.

mod common;

use std::sync::Arc;
use std::time::Duration;

use backup::progress::Quiet;
use common::{live, local};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_matches_the_live_state_and_measures_the_recovery_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = live(&dir.path().join("live"), 2).await;
    let dest = local("disk", &dir.path().join("dest"));
    let work = dir.path().join("work");
    let dests = std::slice::from_ref(&dest);
    for i in 0..20 {
        live.create(live.tenants[i % 2], &format!("before {i}"), i as i64)
            .await;
    }
    let out = backup::take::full(&live.engine, dests, &work, Arc::new(Quiet)).await;
    assert!(out[0].result.is_ok(), "{out:?}");

    // Entries after the backup: the first of them is 90 s old when the drill starts.
    live.clock.advance_millis(1_000);
    live.create(live.tenants[0], "after", 1).await;
    live.clock.advance_millis(90_000);
    live.create(live.tenants[1], "after", 2).await;
    let d = backup::drill::drill(&live.engine, &dest, &work, Arc::new(Quiet))
        .await
        .expect("drill");
    let head = live.engine.journal().head().seq;
    assert_eq!(
        d.seq,
        head - 2,
        "the drill restored the backup's last entry"
    );
    assert_eq!(
        d.rpo,
        Duration::from_millis(90_000),
        "age of the oldest missing entry"
    );
    assert!(!work.join("drill-disk").exists(), "scratch left behind");

    // Shipped: nothing is missing.
    let out = backup::take::ship(&live.engine, dests, &work, Arc::new(Quiet)).await;
    assert!(out[0].result.is_ok(), "{out:?}");
    let d = backup::drill::drill(&live.engine, &dest, &work, Arc::new(Quiet))
        .await
        .expect("drill");
    assert_eq!((d.seq, d.rpo), (head, Duration::ZERO));
    assert_eq!(
        d.digest,
        live.digest(),
        "restored digest equals the live one"
    );

    // A damaged backup fails the drill, naming the set.
    let mut damaged = 0;
    let sets = dir.path().join("dest").join("sets");
    for part in common::files_under(&sets) {
        let part = sets.join(part);
        if part.ends_with("journal") {
            let mut bytes = std::fs::read(&part).expect("read");
            let at = bytes.len() / 2;
            bytes[at] ^= 0x40;
            std::fs::write(&part, bytes).expect("write");
            damaged += 1;
        }
    }
    assert!(damaged > 0);
    let err = backup::drill::drill(&live.engine, &dest, &work, Arc::new(Quiet))
        .await
        .expect_err("a damaged backup fails the drill");
    assert!(err.to_string().contains("journal"), "{err}");
    live.engine.shutdown();
}
