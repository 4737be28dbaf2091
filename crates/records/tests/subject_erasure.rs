//! Data-subject erasure (P15, issue 7): records in two collections name their data subject;
//! their bodies, attachment bytes and names are sealed under the subject's own key. Erasing one
//! subject destroys that key in both keyring copies and purges the subject's rows and files:
//! what was sealed under it (as the journal and old backups still hold it) no longer opens,
//! every other record — another subject's, one without a subject, another tenant's — reads as
//! before, and a rebuild from the journal gives the live state.

mod common;

use std::sync::Arc;

use common::{contains, files_under, open, options};
use engine::{Paths, Scope};
use records::Records;
use serde_json::{Value, json};
use types::{ManualClock, RecordId, TenantId, Timestamp, UserId};

const CANARY_FILE: &[u8] = b"CANARY-subject-file-6e1f";

fn schema(fields: Value) -> records::schema::Schema {
    serde_json::from_value(json!({ "fields": fields })).expect("schema")
}

struct World {
    records: Records,
}

impl World {
    async fn create(&self, tenant: TenantId, collection: &str, body: Value) -> RecordId {
        self.records
            .create_record(tenant, collection, UserId::random(), &body, None)
            .await
            .expect("create")
            .0
            .id
    }

    fn read(&self, tenant: TenantId, collection: &str, id: RecordId) -> Option<Value> {
        self.records
            .get_record(tenant, collection, id)
            .ok()
            .map(|v| serde_json::to_value(&v).expect("json"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_subject_leaves_its_records_unreadable_and_every_other_record_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = Paths {
        data: dir.path().join("data"),
        mirror: dir.path().join("mirror"),
        key_file: dir.path().join("k").join("master.key"),
    };
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let engine = open(&paths, options(&clock, true)).await;
    let tenancy = tenancy::Tenancy::new(engine.clone());
    let w = World {
        records: Records::new(engine.clone()),
    };
    let (a, b) = (
        tenancy.create("Clinic").await.expect("tenant").id,
        tenancy.create("Other").await.expect("tenant").id,
    );
    for t in [a, b] {
        w.records
            .create_collection(
                t,
                "patients",
                schema(json!([
                    { "name": "patient_id", "type": "text", "subject": true, "indexed": true },
                    { "name": "name", "type": "text" }
                ])),
            )
            .await
            .expect("patients");
        w.records
            .create_collection(
                t,
                "visits",
                schema(json!([
                    { "name": "patient", "type": "text", "subject": true },
                    { "name": "note", "type": "text" }
                ])),
            )
            .await
            .expect("visits");
    }
    // Two subject fields in one schema, or one on a number, are refused.
    for bad in [
        json!([{ "name": "a", "type": "text", "subject": true }, { "name": "b", "type": "text", "subject": true }]),
        json!([{ "name": "a", "type": "number", "subject": true }]),
    ] {
        assert!(
            w.records
                .create_collection(a, "bad", schema(bad))
                .await
                .is_err()
        );
    }

    let alice = [
        (
            "patients",
            w.create(
                a,
                "patients",
                json!({ "patient_id": "p-alice", "name": "Alice Example" }),
            )
            .await,
        ),
        (
            "visits",
            w.create(
                a,
                "visits",
                json!({ "patient": "p-alice", "note": "alice visit 1" }),
            )
            .await,
        ),
        (
            "visits",
            w.create(
                a,
                "visits",
                json!({ "patient": "p-alice", "note": "alice visit 2" }),
            )
            .await,
        ),
    ];
    let others = [
        (
            a,
            "patients",
            w.create(
                a,
                "patients",
                json!({ "patient_id": "p-bob", "name": "Bob Example" }),
            )
            .await,
        ),
        (
            a,
            "visits",
            w.create(
                a,
                "visits",
                json!({ "patient": "p-bob", "note": "bob visit" }),
            )
            .await,
        ),
        (
            a,
            "visits",
            w.create(a, "visits", json!({ "note": "a visit about nobody" }))
                .await,
        ),
        // The same subject id in another tenant is another subject.
        (
            b,
            "patients",
            w.create(
                b,
                "patients",
                json!({ "patient_id": "p-alice", "name": "Alice Elsewhere" }),
            )
            .await,
        ),
    ];
    let (_, visit) = alice[1];
    w.records
        .add_attachment(
            a,
            "visits",
            visit,
            "alice-scan.pdf",
            "application/pdf",
            CANARY_FILE,
        )
        .await
        .expect("attachment");
    let (_, bob_visit) = (others[1].1, others[1].2);
    w.records
        .add_attachment(
            a,
            "visits",
            bob_visit,
            "bob-scan.pdf",
            "application/pdf",
            b"%PDF bob",
        )
        .await
        .expect("attachment");

    // A record's subject is fixed: naming another is refused.
    let err = w
        .records
        .update_record(
            a,
            "visits",
            visit,
            &json!({ "patient": "p-bob", "note": "moved" }),
            false,
            None,
        )
        .await
        .expect_err("another subject");
    assert!(err.to_string().contains("data subject"), "{err}");
    w.records
        .update_record(
            a,
            "visits",
            visit,
            &json!({ "patient": "p-alice", "note": "alice visit 1b" }),
            false,
            None,
        )
        .await
        .expect("the same subject");

    // What the subject's data is sealed as, kept as an old copy would keep it.
    let sealed: Vec<(String, Vec<u8>)> = alice
        .iter()
        .map(|(_, id)| {
            let row = engine
                .state()
                .get_record(&id.to_string())
                .expect("row")
                .expect("row");
            (row.id, row.body)
        })
        .collect();
    let scope = engine.subject_scope(a, "p-alice").expect("scope");
    for (_, body) in &sealed {
        assert_eq!(
            engine::fields::subject_of(body).map(|(s, _)| s),
            Some(scope.as_str())
        );
    }
    let before: Vec<Option<Value>> = others.iter().map(|(t, c, id)| w.read(*t, c, *id)).collect();
    assert!(before.iter().all(Option::is_some));
    let other_tenant = engine.state().tenant_digest(b).expect("digest");

    let before_erasure = engine.now().millis();
    clock.advance_millis(1_000);
    let erased = w.records.erase_subject(a, "p-alice").await.expect("erase");
    assert_eq!((erased.records, erased.attachments), (3, 1));
    // A restore of the tenant to a moment before the erasure does not bring the subject back.
    clock.advance_millis(1_000);
    let restored = engine
        .restore_tenant_data(a, before_erasure)
        .await
        .expect("restore");
    assert_eq!(
        restored.counts.records, 3,
        "Bob's two and the one about nobody; none of Alice's three"
    );

    // The subject's records are gone, and their sealed bodies no longer open anywhere.
    for (collection, id) in alice {
        assert!(
            w.read(a, collection, id).is_none(),
            "{collection}/{id} still reads"
        );
    }
    for (row, body) in &sealed {
        let err = engine
            .open_field(
                engine::fields::FieldRef {
                    scope: Scope::Tenant(a),
                    table: "records",
                    row,
                    field: "body",
                },
                body,
            )
            .expect_err("an erased subject's body opens");
        assert!(err.is_shredded(), "{err}");
    }
    // Everything else reads exactly as before.
    let after: Vec<Option<Value>> = others.iter().map(|(t, c, id)| w.read(*t, c, *id)).collect();
    assert_eq!(after, before);
    assert_eq!(
        engine.state().tenant_digest(b).expect("digest"),
        other_tenant
    );
    let bob_files = w
        .records
        .list_attachments(a, "visits", bob_visit)
        .expect("list");
    assert_eq!(bob_files.len(), 1);
    // An erased subject's id is spent: its key is destroyed, so a new record naming it is
    // refused; other subjects go on.
    assert!(
        w.records
            .create_record(
                a,
                "patients",
                UserId::random(),
                &json!({ "patient_id": "p-alice", "name": "again" }),
                None
            )
            .await
            .is_err(),
        "a new record about an erased subject"
    );
    w.create(
        a,
        "patients",
        json!({ "patient_id": "p-carol", "name": "Carol" }),
    )
    .await;
    assert!(matches!(
        w.records.erase_subject(a, "p-nobody").await,
        Err(records::Error::NotFound(_))
    ));

    // No file holds the subject's keys or file bytes; a rebuild gives the live state.
    let keyring =
        std::fs::read_to_string(paths.keyring_dirs()[0].join("keyring.json")).expect("keyring");
    let doc: Value = serde_json::from_str(&keyring).expect("json");
    assert!(doc["document"]["scopes"][&scope]["destroyed_at"].is_i64());
    assert!(doc["document"]["scopes"][&scope]["index_key"].is_null());
    let digest = engine.state().digest().expect("digest");
    engine.shutdown();
    drop((w, tenancy, engine));
    for file in files_under(dir.path()) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(!contains(&bytes, CANARY_FILE), "{}", file.display());
    }
    let report = {
        let (paths, options) = (paths.clone(), options(&clock, false));
        tokio::task::spawn_blocking(move || engine::rebuild_state(&paths, options))
            .await
            .expect("join")
            .expect("rebuild")
    };
    assert!(report.identical(), "{report:?}");
    let engine = open(&paths, options(&clock, false)).await;
    assert_eq!(engine.state().digest().expect("digest"), digest);
    engine.shutdown();
}
