//! Tenant deletion by crypto-shredding on a live engine (P15, issue 7): a request suspends the
//! tenant and can be cancelled within its grace period; carried out before the grace period it
//! is refused; afterwards the tenant's keys are gone from both keyring copies (no wrapped key
//! string of its scope is left in any file), its rows and blob files are purged, the other
//! tenant is untouched, the journal still replays (a rebuild gives the live state), the trail
//! reads on, and the signed receipt verifies while any altered byte breaks it.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{contains, files_under, open, options};
use engine::{AuditQuery, AuditScope, Paths, Scope};
use records::Records;
use serde_json::json;
use tenancy::Tenancy;
use tenancy::deletion::Destruction;
use types::{ManualClock, RecordId, TenantId, Timestamp, UserId};

const DAY_MS: i64 = 86_400_000;
const CANARY_TEXT: &str = "CANARY-shred-7f3a9c";
const CANARY_FILE: &[u8] = b"CANARY-file-bytes-51d2e8";

fn schema() -> records::schema::Schema {
    serde_json::from_value(json!({ "fields": [
        { "name": "title", "type": "text", "indexed": true }
    ] }))
    .expect("schema")
}

/// Every wrapped key string (data key versions and index key) of `scope` in a keyring file.
fn wrapped_keys(keyring_file: &Path, scope: &str) -> Vec<String> {
    let text = std::fs::read_to_string(keyring_file).expect("keyring");
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

async fn fill(records: &Records, tenant: TenantId, label: &str) -> RecordId {
    records
        .create_collection(tenant, "notes", schema())
        .await
        .expect("collection");
    let mut last = None;
    for n in 0..20 {
        let body = json!({ "title": format!("{label} {CANARY_TEXT} {n}") });
        let (view, _) = records
            .create_record(tenant, "notes", UserId::random(), &body, None)
            .await
            .expect("record");
        last = Some(view.id);
    }
    let record = last.expect("a record");
    records
        .add_attachment(
            tenant,
            "notes",
            record,
            "a.bin",
            "application/pdf",
            CANARY_FILE,
        )
        .await
        .expect("attachment");
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenant_is_shredded_everywhere_and_the_rest_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = Paths {
        data: dir.path().join("data"),
        mirror: dir.path().join("mirror"),
        key_file: dir.path().join("k").join("master.key"),
    };
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let engine = open(&paths, options(&clock, true)).await;
    // Seven records per purge entry: the 20 records go in three chunks, then the rest.
    let mut tenancy = Tenancy::new(engine.clone());
    tenancy.purge_chunk = 7;
    let records = Records::new(engine.clone());
    let doomed = tenancy.create("Doomed Ltd").await.expect("tenant").id;
    let kept = tenancy.create("Kept Ltd").await.expect("tenant").id;
    let doomed_record = fill(&records, doomed, "doomed").await;
    let kept_record = fill(&records, kept, "kept").await;
    let kept_digest = engine.state().tenant_digest(kept).expect("digest");
    let [keyring_a, keyring_b] = paths.keyring_dirs();
    let doomed_keys = wrapped_keys(&keyring_a.join("keyring.json"), &doomed.to_string());
    assert_eq!(
        doomed_keys.len(),
        2,
        "one data key version and the index key"
    );

    // The request suspends the tenant; resuming it is refused; a cancellation restores it.
    let (requested, code) = tenancy
        .request_deletion(doomed, "system administrator test", Some(7))
        .await
        .expect("request");
    assert_eq!(requested.status, "pending");
    assert_eq!(requested.execute_after - requested.requested_at, 7 * DAY_MS);
    assert_eq!(requested.deadline - requested.requested_at, 30 * DAY_MS);
    assert_eq!(tenancy.show(doomed).expect("show").status, "suspended");
    assert!(matches!(
        tenancy
            .set_status(doomed, engine::TenantStatus::Active)
            .await,
        Err(tenancy::Error::DeletionPending(_))
    ));
    assert!(matches!(
        tenancy.request_deletion(doomed, "again", None).await,
        Err(tenancy::Error::DeletionPending(_))
    ));
    for grace in [0, 31] {
        assert!(matches!(
            tenancy.request_deletion(kept, "x", Some(grace)).await,
            Err(tenancy::Error::InvalidGrace)
        ));
    }
    // The cancellation code shown once cancels it; another code does not.
    assert!(matches!(
        tenancy
            .cancel_deletion_with_code(doomed, "src_not-the-code")
            .await,
        Err(tenancy::Error::WrongCancelCode)
    ));
    assert_eq!(tenancy.show(doomed).expect("show").status, "suspended");
    let cancelled = tenancy
        .cancel_deletion_with_code(doomed, code.expose())
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, "cancelled");
    assert_eq!(tenancy.show(doomed).expect("show").status, "active");
    assert!(matches!(
        tenancy.destroy(doomed, false).await,
        Err(tenancy::Error::NoPendingDeletion(_))
    ));

    // Requested again: before the grace period ends it is neither due nor carried out. Its
    // deadline is reported once it is 7 days away.
    tenancy
        .request_deletion(doomed, "system administrator test", Some(7))
        .await
        .expect("request");
    assert!(
        tenancy
            .deadlines_near(tenancy::deletion::WARN_DAYS * DAY_MS)
            .expect("near")
            .is_empty()
    );
    assert!(
        tenancy
            .deadlines_near(30 * DAY_MS - 1)
            .expect("near")
            .is_empty()
    );
    assert_eq!(tenancy.deadlines_near(30 * DAY_MS).expect("near").len(), 1);
    clock.advance_millis(7 * DAY_MS - 1);
    assert!(tenancy.deletions_due().expect("due").is_empty());
    assert!(matches!(
        tenancy.destroy(doomed, false).await,
        Err(tenancy::Error::GraceNotOver { .. })
    ));
    assert!(records.get_record(doomed, "notes", doomed_record).is_ok());
    clock.advance_millis(1);
    assert!(matches!(
        tenancy.cancel_deletion(doomed).await,
        Err(tenancy::Error::DeletionStarted(_))
    ));
    let due = tenancy.deletions_due().expect("due");
    assert_eq!(due.iter().map(|d| d.tenant).collect::<Vec<_>>(), [doomed]);

    let head = engine.journal().head().seq;
    let destruction: Destruction = tenancy.destroy(doomed, false).await.expect("destroy");
    assert_eq!(
        engine.journal().head().seq - head,
        4,
        "20 records in chunks of 7 (three entries), then TenantDeleted"
    );
    assert!(!destruction.grace_skipped);
    assert_eq!(destruction.keys.versions, [1]);
    assert_eq!(destruction.purged.blob_files, 1);
    assert!(
        destruction.purged.state_rows >= 22,
        "{:?}",
        destruction.purged
    );

    // Gone from the state, the keyring (both copies, in memory) and the blob files.
    assert!(matches!(
        tenancy.show(doomed),
        Err(tenancy::Error::NotFound(_))
    ));
    assert_eq!(engine.state().tenant_rows(doomed).expect("rows"), 0);
    assert!(records.get_record(doomed, "notes", doomed_record).is_err());
    assert!(
        engine
            .is_destroyed(Scope::Tenant(doomed))
            .expect("destroyed")
    );
    for dir in [&keyring_a, &keyring_b] {
        assert!(wrapped_keys(&dir.join("keyring.json"), &doomed.to_string()).is_empty());
    }
    assert!(
        engine
            .seal_field(
                engine::fields::FieldRef {
                    scope: Scope::Tenant(doomed),
                    table: "t",
                    row: "r",
                    field: "f",
                },
                b"x"
            )
            .is_err()
    );

    // The other tenant is untouched and goes on working.
    assert_eq!(
        engine.state().tenant_digest(kept).expect("digest"),
        kept_digest
    );
    assert!(records.get_record(kept, "notes", kept_record).is_ok());
    records
        .create_record(
            kept,
            "notes",
            UserId::random(),
            &json!({ "title": "after" }),
            None,
        )
        .await
        .expect("the other tenant writes on");

    // The receipt verifies with the audit key; any altered byte fails.
    let receipt = tenancy
        .finish(&destruction, Vec::new())
        .await
        .expect("receipt");
    let stored = tenancy
        .deletion_view(doomed)
        .expect("deletion")
        .receipt
        .expect("stored receipt");
    assert_eq!(stored, receipt.encode());
    let public = crypto::hex(engine.audit_public_key());
    let verified = tenancy::receipt::verify(stored.as_bytes(), Some(&public)).expect("verifies");
    assert_eq!(verified.document.tenant, doomed);
    assert_eq!(verified.document.places.len(), 2, "both keyring copies");
    let altered = stored.replacen("\"blob_files\":1", "\"blob_files\":0", 1);
    assert_ne!(altered, stored);
    assert!(tenancy::receipt::verify(altered.as_bytes(), Some(&public)).is_err());
    assert_eq!(
        tenancy.deletion_view(doomed).expect("view").status,
        "completed"
    );
    assert!(tenancy.deletions_due().expect("due").is_empty());
    assert!(
        tenancy
            .deadlines_near(30 * DAY_MS)
            .expect("near")
            .is_empty(),
        "a completed request has no deadline left"
    );

    // The trail reads on: the deletion's events are in the system scope.
    let trail = engine
        .audit_page(&AuditQuery {
            scope: AuditScope::All,
            from: None,
            to: None,
            actor: None,
            action: None,
            outcome: None,
            before: None,
            limit: 500,
        })
        .expect("trail");
    for action in [
        "tenant.deletion_requested",
        "tenant.deletion_cancelled",
        "tenant.keys_destroyed",
        "tenant.deleted",
    ] {
        assert!(
            trail.iter().any(|r| r.event.action == action),
            "{action} missing from the trail"
        );
    }
    assert!(
        !trail
            .iter()
            .any(|r| r.event.actor.tenant.as_deref() == Some(doomed.to_string().as_str())),
        "an event of the deleted tenant still reads"
    );

    // No file holds the canaries or any wrapped key of the tenant.
    let live_digest = engine.state().digest().expect("digest");
    engine.shutdown();
    drop((tenancy, records, engine));
    for file in &files_under(dir.path()) {
        let bytes = std::fs::read(file).expect("read");
        for needle in [CANARY_TEXT.as_bytes(), CANARY_FILE] {
            assert!(!contains(&bytes, needle), "canary in {}", file.display());
        }
        for key in &doomed_keys {
            assert!(
                !contains(&bytes, key.as_bytes()),
                "a wrapped key of the deleted tenant is in {}",
                file.display()
            );
        }
    }

    // The journal replays without the tenant: the rebuilt state is the live one, and the
    // engine opens on it.
    let report = {
        let (paths, options) = (paths.clone(), options(&clock, false));
        tokio::task::spawn_blocking(move || engine::rebuild_state(&paths, options))
            .await
            .expect("join")
            .expect("rebuild")
    };
    assert!(report.identical(), "{report:?}");
    let engine = open(&paths, options(&clock, false)).await;
    assert_eq!(engine.state().digest().expect("digest"), live_digest);
    assert!(
        Records::new(engine.clone())
            .get_record(kept, "notes", kept_record)
            .is_ok()
    );
    engine.shutdown();
}
