//! After a restore: a system restored to the latest state goes on backing up to the same
//! destination (its journal continues the sets there); a system restored to an earlier moment
//! and then changed is refused there, naming why, so that one destination never mixes two
//! timelines.

mod common;

use std::sync::Arc;

use backup::progress::Quiet;
use common::{live, local, restore};
use engine::{Engine, Options, Paths};

fn open(root: &std::path::Path, key_file: &std::path::Path) -> Engine {
    Engine::open(
        &Paths {
            data: root.join("data"),
            mirror: root.join("mirror"),
            key_file: key_file.to_owned(),
        },
        Options {
            segment_bytes: 64 * 1024,
            audit_key_file: Some(root.join("audit-signing.key")),
            ..Options::default()
        },
    )
    .expect("open the restored copy")
    .engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_system_continues_its_destination_and_another_timeline_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = live(&dir.path().join("live"), 1).await;
    let dest = local("disk", &dir.path().join("dest"));
    let dests = std::slice::from_ref(&dest);
    let work = dir.path().join("work");
    let tenant = live.tenants[0];
    for i in 0..5 {
        live.create(tenant, &format!("first {i}"), i).await;
    }
    let out = backup::take::full(&live.engine, dests, &work, Arc::new(Quiet)).await;
    assert!(out[0].result.is_ok(), "{out:?}");
    live.clock.advance_millis(60_000);
    let earlier = live.engine.now().millis();
    live.clock.advance_millis(60_000);
    for i in 0..5 {
        live.create(tenant, &format!("second {i}"), i).await;
    }
    let out = backup::take::ship(&live.engine, dests, &work, Arc::new(Quiet)).await;
    assert!(out[0].result.is_ok(), "{out:?}");
    let key_file = live.paths.key_file.clone();
    live.engine.shutdown();

    // The latest state, restored on another machine, goes on where the destination is.
    let r1 = dir.path().join("r1");
    restore(&live, &dest, &r1, None)
        .await
        .expect("restore latest");
    let engine = open(&r1, &key_file);
    let records = records::Records::new(engine.clone());
    let again = common::Live {
        engine: engine.clone(),
        records,
        ..live
    };
    again.create(tenant, "after the restore", 1).await;
    let out = backup::take::ship(&engine, dests, &work, Arc::new(Quiet)).await;
    let set = out[0]
        .result
        .as_ref()
        .expect("ships")
        .as_ref()
        .expect("a set");
    assert_eq!(set.kind, backup::Kind::Increment);
    assert_eq!(set.journal_to.seq, engine.journal().head().seq);
    engine.shutdown();

    // A copy restored to an earlier moment and changed is another timeline: refused.
    let r2 = dir.path().join("r2");
    restore(&again, &dest, &r2, Some(earlier))
        .await
        .expect("restore earlier");
    let engine = open(&r2, &key_file);
    let records = records::Records::new(engine.clone());
    let other = common::Live {
        engine: engine.clone(),
        records,
        ..again
    };
    other.create(tenant, "another timeline", 2).await;
    for out in [
        backup::take::ship(&engine, dests, &work, Arc::new(Quiet)).await,
        backup::take::full(&engine, dests, &work, Arc::new(Quiet)).await,
    ] {
        let err = out[0]
            .result
            .as_ref()
            .expect_err("another timeline is refused");
        assert!(err.to_string().contains("does not continue"), "{err}");
    }
    let catalog = backup::Catalog::read(&dest, &engine.backup_manifest_key().expect("key"))
        .await
        .expect("catalog");
    assert_eq!(
        catalog.sets.len(),
        3,
        "nothing of the other timeline was written"
    );
    assert!(catalog.unfinished.is_empty(), "{:?}", catalog.unfinished);
    engine.shutdown();
}
