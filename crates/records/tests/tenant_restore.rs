//! Point-in-time restore of one tenant on the live system (P11, issue 6): three tenants with
//! collections, records, an idempotent creation and an attachment, changed on a manual clock
//! with every tenant's digest recorded after each change; one tenant restored to earlier
//! moments gets exactly the digest of each moment, the others keep theirs, the restore is one
//! audited journal entry, the system goes on working, a second restore undoes the first, and a
//! rebuild from the journal gives the live state.

mod common;

use std::sync::Arc;

use common::options;
use engine::model::TENANT_DATA_KINDS;
use engine::{AuditQuery, AuditScope, Engine, Paths};
use records::Records;
use serde_json::json;
use types::{ManualClock, RecordId, TenantId, Timestamp, UserId};

struct Live {
    _dir: tempfile::TempDir,
    paths: Paths,
    clock: Arc<ManualClock>,
    engine: Engine,
    records: Records,
    tenants: [TenantId; 3],
}

/// One recorded moment: its time, the journal head, and every tenant's digest.
#[derive(Debug, Clone, Copy)]
struct Moment {
    at: i64,
    seq: u64,
    digests: [[u8; 32]; 3],
}

async fn live() -> Live {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = Paths {
        data: dir.path().join("data"),
        mirror: dir.path().join("mirror"),
        key_file: dir.path().join("k").join("master.key"),
    };
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let engine = {
        let (paths, options) = (paths.clone(), options(&clock, true));
        tokio::task::spawn_blocking(move || Engine::open(&paths, options).map(|o| o.engine))
            .await
            .expect("join")
            .expect("engine")
    };
    let tenancy = tenancy::Tenancy::new(engine.clone());
    let records = Records::new(engine.clone());
    let mut tenants = Vec::new();
    for name in ["Alpha", "Beta", "Gamma"] {
        let tenant = tenancy.create(name).await.expect("tenant").id;
        records
            .create_collection(tenant, "notes", schema())
            .await
            .expect("collection");
        tenants.push(tenant);
    }
    Live {
        _dir: dir,
        paths,
        clock,
        engine,
        records,
        tenants: tenants.try_into().expect("three tenants"),
    }
}

fn schema() -> records::schema::Schema {
    serde_json::from_value(json!({ "fields": [
        { "name": "title", "type": "text", "indexed": true },
        { "name": "n", "type": "number" }
    ] }))
    .expect("schema")
}

impl Live {
    /// Moves the clock on, so that every entry has a moment of its own.
    fn tick(&self) {
        self.clock.advance_millis(7);
    }

    fn moment(&self) -> Moment {
        let state = self.engine.state();
        Moment {
            at: self.engine.now().millis(),
            seq: self.engine.journal().head().seq,
            digests: self
                .tenants
                .map(|t| state.tenant_digest(t).expect("tenant digest")),
        }
    }

    fn digest(&self, tenant: usize) -> [u8; 32] {
        self.engine
            .state()
            .tenant_digest(self.tenants[tenant])
            .expect("tenant digest")
    }

    async fn create(&self, tenant: usize, collection: &str, n: i64) -> RecordId {
        self.tick();
        let body = json!({ "title": format!("note {n}"), "n": n });
        let (view, _) = self
            .records
            .create_record(
                self.tenants[tenant],
                collection,
                UserId::random(),
                &body,
                None,
            )
            .await
            .expect("create");
        view.id
    }

    async fn update(&self, tenant: usize, id: RecordId, n: i64) {
        self.tick();
        let body = json!({ "title": format!("changed {n}"), "n": n });
        self.records
            .update_record(self.tenants[tenant], "notes", id, &body, false, None)
            .await
            .expect("update");
    }

    async fn delete(&self, tenant: usize, id: RecordId) {
        self.tick();
        self.records
            .delete_record(self.tenants[tenant], "notes", id, None)
            .await
            .expect("delete");
    }

    /// A few creations, updates and deletions in every tenant, a moment recorded after each.
    async fn workload(&self, round: i64, moments: &mut Vec<Moment>) -> Vec<RecordId> {
        let mut kept = Vec::new();
        for t in 0..3 {
            let first = self.create(t, "notes", round * 100 + t as i64).await;
            moments.push(self.moment());
            let second = self.create(t, "notes", round * 100 + 10 + t as i64).await;
            moments.push(self.moment());
            self.update(t, first, -round).await;
            moments.push(self.moment());
            self.delete(t, second).await;
            moments.push(self.moment());
            kept.push(first);
        }
        kept
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_goes_back_to_each_moment_the_others_stay_and_the_restore_is_undone() {
    let live = live().await;
    let a = live.tenants[0];
    let mut moments = vec![live.moment()];

    // Round 1, then the data kinds besides records in A: an idempotent creation and an
    // attachment on a record that round 2 deletes.
    let kept = live.workload(1, &mut moments).await;
    live.tick();
    live.records
        .create_record(
            a,
            "notes",
            UserId::random(),
            &json!({ "title": "once", "n": 1 }),
            Some(("tester", "key-1")),
        )
        .await
        .expect("idempotent create");
    moments.push(live.moment());
    let with_file = live.create(0, "notes", 42).await;
    live.tick();
    live.records
        .add_attachment(a, "notes", with_file, "a.pdf", "application/pdf", b"%PDF-1")
        .await
        .expect("attachment");
    moments.push(live.moment());
    let t1 = *moments.last().expect("moment");
    let data_t1 = live
        .engine
        .state()
        .tenant_data(a, TENANT_DATA_KINDS)
        .expect("data");
    let counts = [
        data_t1.docs.len(),
        data_t1.records.len(),
        data_t1.index_rows(),
    ];
    assert_eq!(
        counts,
        [3, 3, 3],
        "collection, idempotency, attachment; records"
    );

    // Round 2: more changes everywhere, a collection created in A, the record with the file
    // deleted.
    live.workload(2, &mut moments).await;
    live.tick();
    live.records
        .create_collection(a, "later", schema())
        .await
        .expect("collection");
    live.create(0, "later", 7).await;
    live.update(0, kept[0], 99).await;
    live.delete(0, with_file).await;
    moments.push(live.moment());
    let before = live.moment();
    for t in 0..3 {
        assert_ne!(
            before.digests[t], t1.digests[t],
            "tenant {t} did not change after t1"
        );
    }

    // Restore A to t1.
    live.tick();
    let restored = live
        .engine
        .restore_tenant_data(a, t1.at)
        .await
        .expect("restore");
    assert_eq!(restored.cut, t1.seq, "cut of {}: {restored:?}", t1.at);
    assert_eq!(restored.entry.position.seq, before.seq + 1, "{restored:?}");
    assert_eq!(live.engine.journal().head().seq, before.seq + 1);
    assert_eq!(
        (
            restored.counts.collections,
            restored.counts.idempotency,
            restored.counts.attachments,
            restored.counts.records,
            restored.counts.index_entries,
        ),
        (1, 1, 1, 3, 3)
    );
    assert_eq!(live.digest(0), t1.digests[0], "A is not as it was at t1");
    for t in [1, 2] {
        assert_eq!(
            live.digest(t),
            before.digests[t],
            "tenant {t} changed by A's restore"
        );
    }
    let audit = live
        .engine
        .audit_page(&AuditQuery {
            scope: AuditScope::Tenant(a),
            from: None,
            to: None,
            actor: None,
            action: Some("tenant.restored"),
            outcome: None,
            before: None,
            limit: 10,
        })
        .expect("audit");
    assert_eq!(audit.len(), 1, "{audit:?}");
    let event = &audit[0].event;
    assert_eq!(
        event.resource.as_ref().and_then(|r| r.id.clone()),
        Some(a.to_string())
    );
    assert_eq!(event.details["cut"], json!(t1.seq), "{event:?}");
    assert_eq!(event.details["moment"], json!(t1.at), "{event:?}");
    assert_eq!(event.details["records"], json!(3), "{event:?}");

    // The live system goes on: what was deleted after t1 is back and opens, what was created
    // after it is gone, and new records can be written.
    let back = live
        .records
        .get_record(a, "notes", with_file)
        .expect("a record deleted after t1 is back");
    assert_eq!(back.version, 1);
    assert!(
        live.records.collection(a, "later").is_err(),
        "'later' is back"
    );
    live.create(0, "notes", 1000).await;
    live.create(1, "notes", 1001).await;
    let after_new = live.moment();

    // Undo: back to the moment just before the restore's entry.
    live.tick();
    let undone = live
        .engine
        .restore_tenant_data(a, restored.entry.at.millis() - 1)
        .await
        .expect("undo");
    assert_eq!(undone.cut, before.seq, "{undone:?}");
    assert_eq!(
        live.digest(0),
        before.digests[0],
        "A is not as before the restore"
    );
    assert_eq!(
        live.digest(1),
        after_new.digests[1],
        "B changed by the undo"
    );
    assert_eq!(
        live.digest(2),
        after_new.digests[2],
        "C changed by the undo"
    );

    // Other recorded moments (none after the first restore), each a restore of its own.
    for (i, m) in moments.iter().enumerate().step_by(5) {
        live.tick();
        let others = [live.digest(1), live.digest(2)];
        let r = live
            .engine
            .restore_tenant_data(a, m.at)
            .await
            .unwrap_or_else(|e| panic!("restore to moment {i} ({}): {e}", m.at));
        assert_eq!(r.cut, m.seq, "moment {i}: cut");
        assert_eq!(live.digest(0), m.digests[0], "moment {i}: A differs");
        assert_eq!([live.digest(1), live.digest(2)], others, "moment {i}");
    }

    // Apply is deterministic: the state rebuilt from the journal is the live one.
    let live_digest = live.engine.state().digest().expect("digest");
    let Live {
        _dir,
        paths,
        clock,
        engine,
        records,
        ..
    } = live;
    engine.shutdown();
    drop((engine, records));
    let report =
        tokio::task::spawn_blocking(move || engine::rebuild_state(&paths, options(&clock, false)))
            .await
            .expect("join")
            .expect("rebuild");
    assert!(report.identical(), "{report:?}");
    assert_eq!(report.rebuilt, live_digest);
}
