//! A tenant deletion reaches every backup destination (P15, issue 7): after the tenant's keys
//! are destroyed and the destinations shredded, no file of the live directories, the keyring
//! copies or either destination holds a key of the tenant (its wrapped key strings, read before,
//! appear nowhere) or its canaries; restoring the newest backup taken before the deletion, and
//! a moment before it, gives the tenant as shredded — rows nothing opens — while the other
//! tenant restores whole; a full backup afterwards verifies and drills clean.

mod common;

use std::path::Path;
use std::sync::Arc;

use backup::progress::Quiet;
use backup::service::Service;
use common::{files_containing, live, local};
use engine::{Engine, Options, Scope};
use serde_json::json;
use types::UserId;

const CANARY: &str = "CANARY-backup-shred-2b81";
const CANARY_FILE: &[u8] = b"CANARY-backup-shred-file-93c4";

/// Every wrapped key string of `scope` in the keyring file under `dir`.
fn wrapped_keys(dir: &Path, scope: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("keyring.json")).expect("keyring");
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    let record = &value["document"]["scopes"][scope];
    let mut keys: Vec<String> = record["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["wrapped"].as_str().map(str::to_owned))
        .collect();
    keys.extend(record["index_key"].as_str().map(str::to_owned));
    keys
}

async fn open_restored(root: &Path, key_file: &Path) -> Engine {
    let paths = engine::Paths {
        data: root.join("data"),
        mirror: root.join("mirror"),
        key_file: key_file.to_owned(),
    };
    let audit_key = root.join("audit-signing.key");
    tokio::task::spawn_blocking(move || {
        Engine::open(
            &paths,
            Options {
                segment_bytes: 64 * 1024,
                audit_key_file: Some(audit_key),
                ..Options::default()
            },
        )
        .map(|o| o.engine)
    })
    .await
    .expect("join")
    .expect("the restored system opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_reaches_every_destination_and_an_old_backup_restores_it_shredded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = live(&dir.path().join("live"), 2).await;
    let (doomed, kept) = (live.tenants[0], live.tenants[1]);
    let dests = vec![
        local("eu", &dir.path().join("dest-eu")),
        local("us", &dir.path().join("dest-us")),
    ];
    let work = dir.path().join("work");
    let service = Service::new(
        live.engine.clone(),
        dests.clone(),
        work.clone(),
        backup::retention::Keep {
            days: 35,
            keyring_days: 7,
        },
    );
    for i in 0..30 {
        live.create(doomed, &format!("{CANARY} {i}"), i).await;
        live.create(kept, &format!("kept {i}"), i).await;
    }
    let record = live.create(doomed, CANARY, 99).await;
    live.records
        .add_attachment(
            doomed,
            "notes",
            record,
            "f.pdf",
            "application/pdf",
            CANARY_FILE,
        )
        .await
        .expect("attachment");
    let full = service.run(backup::service::Run::Full).await;
    assert!(full.iter().all(|o| o.result.is_ok()), "{full:?}");

    // More keyring generations at the destinations: a tenant created, a key rotated.
    let tenancy = tenancy::Tenancy::new(live.engine.clone());
    live.clock.advance_millis(60_000);
    tenancy.create("Later").await.expect("tenant");
    live.engine
        .rotate_key_blocking(Scope::Tenant(doomed))
        .expect("rotate");
    live.create(doomed, &format!("{CANARY} after rotation"), 100)
        .await;
    let moment_before = live.engine.now().millis();
    let kept_digest = live.engine.state().tenant_digest(kept).expect("digest");
    live.clock.advance_millis(60_000);
    let ship = service.run(backup::service::Run::Ship).await;
    assert!(ship.iter().all(|o| o.result.is_ok()), "{ship:?}");
    for d in ["dest-eu", "dest-us"] {
        let copies = common::files_under(&dir.path().join(d).join("keyring"));
        assert!(copies.len() >= 2, "{d} holds {copies:?}");
    }
    let [keyring_a, keyring_b] = live.paths.keyring_dirs();
    let doomed_keys = wrapped_keys(&keyring_a, &doomed.to_string());
    assert_eq!(
        doomed_keys.len(),
        3,
        "two data key versions and the index key"
    );
    // Before the deletion, the destinations hold the tenant's keys (so the scan below can
    // find them if shredding misses one).
    for d in ["dest-eu", "dest-us"] {
        assert!(!files_containing(&dir.path().join(d), doomed_keys[0].as_bytes()).is_empty());
    }

    // The deletion, carried out at once by the operator.
    live.clock.advance_millis(60_000);
    let destruction = tenancy.destroy(doomed, true).await.expect("destroy");
    assert!(destruction.grace_skipped);
    assert_eq!(destruction.keys.versions, [1, 2]);
    let shredded = service.shred().await;
    assert_eq!(shredded.len(), 2);
    let mut places = Vec::new();
    for outcome in &shredded {
        let done = outcome.result.as_ref().expect("shredded");
        assert!(done.removed >= 2, "{outcome:?}");
        places.push(tenancy::receipt::Place {
            place: "backup destination".into(),
            location: outcome.destination.clone(),
            at: Some(done.at),
            copies_removed: Some(done.removed),
            pending: None,
        });
    }
    let receipt = tenancy.finish(&destruction, places).await.expect("receipt");
    let public = crypto::hex(live.engine.audit_public_key());
    tenancy::receipt::verify(receipt.encode().as_bytes(), Some(&public)).expect("verifies");
    assert_eq!(receipt.document.places.len(), 4);
    assert_eq!(receipt.document.destroyed[0].data_key_versions, [1, 2]);

    // No key of the tenant and no canary anywhere: live data, mirror, keyring copies, blob
    // files, both destinations.
    for key in &doomed_keys {
        let hits = files_containing(dir.path(), key.as_bytes());
        assert!(
            hits.is_empty(),
            "a wrapped key of the deleted tenant in {hits:?}"
        );
    }
    for needle in [CANARY.as_bytes(), CANARY_FILE] {
        let hits = files_containing(dir.path(), needle);
        assert!(hits.is_empty(), "a canary in {hits:?}");
    }
    assert!(wrapped_keys(&keyring_b, &doomed.to_string()).is_empty());

    // The newest backup from before the deletion, and a moment before it, restore the tenant
    // as rows that nothing opens; the other tenant is whole.
    for (label, at) in [("latest", None), ("moment", Some(moment_before))] {
        for dest in &dests {
            let root = dir.path().join(format!("restored-{label}-{}", dest.name()));
            common::restore(&live, dest, &root, at)
                .await
                .unwrap_or_else(|e| panic!("restore {label} from {}: {e}", dest.name()));
            let restored = open_restored(&root, &live.paths.key_file).await;
            let tenancy = tenancy::Tenancy::new(restored.clone());
            assert_eq!(
                tenancy.show(doomed).expect("the rows are there").status,
                tenancy::SHREDDED
            );
            let records = records::Records::new(restored.clone());
            let err = records
                .get_record(doomed, "notes", record)
                .expect_err("the tenant's record does not open");
            assert!(err.to_string().contains("destroyed"), "{err}");
            assert!(restored.is_destroyed(Scope::Tenant(doomed)).expect("keys"));
            assert_eq!(
                restored.state().tenant_digest(kept).expect("digest"),
                kept_digest,
                "the other tenant restores whole"
            );
            restored.shutdown();
            for needle in [CANARY.as_bytes(), CANARY_FILE, doomed_keys[0].as_bytes()] {
                assert!(files_containing(&root, needle).is_empty());
            }
        }
    }

    // After the deletion a full backup verifies and drills clean; shredding again finds
    // nothing left to remove.
    live.records
        .create_record(
            kept,
            "notes",
            UserId::random(),
            &json!({ "title": "after" }),
            None,
        )
        .await
        .expect("the other tenant writes on");
    let full = service.run(backup::service::Run::Full).await;
    assert!(full.iter().all(|o| o.result.is_ok()), "{full:?}");
    for dest in &dests {
        common::verify(dest, &live.paths.key_file, &work)
            .await
            .expect("verify");
        let drill = backup::drill::drill(&live.engine, dest, &work, Arc::new(Quiet))
            .await
            .expect("drill after the deletion");
        assert_eq!(drill.digest, live.digest());
    }
    for outcome in service.shred().await {
        assert_eq!(outcome.result.expect("shred").removed, 0);
    }
    live.engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_subject_is_unreadable_in_every_destination_and_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = live(&dir.path().join("live"), 1).await;
    let tenant = live.tenants[0];
    let dest = local("eu", &dir.path().join("dest"));
    let service = Service::new(
        live.engine.clone(),
        vec![dest.clone()],
        dir.path().join("work"),
        backup::retention::Keep {
            days: 35,
            keyring_days: 7,
        },
    );
    let schema = serde_json::from_value(json!({ "fields": [
        { "name": "patient", "type": "text", "subject": true },
        { "name": "note", "type": "text" }
    ] }))
    .expect("schema");
    live.records
        .create_collection(tenant, "visits", schema)
        .await
        .expect("collection");
    let create = |patient: &'static str, note: String| {
        let records = live.records.clone();
        async move {
            records
                .create_record(
                    tenant,
                    "visits",
                    UserId::random(),
                    &json!({ "patient": patient, "note": note }),
                    None,
                )
                .await
                .expect("create")
                .0
                .id
        }
    };
    let alice = create("p-alice", format!("{CANARY} alice")).await;
    let bob = create("p-bob", "bob".to_owned()).await;
    let full = service.run(backup::service::Run::Full).await;
    assert!(full.iter().all(|o| o.result.is_ok()), "{full:?}");
    let scope = live.engine.subject_scope(tenant, "p-alice").expect("scope");
    let [keyring_a, _] = live.paths.keyring_dirs();
    let subject_keys = wrapped_keys(&keyring_a, &scope);
    assert_eq!(subject_keys.len(), 2);
    assert!(!files_containing(&dir.path().join("dest"), subject_keys[0].as_bytes()).is_empty());

    live.records
        .erase_subject(tenant, "p-alice")
        .await
        .expect("erase");
    let shredded = service.shred().await;
    assert!(shredded[0].result.as_ref().expect("shred").removed >= 1);
    for key in &subject_keys {
        let hits = files_containing(dir.path(), key.as_bytes());
        assert!(hits.is_empty(), "the erased subject's key in {hits:?}");
    }

    // The backup from before the erasure restores Bob, and Alice's record does not open.
    let root = dir.path().join("restored");
    common::restore(&live, &dest, &root, None)
        .await
        .expect("restore");
    let restored = open_restored(&root, &live.paths.key_file).await;
    let records = records::Records::new(restored.clone());
    assert!(records.get_record(tenant, "visits", bob).is_ok());
    let err = records
        .get_record(tenant, "visits", alice)
        .expect_err("an erased subject's record opens");
    assert!(err.to_string().contains("destroyed"), "{err}");
    restored.shutdown();
    live.engine.shutdown();
}
