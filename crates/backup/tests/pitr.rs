//! Point-in-time restore (P11): a randomised workload over several tenants, with full backups
//! and journal shipping along the way; the state digest is recorded after every change, and
//! restores to more than 100 random moments must each give exactly the digest of that moment.

mod common;

use common::{Rng, live, local, restore};
use types::RecordId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_to_random_moments_equal_the_state_recorded_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = live(&dir.path().join("live"), 4).await;
    let dest = local("disk", &dir.path().join("dest"));
    let work = dir.path().join("work");
    let mut rng = Rng(0x5eed_0001);
    let mut ids: Vec<(usize, RecordId)> = Vec::new();
    let mut moments: Vec<(i64, [u8; 32], u64)> = Vec::new();

    let ops = 320;
    for op in 0..ops {
        // Sets along the way: full backups and increments, so restores cross them.
        if [0, 150].contains(&op) {
            common::full(&live, &dest, &work).await;
        } else if [60, 100, 220, 280].contains(&op) {
            common::ship(&live, &dest, &work).await;
        }
        live.clock.advance_millis(1 + rng.below(2_000) as i64);
        let t = rng.below(live.tenants.len() as u64) as usize;
        let tenant = live.tenants[t];
        match rng.below(10) {
            0..=5 => {
                let id = live.create(tenant, &format!("note {op}"), op).await;
                ids.push((t, id));
            }
            6..=7 if !ids.is_empty() => {
                let (t, id) = ids[rng.below(ids.len() as u64) as usize];
                live.update(live.tenants[t], id, -op).await;
            }
            _ if !ids.is_empty() => {
                let (t, id) = ids.swap_remove(rng.below(ids.len() as u64) as usize);
                live.delete(live.tenants[t], id).await;
            }
            _ => {}
        }
        moments.push((
            live.engine.now().millis(),
            live.digest(),
            live.engine.journal().head().seq,
        ));
    }
    common::ship(&live, &dest, &work).await;

    // The latest state, with no moment given.
    let latest = restore(&live, &dest, &dir.path().join("r-latest"), None)
        .await
        .expect("restore latest");
    assert_eq!(latest.digest, live.digest(), "latest restore differs");
    assert_eq!(latest.journal.seq, live.engine.journal().head().seq);

    // 110 random moments, each restored into new directories.
    let mut picked = 0;
    let mut from_snapshot = 0;
    while picked < 110 {
        let (at, digest, seq) = moments[rng.below(moments.len() as u64) as usize];
        let target = dir.path().join(format!("r-{picked}"));
        let restored = restore(&live, &dest, &target, Some(at))
            .await
            .unwrap_or_else(|e| panic!("restore to {at}: {e}"));
        assert_eq!(restored.journal.seq, seq, "restore to {at}: wrong cut");
        assert_eq!(restored.digest, digest, "restore to {at}: digest differs");
        from_snapshot += usize::from(restored.from_snapshot);
        std::fs::remove_dir_all(&target).expect("clean");
        picked += 1;
    }
    assert!(from_snapshot > 0, "no restore started from a snapshot");
    live.engine.shutdown();
}
