//! Retention at a destination: sets older than the window go once a newer full backup covers
//! the window's start, and every moment in the window stays restorable; keyring copies older
//! than the history go, the newest always stays.

mod common;

use std::sync::Arc;

use backup::progress::Quiet;
use backup::retention::{Keep, Pruned, prune};
use common::{live, local, restore};
use engine::Scope;

const DAY: i64 = 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_sets_and_keyrings_go_and_the_window_stays_restorable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = live(&dir.path().join("live"), 2).await;
    let dest = local("disk", &dir.path().join("dest"));
    let dests = std::slice::from_ref(&dest);
    let work = dir.path().join("work");
    let key = live.engine.backup_manifest_key().expect("key");
    let mut moments = Vec::new();
    // Day 0 full, day 1 increment, day 10 full, day 20 increment, day 40 full, day 41 increment;
    // a record and a key rotation (a new keyring generation) before each.
    for (day, full) in [
        (0, true),
        (1, false),
        (10, true),
        (20, false),
        (40, true),
        (41, false),
    ] {
        let now = live.engine.now().millis();
        live.clock
            .advance_millis(1_800_000_000_000 + day * DAY - now + 1_000);
        live.create(live.tenants[0], &format!("day {day}"), day)
            .await;
        live.engine
            .rotate_key_blocking(Scope::Tenant(live.tenants[1]))
            .expect("rotate");
        moments.push((live.engine.now().millis(), live.digest()));
        let out = if full {
            backup::take::full(&live.engine, dests, &work, Arc::new(Quiet)).await
        } else {
            backup::take::ship(&live.engine, dests, &work, Arc::new(Quiet)).await
        };
        assert!(out[0].result.is_ok(), "{out:?}");
    }
    // The keyring copies are dated by their files, in real time: the first steps keep them all
    // (a history longer than any clock here), the last ones test them against the real clock.
    let keep = Keep {
        days: 35,
        keyring_days: 100_000,
    };
    let sets = |c: &backup::Catalog| {
        c.sets
            .iter()
            .map(|s| s.manifest.created_at)
            .collect::<Vec<_>>()
    };
    let before = backup::Catalog::read(&dest, &key).await.expect("catalog");
    assert_eq!(before.sets.len(), 6);

    // At day 41 the window starts at day 6: the day-0 full is its base; nothing goes.
    let day = |d: i64| 1_800_000_000_000 + d * DAY;
    let pruned = prune(&dest, &key, day(41), keep).await.expect("prune");
    assert_eq!(pruned, Pruned::default());

    // At day 50 the window starts at day 15: the day-10 full is the base; day 0 and 1 go.
    let pruned = prune(&dest, &key, day(50), keep).await.expect("prune");
    assert_eq!((pruned.sets, pruned.unfinished), (2, 0));
    let after = backup::Catalog::read(&dest, &key).await.expect("catalog");
    assert_eq!(sets(&after), sets(&before)[2..].to_vec());
    // Every moment from the window's start on is restorable, exactly.
    for (i, (at, digest)) in moments.iter().enumerate().skip(2) {
        let r = restore(&live, &dest, &dir.path().join(format!("r{i}")), Some(*at))
            .await
            .expect("restore");
        assert_eq!(r.digest, *digest, "moment {i}");
    }

    // Keyring copies: all recent ones stay; eight days later only the newest is left.
    let real_now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis(),
    )
    .expect("ms");
    let generations = after.keyrings.clone();
    assert!(generations.len() >= 6, "{generations:?}");
    let recent = prune(
        &dest,
        &key,
        real_now,
        Keep {
            days: 3650,
            keyring_days: 7,
        },
    )
    .await
    .expect("prune");
    assert_eq!(recent.keyrings, 0);
    let later = prune(
        &dest,
        &key,
        real_now + 8 * DAY,
        Keep {
            days: 3650,
            keyring_days: 7,
        },
    )
    .await
    .expect("prune");
    assert_eq!(later.keyrings, generations.len() - 1);
    let left = backup::Catalog::read(&dest, &key).await.expect("catalog");
    assert_eq!(
        left.keyrings.iter().copied().collect::<Vec<_>>(),
        vec![*generations.last().expect("newest")]
    );
    // And a restore still works with the newest keyring alone.
    let r = restore(&live, &dest, &dir.path().join("r-last"), None)
        .await
        .expect("restore");
    assert_eq!(r.digest, live.digest());
    live.engine.shutdown();
}
