//! Data-subject erasure over HTTP (P15): a collection names a `subject` field; erasing one
//! subject makes its records 404 and leaves another subject's records and a record without a
//! subject exactly as they were; only owners and administrators may erase; a record's subject
//! can not be changed; the act is in the tenant's trail and the system's, naming no subject.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::{Value, json};

#[tokio::test]
async fn erasing_a_subject_removes_its_records_and_nothing_else() {
    let app = App::new().await;
    let t = app.create_tenant("Clinic").await;
    let owner = app.user(&t, "olga@clinic.test", "owner").await;
    let editor = app.user(&t, "ed@clinic.test", "editor").await;
    let schema = json!({ "name": "visits", "schema": { "fields": [
        { "name": "patient", "type": "text", "subject": true },
        { "name": "note", "type": "text" }
    ]}});
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/collections"),
            &owner.bearer(),
            schema,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["schema"]["fields"][0]["subject"], true);
    let records = format!("/api/v1/tenants/{t}/records/visits");
    let mut ids = Vec::new();
    for body in [
        json!({ "patient": "p-alice", "note": "alice 1" }),
        json!({ "patient": "p-alice", "note": "alice 2" }),
        json!({ "patient": "p-bob", "note": "bob 1" }),
        json!({ "note": "nobody" }),
    ] {
        let r = app.post(&records, &editor.bearer(), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }
    let r = app
        .send(
            Method::PUT,
            &format!("{records}/{}", ids[0]),
            &editor.bearer(),
            Some(json!({ "patient": "p-bob", "note": "moved" })),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a record's subject is fixed: {:?}",
        r.body
    );
    let read = |id: &str| {
        let (app, path, auth) = (&app, format!("{records}/{id}"), owner.bearer());
        async move {
            let r = app.get(&path, &auth).await;
            (r.status, r.body)
        }
    };
    let before: Vec<(StatusCode, Value)> = {
        let mut out = Vec::new();
        for id in &ids[2..] {
            out.push(read(id).await);
        }
        out
    };

    let (export, _) = app.export(&t, &owner.bearer()).await;
    let archive = app.state.engine.paths().export_file(export);
    assert!(archive.exists());

    let erase = format!("/api/v1/tenants/{t}/subjects/erase");
    let r = app
        .post(&erase, &editor.bearer(), json!({ "subject": "p-alice" }))
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "editors may not erase: {:?}",
        r.body
    );
    let r = app
        .post(&erase, &owner.bearer(), json!({ "subject": "p-nobody" }))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = app
        .post(&erase, &owner.bearer(), json!({ "subject": "p-alice" }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["records"], 2);
    // The export archive held the subject's records under its passphrase: it is gone.
    assert_eq!(r.body["export_archives"], 1);
    assert!(!archive.exists());
    let r = app
        .get(
            &format!("/api/v1/tenants/{t}/exports/{export}"),
            &owner.bearer(),
        )
        .await;
    assert_eq!(r.body["status"], "expired", "{:?}", r.body);

    for id in &ids[..2] {
        assert_eq!(read(id).await.0, StatusCode::NOT_FOUND);
    }
    let mut after = Vec::new();
    for id in &ids[2..] {
        after.push(read(id).await);
    }
    assert_eq!(after, before, "the other records read as before");
    let r = app
        .post(
            &records,
            &editor.bearer(),
            json!({ "patient": "p-alice", "note": "again" }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::GONE,
        "an erased subject's id is spent: {:?}",
        r.body
    );

    for (path, auth) in [
        (
            format!("/api/v1/tenants/{t}/audit?action=subject.erased"),
            owner.bearer(),
        ),
        (
            "/api/v1/admin/audit?action=subject.erased".to_owned(),
            app.root(),
        ),
    ] {
        let r = app.get(&path, &auth).await;
        let events = r.body["events"].as_array().expect("events");
        assert_eq!(events.len(), 1, "{path}: {:?}", r.body);
        assert!(!events[0].to_string().contains("p-alice"), "{}", events[0]);
    }
}
