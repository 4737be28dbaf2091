//! Records over HTTP: collections with schemas, CRUD with ETags and If-Match, validation listing
//! every failing field, equality filters on blind indexes, cursor pagination, owner-only rules,
//! idempotent creation under concurrency, injection-shaped values round-tripping unchanged, and
//! no plaintext at rest.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::{App, Auth, Login};
use serde_json::{Value, json};

async fn setup(app: &App) -> (String, Login) {
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let schema = json!({ "name": "notes", "schema": { "fields": [
        { "name": "title", "type": "text", "required": true, "indexed": true, "max_length": 200 },
        { "name": "n", "type": "number", "indexed": true },
        { "name": "done", "type": "boolean", "indexed": true },
        { "name": "due", "type": "datetime" },
        { "name": "data", "type": "json" }
    ]}});
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/collections"),
            &owner.bearer(),
            schema,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (t, owner)
}

fn path(t: &str) -> String {
    format!("/api/v1/tenants/{t}/records/notes")
}

#[tokio::test]
async fn crud_with_etags_and_versions() {
    let app = App::new().await;
    let (t, owner) = setup(&app).await;
    let created = app
        .post(
            &path(&t),
            &owner.bearer(),
            json!({ "title": "first", "n": 1, "due": "2026-02-01T10:00:00+02:00" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        created.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    assert_eq!(created.body["data"]["due"], "2026-02-01T08:00:00.000Z");
    let id = created.body["id"].as_str().expect("id").to_owned();
    let one = format!("{}/{id}", path(&t));
    let got = app.get(&one, &owner.bearer()).await;
    assert_eq!(got.body["data"]["title"], "first");

    // PATCH with the current ETag works; a stale one gets 412 and changes nothing.
    let patch = |etag: &str, body: Value| {
        let (app, one, owner) = (&app, one.clone(), owner.clone());
        let etag = etag.to_owned();
        async move {
            let mut req = axum::http::Request::builder()
                .method(Method::PATCH)
                .uri(&one)
                .header("host", "strongroom.test")
                .header("authorization", format!("Bearer {}", owner.session))
                .header("content-type", "application/json")
                .header("if-match", etag);
            let _ = &mut req;
            let req = req
                .body(axum::body::Body::from(body.to_string()))
                .expect("req");
            let response = tower::ServiceExt::oneshot(app.router.clone(), req)
                .await
                .expect("call");
            response.status()
        }
    };
    assert_eq!(
        patch("\"1\"", json!({ "done": true })).await,
        StatusCode::OK
    );
    assert_eq!(
        patch("\"1\"", json!({ "done": false })).await,
        StatusCode::PRECONDITION_FAILED
    );
    let got = app.get(&one, &owner.bearer()).await;
    assert_eq!(
        (
            got.body["version"].as_u64(),
            got.body["data"]["done"].as_bool()
        ),
        (Some(2), Some(true))
    );

    // PUT replaces the whole body; a missing required field is refused.
    let r = app
        .send(Method::PUT, &one, &owner.bearer(), Some(json!({ "n": 5 })))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .send(
            Method::PUT,
            &one,
            &owner.bearer(),
            Some(json!({ "title": "replaced" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.body["data"].get("done").is_none(),
        "PUT replaces: {:?}",
        r.body
    );

    let r = app.send(Method::DELETE, &one, &owner.bearer(), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&one, &owner.bearer()).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn validation_lists_every_failing_field() {
    let app = App::new().await;
    let (t, owner) = setup(&app).await;
    let r = app
        .post(
            &path(&t),
            &owner.bearer(),
            json!({ "n": "one", "done": 3, "due": "soon", "extra": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "validation_failed");
    let paths: BTreeSet<&str> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["path"].as_str().expect("path"))
        .collect();
    for p in ["/title", "/n", "/done", "/due", "/extra"] {
        assert!(paths.contains(p), "{p} missing from {paths:?}");
    }
    let list = app.get(&path(&t), &owner.bearer()).await;
    assert_eq!(
        list.body["items"].as_array().expect("items").len(),
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn filters_sorting_and_cursors() {
    let app = App::new().await;
    let (t, owner) = setup(&app).await;
    for i in 0..25 {
        app.advance_secs(1);
        let r = app
            .post(
                &path(&t),
                &owner.bearer(),
                json!({ "title": format!("t{}", i % 5), "n": i, "done": i % 2 == 0 }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = app
        .get(&format!("{}?filter[title]=t3", path(&t)), &owner.bearer())
        .await;
    let ns: Vec<i64> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|x| x["data"]["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(ns, vec![3, 8, 13, 18, 23]);
    let r = app
        .get(
            &format!("{}?filter[title]=t3&filter[done]=true", path(&t)),
            &owner.bearer(),
        )
        .await;
    assert_eq!(r.body["items"].as_array().expect("items").len(), 2);
    let r = app
        .get(&format!("{}?filter[n]=7.0", path(&t)), &owner.bearer())
        .await;
    assert_eq!(r.body["items"][0]["data"]["n"], 7);
    let r = app
        .get(&format!("{}?filter[data]=x", path(&t)), &owner.bearer())
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "json fields are not indexed"
    );

    let mut seen = Vec::new();
    let mut url = format!("{}?limit=10&sort=-created", path(&t));
    for _ in 0..5 {
        let r = app.get(&url, &owner.bearer()).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        seen.extend(
            r.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|x| x["data"]["n"].as_i64().expect("n")),
        );
        match r.body["next"].as_str() {
            Some(next) => url = format!("{}?limit=10&sort=-created&after={next}", path(&t)),
            None => break,
        }
    }
    assert_eq!(seen, (0..25).rev().collect::<Vec<_>>());
    let r = app
        .get(&format!("{}?after=garbage", path(&t)), &owner.bearer())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn owner_only_roles_see_and_touch_only_their_own_records() {
    let app = App::new().await;
    let (t, owner) = setup(&app).await;
    let role = app
        .post(&format!("/api/v1/tenants/{t}/roles"), &owner.bearer(), json!({ "name": "Own notes", "collections": { "notes": { "read": true, "create": true, "update": true, "delete": true, "owner_only": true } } }))
        .await;
    let role_id = role.body["id"].as_str().expect("role").to_owned();
    let a = app.user(&t, "ann@acme.test", &role_id).await;
    let b = app.user(&t, "bob@acme.test", &role_id).await;
    let mine = app
        .post(&path(&t), &a.bearer(), json!({ "title": "ann's" }))
        .await;
    let theirs = app
        .post(&path(&t), &b.bearer(), json!({ "title": "bob's" }))
        .await;
    assert_eq!(
        (mine.status, theirs.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let list = app.get(&path(&t), &a.bearer()).await;
    let titles: Vec<&str> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|x| x["data"]["title"].as_str().expect("t"))
        .collect();
    assert_eq!(titles, vec!["ann's"]);
    let other = format!("{}/{}", path(&t), theirs.body["id"].as_str().expect("id"));
    assert_eq!(
        app.get(&other, &a.bearer()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(
            Method::PATCH,
            &other,
            &a.bearer(),
            Some(json!({ "title": "x" }))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(Method::DELETE, &other, &a.bearer(), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&other, &b.bearer()).await.body["data"]["title"],
        "bob's",
        "unchanged"
    );
    // The owner (built-in role) sees both.
    assert_eq!(
        app.get(&path(&t), &owner.bearer()).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        2
    );
}

#[tokio::test]
async fn another_tenants_records_are_refused() {
    let app = App::new().await;
    let (t, owner) = setup(&app).await;
    let created = app
        .post(&path(&t), &owner.bearer(), json!({ "title": "secret" }))
        .await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let other = app.create_tenant("Other").await;
    let intruder = app.user(&other, "ivy@other.test", "owner").await;
    for (method, url) in [
        (Method::GET, path(&t)),
        (Method::GET, format!("{}/{id}", path(&t))),
        (Method::DELETE, format!("{}/{id}", path(&t))),
        (Method::GET, format!("/api/v1/tenants/{t}/collections")),
    ] {
        let r = app
            .send(method.clone(), &url, &intruder.bearer(), None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {url}: {:?}",
            r.body
        );
    }
    // Tenant B's path with tenant A's record id: not found, never A's data.
    let r = app
        .get(
            &format!("/api/v1/tenants/{other}/records/notes/{id}"),
            &intruder.bearer(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("{}/{id}", path(&t)), &owner.bearer())
            .await
            .body["data"]["title"],
        "secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_sent_100_times_concurrently_creates_one_record() {
    let app = std::sync::Arc::new(App::new().await);
    let (t, owner) = setup(&app).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, t, owner) = (std::sync::Arc::clone(&app), t.clone(), owner.clone());
            tokio::spawn(async move {
                let req = axum::http::Request::builder()
                    .method(Method::POST)
                    .uri(path(&t))
                    .header("host", "strongroom.test")
                    .header("authorization", format!("Bearer {}", owner.session))
                    .header("content-type", "application/json")
                    .header("idempotency-key", "order-42")
                    .body(axum::body::Body::from(
                        json!({ "title": "once" }).to_string(),
                    ))
                    .expect("req");
                let response = tower::ServiceExt::oneshot(app.router.clone(), req)
                    .await
                    .expect("call");
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .expect("body");
                let body: Value = serde_json::from_slice(&body).expect("json");
                (status, body["id"].as_str().unwrap_or_default().to_owned())
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    let mut created = 0;
    for task in tasks {
        let (status, id) = task.await.expect("join");
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}"
        );
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(id);
    }
    assert_eq!(
        (created, ids.len()),
        (1, 1),
        "one record, the others replayed"
    );
    let list = app.get(&path(&t), &owner.bearer()).await;
    assert_eq!(list.body["items"].as_array().expect("items").len(), 1);
    // The same key with another body is refused; without a key a new record is made.
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri(path(&t))
        .header("host", "strongroom.test")
        .header("authorization", format!("Bearer {}", owner.session))
        .header("content-type", "application/json")
        .header("idempotency-key", "order-42")
        .body(axum::body::Body::from(
            json!({ "title": "twice" }).to_string(),
        ))
        .expect("req");
    let response = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(&path(&t), &owner.bearer(), json!({ "title": "twice" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "no key: a new record");
}

#[tokio::test]
async fn injection_shaped_values_round_trip_and_touch_nothing_else() {
    let app = App::new().await;
    let (t, owner) = setup(&app).await;
    let bait = app
        .post(&path(&t), &owner.bearer(), json!({ "title": "bait" }))
        .await;
    let bait_id = bait.body["id"].as_str().expect("id").to_owned();
    let payloads = [
        "'; DROP TABLE records; --",
        "\" OR 1=1 --",
        "../../etc/passwd",
        "%00\u{0}null",
        "{\"$ne\": null}",
        "Robert'); DELETE FROM docs;--",
        "<script>alert(1)</script>",
        "\\u0000 \\\" \\\\",
    ];
    for p in payloads {
        let r = app
            .post(
                &path(&t),
                &owner.bearer(),
                json!({ "title": p, "data": { "k": p } }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{p:?}: {:?}", r.body);
        let id = r.body["id"].as_str().expect("id").to_owned();
        let back = app
            .get(&format!("{}/{id}", path(&t)), &owner.bearer())
            .await;
        assert_eq!(back.body["data"]["title"], p, "round trip");
        assert_eq!(back.body["data"]["data"]["k"], p);
        let encoded: String = p.bytes().map(|b| format!("%{b:02X}")).collect();
        let found = app
            .get(
                &format!("{}?filter[title]={encoded}", path(&t)),
                &owner.bearer(),
            )
            .await;
        let ids: Vec<&str> = found.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|x| x["id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            ids,
            vec![id.as_str()],
            "the filter finds exactly the record for {p:?}"
        );
    }
    let bait_now = app
        .get(&format!("{}/{bait_id}", path(&t)), &owner.bearer())
        .await;
    assert_eq!(bait_now.body["data"]["title"], "bait");
    assert_eq!(
        app.get(&format!("{}?limit=200", path(&t)), &owner.bearer())
            .await
            .body["items"]
            .as_array()
            .expect("items")
            .len(),
        payloads.len() + 1
    );
}

#[tokio::test]
async fn record_canary_is_not_on_disk() {
    let app = App::new().await;
    let (t, owner) = setup(&app).await;
    let canary = "RECORD-CANARY-93c1d7";
    for i in 0..10 {
        let r = app
            .post(
                &path(&t),
                &owner.bearer(),
                json!({ "title": format!("{canary} {i}"), "data": { "secret": canary } }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let hits = common::grep_tree(app.dir.path(), canary.as_bytes());
    assert!(hits.is_empty(), "canary found in {hits:?}");
    let _ = Auth::None;
}

#[tokio::test]
async fn hostile_bodies_are_refused_with_clear_errors() {
    let app = App::new().await;
    let (t, owner) = setup(&app).await;
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let body = format!(r#"{{"title":"x","data":{deep}}}"#);
    let req = |content_type: &str, body: String| {
        axum::http::Request::builder()
            .method(Method::POST)
            .uri(path(&t))
            .header("host", "strongroom.test")
            .header("authorization", format!("Bearer {}", owner.session))
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .expect("req")
    };
    let call = |r: axum::http::Request<axum::body::Body>| async {
        let response = tower::ServiceExt::oneshot(app.router.clone(), r)
            .await
            .expect("call");
        let status = response.status();
        let ct = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, ct)
    };
    assert_eq!(
        call(req("application/json", body)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too deep"
    );
    assert_eq!(
        call(req("text/plain", r#"{"title":"x"}"#.into())).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let (status, ct) = call(req(
        "application/json",
        format!(r#"{{"title":"{}"}}"#, "x".repeat(2 << 20)),
    ))
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(ct, "application/problem+json; charset=utf-8");
    // A normal JSON answer carries its charset.
    let r = app.get(&path(&t), &owner.bearer()).await;
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        app.get(&path(&t), &owner.bearer()).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
}
