//! The derived state store: writes are transactional, the digest sees every change and only
//! changes, pagination is by id, and a reset rewinds everything.

use state_sqlite::{
    Applied, Doc, DocCount, RecordRow, StateStore, TenantData, TenantRow, TenantStatus,
};
use types::{TenantId, Timestamp};

fn tenant(i: i64) -> TenantRow {
    TenantRow {
        id: TenantId::random(),
        name_sealed: vec![i as u8; 40],
        status: TenantStatus::Active,
        created_at: Timestamp(1_000 + i),
        updated_at: Timestamp(1_000 + i),
    }
}

fn open() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StateStore::open(&dir.path().join("state.sqlite")).expect("open");
    (dir, store)
}

#[test]
fn digest_changes_with_every_write_and_only_then() {
    let (_dir, store) = open();
    let empty = store.digest().expect("digest");
    assert_eq!(store.digest().expect("digest"), empty, "digest is stable");
    let row = tenant(1);
    store.write(|tx| tx.create_tenant(&row)).expect("write");
    let one = store.digest().expect("digest");
    assert_ne!(one, empty);
    store
        .write(|tx| {
            tx.update_tenant_status(row.id, TenantStatus::Suspended, Timestamp(5))
                .map(|_| ())
        })
        .expect("write");
    assert_ne!(store.digest().expect("digest"), one);
    store
        .write(|tx| {
            tx.set_applied(Applied {
                seq: 9,
                hash: [7; 32],
            })
        })
        .expect("write");
    let applied = store.applied().expect("applied");
    assert_eq!((applied.seq, applied.hash), (9, [7; 32]));
}

#[test]
fn a_failed_transaction_leaves_nothing() {
    let (_dir, store) = open();
    let row = tenant(1);
    let before = store.digest().expect("digest");
    let result = store.write(|tx| {
        tx.create_tenant(&row)?;
        tx.create_tenant(&row) // duplicate primary key: the whole transaction rolls back
    });
    assert!(result.is_err());
    assert_eq!(store.digest().expect("digest"), before);
    assert!(store.find_tenant(row.id).expect("find").is_none());
}

#[test]
fn listing_pages_by_id_and_reset_rewinds() {
    let (_dir, store) = open();
    let rows: Vec<TenantRow> = (0..25).map(tenant).collect();
    store
        .write(|tx| rows.iter().try_for_each(|r| tx.create_tenant(r)))
        .expect("write");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_tenants(after, 7).expect("list");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.id));
    }
    let mut expected: Vec<TenantId> = rows.iter().map(|r| r.id).collect();
    expected.sort();
    assert_eq!(seen, expected);

    let doc = |id: &str, lookup: u8| Doc {
        kind: "token",
        id: id.to_owned(),
        realm: "tokens".to_owned(),
        lookup: Some(vec![lookup; 32]),
        parent: Some("us_owner".to_owned()),
        body: b"{}".to_vec(),
    };
    store.write(|tx| tx.put_doc(&doc("tk_1", 3))).expect("doc");
    assert_eq!(
        store.find_doc("token", "tokens", &[3; 32]).expect("find"),
        Some(doc("tk_1", 3))
    );
    assert_eq!(
        store.find_doc("token", "tokens", &[4; 32]).expect("find"),
        None
    );
    assert_eq!(
        store.children("token", "us_owner").expect("children").len(),
        1
    );
    // The lookup key is unique per kind and realm.
    assert!(store.write(|tx| tx.put_doc(&doc("tk_2", 3))).is_err());
    store
        .write(|tx| tx.delete_doc("token", "tk_1").map(|_| ()))
        .expect("delete");
    assert_eq!(store.get_doc("token", "tk_1").expect("get"), None);

    let fresh = {
        let (_d, s) = open();
        s.digest().expect("digest")
    };
    store.reset().expect("reset");
    assert_eq!(
        store.digest().expect("digest"),
        fresh,
        "reset equals a fresh store"
    );
    assert_eq!(store.applied().expect("applied").seq, 0);
}

#[test]
fn count_docs_counts_only_documents_matching_every_condition() {
    let (_dir, store) = open();
    let doc = |kind: &'static str, id: &str, body: &str| Doc {
        kind,
        id: id.to_owned(),
        realm: "sessions".to_owned(),
        lookup: None,
        parent: None,
        body: body.as_bytes().to_vec(),
    };
    let docs = [
        doc(
            "session",
            "se_live",
            r#"{"expires_at":200,"revoked_at":null}"#,
        ),
        doc("session", "se_no_member", r#"{"expires_at":300}"#),
        doc(
            "session",
            "se_revoked",
            r#"{"expires_at":200,"revoked_at":50}"#,
        ),
        doc(
            "session",
            "se_expired",
            r#"{"expires_at":100,"revoked_at":null}"#,
        ),
        doc(
            "token",
            "tk_other_kind",
            r#"{"expires_at":200,"revoked_at":null}"#,
        ),
    ];
    store
        .write(|tx| docs.iter().try_for_each(|d| tx.put_doc(d)))
        .expect("docs");
    for (now, want) in [(100, 2), (250, 1), (300, 0)] {
        let live = DocCount {
            kind: "session",
            unset: &["revoked_at"],
            above: &[("expires_at", now)],
        };
        assert_eq!(store.count_docs(&live).expect("count"), want, "at {now}");
    }
    let all = DocCount {
        kind: "session",
        unset: &[],
        above: &[],
    };
    assert_eq!(store.count_docs(&all).expect("count"), 4);
}

/// Writes tenant `i` and moves the position to `i + 1`, in one transaction.
fn write_tenant_at(store: &StateStore, i: i64) {
    let row = tenant(i);
    store
        .write(|tx| {
            tx.create_tenant(&row)?;
            tx.set_applied(Applied {
                seq: i as u64 + 1,
                hash: [i as u8; 32],
            })
        })
        .expect("write");
}

#[test]
fn a_snapshot_is_the_whole_state_at_one_position_while_writes_go_on() {
    let (dir, store) = open();
    let store = std::sync::Arc::new(store);
    for i in 0..200 {
        write_tenant_at(&store, i);
    }
    // A writer keeps going while snapshots are taken; each snapshot must be a state some
    // position had: its row count equals its position.
    let writer = {
        let store = std::sync::Arc::clone(&store);
        std::thread::spawn(move || {
            for i in 200..2_000 {
                write_tenant_at(&store, i);
            }
        })
    };
    for n in 0..5 {
        let path = dir.path().join(format!("snapshot-{n}.sqlite"));
        let at = store.snapshot(&path).expect("snapshot");
        let copy = StateStore::open(&path).expect("open the copy");
        assert_eq!(copy.applied().expect("applied").seq, at.seq);
        let tenants = copy.counts().expect("counts")[0].1;
        assert_eq!(
            tenants as u64, at.seq,
            "snapshot {n} is the state of one position"
        );
        assert!(
            store.snapshot(&path).is_err(),
            "an existing file is not overwritten"
        );
    }
    writer.join().expect("writer");
    let path = dir.path().join("final.sqlite");
    let at = store.snapshot(&path).expect("snapshot");
    assert_eq!(at.seq, 2_000);
    let copy = StateStore::open(&path).expect("open the copy");
    assert_eq!(
        copy.digest().expect("digest"),
        store.digest().expect("digest")
    );
}

const DATA: &[&str] = &["collection", "record_note"];

/// A tenant with a data document, an identity document of its realm, a session in a shared
/// realm whose parent is its user, and records with index rows.
fn write_owned_rows(store: &StateStore, row: &TenantRow, tag: u8) {
    let realm = row.id.to_string();
    let doc = |kind: &'static str, id: String, realm: &str, parent: Option<String>| Doc {
        kind,
        id,
        realm: realm.to_owned(),
        lookup: Some(vec![tag; 32]),
        parent,
        body: vec![tag; 8],
    };
    let user = format!("us_{realm}");
    store
        .write(|tx| {
            tx.create_tenant(row)?;
            tx.put_doc(&doc("collection", format!("co_{realm}"), &realm, None))?;
            tx.put_doc(&doc("user", user.clone(), &realm, None))?;
            tx.put_doc(&doc(
                "session",
                format!("se_{realm}"),
                "sessions",
                Some(user.clone()),
            ))?;
            for i in 0..3u8 {
                let rec = RecordRow {
                    id: format!("rc_{realm}_{i}"),
                    tenant: realm.clone(),
                    collection: format!("co_{realm}"),
                    owner: user.clone(),
                    created_at: i64::from(i),
                    updated_at: i64::from(i),
                    version: 1,
                    body: vec![tag, i],
                };
                tx.put_record(&rec, &[vec![10 + i; 32], vec![tag; 32]])?;
            }
            Ok(())
        })
        .expect("write");
}

#[test]
fn replacing_a_tenants_data_touches_only_its_data_rows() {
    let (_dir, store) = open();
    let (a, b) = (tenant(1), tenant(2));
    write_owned_rows(&store, &a, 1);
    write_owned_rows(&store, &b, 2);
    let a_data = store.tenant_data(a.id, DATA).expect("data");
    assert_eq!(
        (a_data.docs.len(), a_data.records.len(), a_data.index_rows()),
        (1, 3, 6),
        "{a_data:?}"
    );
    let (a_digest, b_digest) = (
        store.tenant_digest(a.id).expect("digest"),
        store.tenant_digest(b.id).expect("digest"),
    );
    assert_ne!(a_digest, b_digest);

    // A session of A's user is A's: its digest sees it.
    let session = store
        .get_doc("session", &format!("se_{}", a.id))
        .expect("get");
    let mut changed = session.clone().expect("session");
    changed.body = b"revoked".to_vec();
    store.write(|tx| tx.put_doc(&changed)).expect("write");
    assert_ne!(store.tenant_digest(a.id).expect("digest"), a_digest);
    store
        .write(|tx| tx.put_doc(&session.clone().expect("session")))
        .expect("write");
    assert_eq!(store.tenant_digest(a.id).expect("digest"), a_digest);

    // Empty data: A's data rows go, its identity and every row of B stay.
    let user = store.get_doc("user", &format!("us_{}", a.id)).expect("get");
    store
        .write(|tx| tx.replace_tenant_data(a.id, DATA, &TenantData::default()))
        .expect("replace");
    assert_eq!(
        store.tenant_data(a.id, DATA).expect("data"),
        TenantData::default()
    );
    assert_eq!(
        store.get_doc("user", &format!("us_{}", a.id)).expect("get"),
        user
    );
    assert_eq!(store.tenant_digest(b.id).expect("digest"), b_digest);

    // Back: the same digest as before. Rows naming B, or a kind that is not data, are written
    // into A or skipped; a record id B holds is skipped.
    let mut hostile = a_data.clone();
    hostile.docs[0].realm = b.id.to_string();
    hostile.records[0].row.tenant = b.id.to_string();
    let mut foreign = store.tenant_data(b.id, DATA).expect("data").records[0].clone();
    foreign.row.body = b"taken".to_vec();
    hostile.records.push(foreign);
    let mut identity = hostile.docs[0].clone();
    identity.kind = "user";
    identity.id = "us_intruder".to_owned();
    hostile.docs.push(identity);
    store
        .write(|tx| tx.replace_tenant_data(a.id, DATA, &hostile))
        .expect("replace");
    assert_eq!(store.tenant_digest(a.id).expect("digest"), a_digest);
    assert_eq!(store.tenant_digest(b.id).expect("digest"), b_digest);
    assert_eq!(store.get_doc("user", "us_intruder").expect("get"), None);
}
