//! Restoring one tenant's data to a moment over HTTP (system administrators only): records
//! created after the moment go, those deleted after it come back, the other tenant is not
//! touched, the act is in the audit trail with its caller, and restoring to `undo_at` undoes it.

mod common;

use axum::http::StatusCode;
use common::App;
use serde_json::json;

#[tokio::test]
async fn a_tenant_goes_back_to_a_moment_and_the_restore_can_be_undone() {
    let app = App::new().await;
    let mut owners = Vec::new();
    for name in ["Acme", "Other"] {
        let t = app.create_tenant(name).await;
        let owner = app
            .user(&t, &format!("olga@{}.test", name.to_lowercase()), "owner")
            .await;
        let schema = json!({ "name": "notes", "schema": { "fields": [
            { "name": "title", "type": "text", "required": true }
        ]}});
        let r = app
            .post(
                &format!("/api/v1/tenants/{t}/collections"),
                &owner.bearer(),
                schema,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        owners.push((t, owner));
    }
    let (a, owner) = &owners[0];
    let (b, other) = &owners[1];
    let records = |t: &str| format!("/api/v1/tenants/{t}/records/notes");
    let create = |t: String, auth: common::Auth, title: &'static str| {
        let app = &app;
        async move {
            let r = app
                .post(&records(&t), &auth, json!({ "title": title }))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            r.body["id"].as_str().expect("id").to_owned()
        }
    };
    let kept = create(a.clone(), owner.bearer(), "kept").await;
    let deleted = create(a.clone(), owner.bearer(), "deleted later").await;
    app.advance_secs(60);
    let moment = i64::try_from(app.now_secs()).expect("secs") * 1000;
    app.advance_secs(60);
    let later = create(a.clone(), owner.bearer(), "created later").await;
    let r = app
        .send(
            axum::http::Method::DELETE,
            &format!("{}/{deleted}", records(a)),
            &owner.bearer(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let b_record = create(b.clone(), other.bearer(), "other tenant").await;
    let titles = |t: String, auth: common::Auth| {
        let app = &app;
        async move {
            let r = app.get(&records(&t), &auth).await;
            let mut titles: Vec<String> = r.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["data"]["title"].as_str().expect("title").to_owned())
                .collect();
            titles.sort();
            titles
        }
    };
    let before = titles(a.clone(), owner.bearer()).await;
    assert_eq!(before, ["created later", "kept"]);

    // A tenant's owner may not restore; the system administrator may.
    let path = format!("/api/v1/admin/tenants/{a}/restore");
    let r = app
        .post(&path, &owner.bearer(), json!({ "at": moment }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    app.advance_secs(1);
    let r = app.post(&path, &app.root(), json!({ "at": moment })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["records"], 2, "{:?}", r.body);
    let undo_at = r.body["undo_at"].as_i64().expect("undo_at");
    assert_eq!(
        titles(a.clone(), owner.bearer()).await,
        ["deleted later", "kept"]
    );
    let r = app
        .get(&format!("{}/{later}", records(a)), &owner.bearer())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!("{}/{kept}", records(a)), &owner.bearer())
        .await;
    assert_eq!(r.body["data"]["title"], "kept");
    // The other tenant is untouched.
    let r = app
        .get(&format!("{}/{b_record}", records(b)), &other.bearer())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(titles(b.clone(), other.bearer()).await, ["other tenant"]);
    // Audited, with the caller.
    let r = app
        .get("/api/v1/admin/audit?action=tenant.restored", &app.root())
        .await;
    let events = r.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{:?}", r.body);
    assert_eq!(events[0]["resource"]["id"], a.as_str());
    // The root credential here is the bootstrap token: the caller, not `system`.
    assert_eq!(events[0]["actor"]["kind"], "bootstrap", "{:?}", events[0]);
    assert_eq!(events[0]["details"]["moment"], moment);
    assert!(
        events[0]["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("rq_"))
    );

    // Undo: back to just before the restore.
    app.advance_secs(1);
    let r = app.post(&path, &app.root(), json!({ "at": undo_at })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(titles(a.clone(), owner.bearer()).await, before);

    // Refusals: the future, an unknown tenant.
    let future = moment + 10 * 86_400_000;
    let r = app.post(&path, &app.root(), json!({ "at": future })).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["code"], "invalid_moment");
    let r = app
        .post(
            "/api/v1/admin/tenants/tn_00000000000000000000000000000000/restore",
            &app.root(),
            json!({ "at": moment }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
}
