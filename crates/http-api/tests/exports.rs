//! Tenant export through the API (P14): an owner exports a tenant of more than 10,000 records
//! in three collections with attachments; the archive, downloaded once through its link and
//! opened by the code `strongroom export open` runs, holds every record and attachment with the
//! live digests, the users and roles without secret material, and the tenant's audit trail; the
//! export's acts are read back from the system's and the tenant's trails. Refusals: a link
//! used twice or late, another tenant, a token, a member without the right, a system
//! administrator, a link to an export not completed.

mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use common::{App, Auth};
use serde_json::{Value, json};
use types::TenantId;

fn exports(t: &str) -> String {
    format!("/api/v1/tenants/{t}/exports")
}

/// Creates `n` records in `collection` through the service, 64 at a time.
async fn seed(app: &App, t: TenantId, collection: &str, owner: types::UserId, n: usize) {
    let mut from = 0;
    while from < n {
        let batch = (from..(from + 64).min(n)).map(|i| {
            let records = app.state.records.clone();
            let body = json!({ "title": format!("{collection} {i}"), "n": i, "note": "=1+1" });
            let name = collection.to_owned();
            tokio::spawn(async move { records.create_record(t, &name, owner, &body, None).await })
        });
        for made in futures_util::future::join_all(batch).await {
            made.expect("join").expect("record");
        }
        from += 64;
    }
}

async fn link(app: &App, t: &str, id: &str, auth: &Auth) -> String {
    let r = app
        .post(&format!("{}/{id}/link", exports(t)), auth, Value::Null)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["url"].as_str().expect("url").to_owned()
}

#[tokio::test]
async fn the_round_trip_holds_every_record_attachment_user_and_event_and_no_secret() {
    let app = App::new().await;
    let t = app.create_tenant("Export Ltd").await;
    let tenant: TenantId = t.parse().expect("tenant");
    let owner = app.user(&t, "owner@example.com", "owner").await;
    let auth = owner.bearer();
    let owner_id: types::UserId = owner.user.parse().expect("user");
    let schema: records::schema::Schema = serde_json::from_value(json!({ "fields": [
        { "name": "title", "type": "text", "indexed": true },
        { "name": "n", "type": "number" },
        { "name": "note", "type": "text" }
    ] }))
    .expect("schema");
    let sizes = [("alpha", 5_000), ("beta", 3_500), ("gamma", 1_600)];
    for (name, n) in sizes {
        let made = app
            .state
            .records
            .create_collection(tenant, name, schema.clone());
        made.await.expect("collection");
        seed(&app, tenant, name, owner_id, n).await;
    }
    let first = app
        .state
        .records
        .list_records(tenant, "alpha", &records::ListOptions::default())
        .expect("list")
        .items;
    for (i, r) in first.iter().take(3).enumerate() {
        let bytes = format!("attachment {i} of {}", r.id).repeat(1000 * (i + 1));
        let name = format!("f{i}.txt");
        let add = app.state.records.add_attachment(
            tenant,
            "alpha",
            r.id,
            &name,
            "text/plain",
            bytes.as_bytes(),
        );
        add.await.expect("attachment");
    }

    let (id, passphrase) = app.export(&t, &auth).await;
    let id = id.to_string();
    let url = link(&app, &t, &id, &auth).await;
    let got = app.get(&url, &Auth::None).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(
        got.headers["content-type"], "application/octet-stream",
        "{:?}",
        got.headers
    );
    let again = app.get(&url, &Auth::None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{:?}", again.body);
    assert_eq!(again.code(), "link_unknown");

    let work = tempfile::tempdir().expect("work");
    let file = work.path().join("export.srx");
    std::fs::write(&file, &got.bytes).expect("write");
    let to = work.path().join("opened");
    let opened = export::open_archive(&file, &passphrase, &to).expect("opens");
    let m = &opened.manifest;
    assert_eq!(m.tenant, t);
    assert_eq!(m.counts.records, 10_100);
    assert_eq!(m.counts.collections, 3);
    assert_eq!(m.counts.attachments, 3);

    // Every record of the live tenant, read through the service, with the archive's digest.
    let archived: BTreeMap<&str, &str> = m
        .records
        .iter()
        .map(|r| (r.id.as_str(), r.sha256.as_str()))
        .collect();
    let mut live = 0;
    for (name, _) in sizes {
        let mut after = None;
        loop {
            let opts = records::ListOptions {
                after: after.take(),
                limit: Some(200),
                ..Default::default()
            };
            let page = app.state.records.list_records(tenant, name, &opts);
            let page = page.expect("page");
            for r in &page.items {
                let digest = crypto::hex(crypto::sha256(&export::record_line(r)));
                let id = r.id.to_string();
                assert_eq!(archived.get(id.as_str()), Some(&digest.as_str()), "{id}");
                live += 1;
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    assert_eq!(live, archived.len());
    for a in &m.attachments {
        let file = app.state.records.download(
            tenant,
            "alpha",
            a.record.parse().expect("record"),
            a.id.parse().expect("attachment"),
        );
        let bytes = file.expect("download").bytes;
        assert_eq!(crypto::hex(crypto::sha256(&bytes)), a.sha256, "{}", a.id);
    }
    let csv = std::fs::read_to_string(to.join("collections/beta.csv")).expect("csv");
    assert!(csv.contains("\"'=1+1\""), "the note is not escaped");
    assert!(!csv.contains(",\"=1+1\""), "an unescaped formula cell");

    // Users and roles, without secret material.
    let users = std::fs::read_to_string(to.join("users.ndjson")).expect("users");
    assert!(users.contains(&owner.user) && users.contains("owner@example.com"));
    for forbidden in ["password", "totp\"", "recovery", "hash", "secret"] {
        assert!(
            !users.contains(forbidden),
            "users.ndjson holds `{forbidden}`"
        );
    }
    let roles = std::fs::read_to_string(to.join("roles.ndjson")).expect("roles");
    assert!(roles.contains("\"owner\"") && roles.contains("ExportTenant"));
    let totp = owner.totp.as_ref().expect("owner's totp");
    let base32 = totp.base32().to_string();
    let canaries: [(&str, &[u8]); 3] = [
        ("password", owner.password.as_bytes()),
        ("TOTP secret (base32)", base32.as_bytes()),
        ("TOTP secret (bytes)", totp.expose()),
    ];
    for (what, needle) in canaries {
        for root in [to.as_path(), app.dir.path()] {
            let hits = common::grep_tree(root, needle);
            assert!(hits.is_empty(), "the {what} is in {hits:?}");
        }
        assert!(
            !got.bytes.windows(needle.len()).any(|w| w == needle),
            "the {what} is in the archive"
        );
    }
    // No record text in the clear in the archive or the data directory's exports.
    assert!(common::grep_tree(&app.dir.path().join("data/exports"), b"alpha 1").is_empty());

    // The tenant's trail, oldest first, including this export's request.
    let trail = std::fs::read_to_string(to.join("audit.ndjson")).expect("audit");
    let events: Vec<Value> = trail
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    assert_eq!(events.len() as u64, m.counts.audit_events);
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["user.created", "login.succeeded", "export.requested"] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let times: Vec<i64> = events.iter().filter_map(|e| e["at"].as_i64()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not oldest first");
}

/// The events of `action` in a trail page.
async fn trail_actions(app: &App, path: &str, auth: &Auth) -> Vec<Value> {
    let r = app.get(path, auth).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    r.body["events"].as_array().expect("events").clone()
}

#[tokio::test]
async fn the_export_acts_are_read_back_from_the_system_and_tenant_trails() {
    let app = App::new().await;
    let t = app.create_tenant("Trail Co").await;
    let owner = app.user(&t, "owner@example.com", "owner").await;
    let auth = owner.bearer();
    let id = app.export(&t, &auth).await.0.to_string();
    let url = link(&app, &t, &id, &auth).await;
    assert_eq!(app.get(&url, &Auth::None).await.status, StatusCode::OK);
    let system = format!("/api/v1/admin/audit?tenant={t}&action=export.*&limit=100");
    let tenant = format!("/api/v1/tenants/{t}/audit?action=export.*&limit=100");
    for (path, who) in [(system, app.root()), (tenant, auth.clone())] {
        let events = trail_actions(&app, &path, &who).await;
        let find = |action: &str| {
            events
                .iter()
                .find(|e| e["action"] == action && e["resource"]["id"] == id.as_str())
                .unwrap_or_else(|| panic!("{path}: no {action} in {events:?}"))
                .clone()
        };
        let requested = find("export.requested");
        assert_eq!(requested["actor"]["id"], owner.user.as_str());
        assert!(requested["details"]["deadline"].as_i64().is_some());
        let completed = find("export.completed");
        assert!(
            completed["details"]["sha256"]
                .as_str()
                .is_some_and(|s| s.len() == 64)
        );
        find("export.downloaded");
        find("export.progress");
    }
}

#[tokio::test]
async fn links_and_requests_are_refused_to_whoever_may_not_have_them() {
    let app = App::new().await;
    let t = app.create_tenant("Alpha").await;
    let other = app.create_tenant("Bravo").await;
    let owner = app.user(&t, "owner@example.com", "owner").await;
    let auth = owner.bearer();
    let admin = app.user(&t, "admin@example.com", "admin").await;
    let editor = app.user(&t, "editor@example.com", "editor").await;
    let stranger = app.user(&other, "owner@bravo.example", "owner").await;
    let id = app.export(&t, &admin.bearer()).await.0.to_string();

    // A link used late: 410 once, then unknown.
    let url = link(&app, &t, &id, &auth).await;
    app.advance_secs(15 * 60 + 1);
    let late = app.get(&url, &Auth::None).await;
    assert_eq!(late.status, StatusCode::GONE, "{:?}", late.body);
    assert_eq!(late.code(), "link_expired");
    assert_eq!(
        app.get(&url, &Auth::None).await.status,
        StatusCode::NOT_FOUND
    );
    let bogus = "/api/v1/export-downloads/srx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        app.get(bogus, &Auth::None).await.status,
        StatusCode::NOT_FOUND
    );

    // A token of the owner, an editor, a system administrator, another tenant's owner.
    let r = app
        .post(
            "/api/v1/me/tokens",
            &auth,
            json!({ "scopes": [{ "collection": "*", "actions": ["read"] }], "expires_in_days": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = Auth::Bearer(r.body["secret"].as_str().expect("secret").to_owned());
    let paths = [
        (Method::POST, exports(&t)),
        (Method::GET, exports(&t)),
        (Method::GET, format!("{}/{id}", exports(&t))),
        (Method::POST, format!("{}/{id}/link", exports(&t))),
    ];
    for (who, caller) in [
        ("a token", &token),
        ("an editor", &editor.bearer()),
        ("the system administrator", &app.root()),
        ("another tenant's owner", &stranger.bearer()),
    ] {
        for (method, path) in &paths {
            let r = app.send(method.clone(), path, caller, None).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{who}: {method} {path}: {:?}",
                r.body
            );
        }
    }
    // Another tenant's export id on one's own path: not found.
    let mine = format!("{}/{id}", exports(&other));
    let r = app.get(&mine, &stranger.bearer()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = app
        .post(&format!("{mine}/link"), &stranger.bearer(), Value::Null)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    // Nothing was created by the refused requests.
    let r = app.get(&exports(&t), &auth).await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(1),
        "{:?}",
        r.body
    );

    // A link to an export still running is a conflict.
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let held = std::sync::Arc::new(tokio::sync::Mutex::new(Some(held)));
    app.state.exports.set_hook(std::sync::Arc::new(move |_| {
        let held = std::sync::Arc::clone(&held);
        Box::pin(async move {
            if let Some(wait) = held.lock().await.take() {
                let _ = wait.await;
            }
        })
    }));
    let r = app.post(&exports(&t), &auth, Value::Null).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let running = r.body["export"]["id"].as_str().expect("id").to_owned();
    let r = app
        .post(
            &format!("{}/{running}/link", exports(&t)),
            &auth,
            Value::Null,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    release.send(()).expect("release");
    let tenant: TenantId = t.parse().expect("tenant");
    let done = app
        .state
        .exports
        .finished(tenant, running.parse().expect("id"));
    assert_eq!(done.await.expect("done").status, "completed");
}
