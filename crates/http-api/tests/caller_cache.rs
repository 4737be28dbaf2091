//! The caches of authenticated callers (identity) and of opened collections (records) never
//! outlive a change: each test first uses a credential, so that its caller and collection are
//! cached, then makes one change through the API and checks that the very next request sees it.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Auth, Login};
use serde_json::json;

struct Setup {
    app: App,
    t: String,
    owner: Login,
    role: String,
    user: Login,
}

/// A tenant, its owner, a collection `notes`, a custom role with owner-only read + create on it,
/// and a user holding that role whose session has been used (and so cached).
async fn setup() -> Setup {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/collections"),
            &owner.bearer(),
            json!({ "name": "notes", "schema": { "fields": [{ "name": "title", "type": "text" }] } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/roles"),
            &owner.bearer(),
            json!({ "name": "Own notes", "collections": { "notes": { "read": true, "create": true, "owner_only": true } } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let role = r.body["id"].as_str().expect("role").to_owned();
    let user = app.user(&t, "ann@acme.test", &role).await;
    let s = Setup {
        app,
        t,
        owner,
        role,
        user,
    };
    for _ in 0..2 {
        assert_eq!(s.list(&s.user.bearer()).await, StatusCode::OK, "warm-up");
    }
    s
}

impl Setup {
    fn records(&self) -> String {
        format!("/api/v1/tenants/{}/records/notes", self.t)
    }

    async fn list(&self, auth: &Auth) -> StatusCode {
        self.app.get(&self.records(), auth).await.status
    }

    async fn create(&self, auth: &Auth, body: serde_json::Value) -> StatusCode {
        self.app.post(&self.records(), auth, body).await.status
    }
}

#[tokio::test]
async fn logout_ends_a_cached_session() {
    let s = setup().await;
    let r = s
        .app
        .post("/api/v1/auth/logout", &s.user.bearer(), json!({}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(s.list(&s.user.bearer()).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_ends_the_other_cached_sessions() {
    let s = setup().await;
    let r = s
        .app
        .login(&s.t, &s.user.email, &s.user.password, None)
        .await;
    let other = Auth::Bearer(r.body["token"].as_str().expect("token").to_owned());
    assert_eq!(s.list(&other).await, StatusCode::OK);
    let r = s
        .app
        .post(
            "/api/v1/me/password",
            &s.user.bearer(),
            json!({ "current_password": s.user.password, "new_password": "a completely different passphrase 42" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(s.list(&other).await, StatusCode::UNAUTHORIZED);
    assert_eq!(s.list(&s.user.bearer()).await, StatusCode::OK);
}

#[tokio::test]
async fn disabling_a_user_ends_cached_sessions_and_tokens() {
    let s = setup().await;
    let r = s
        .app
        .post(
            "/api/v1/me/tokens",
            &s.user.bearer(),
            json!({ "scopes": [{ "collection": "notes", "actions": ["read"] }], "expires_in_days": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = Auth::Bearer(r.body["secret"].as_str().expect("secret").to_owned());
    assert_eq!(s.list(&token).await, StatusCode::OK);
    let r = s
        .app
        .post(
            &format!("/api/v1/tenants/{}/users/{}/disable", s.t, s.user.user),
            &s.owner.bearer(),
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(s.list(&s.user.bearer()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(s.list(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_cached_token_ends_it() {
    let s = setup().await;
    let r = s
        .app
        .post(
            "/api/v1/me/tokens",
            &s.user.bearer(),
            json!({ "scopes": [{ "collection": "notes", "actions": ["read"] }], "expires_in_days": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["token"]["id"].as_str().expect("id").to_owned();
    let token = Auth::Bearer(r.body["secret"].as_str().expect("secret").to_owned());
    assert_eq!(s.list(&token).await, StatusCode::OK);
    let r = s
        .app
        .send(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{id}"),
            &s.user.bearer(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(s.list(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_role_change_applies_to_the_next_request() {
    let s = setup().await;
    let note = json!({ "title": "mine" });
    assert_eq!(
        s.create(&s.user.bearer(), note.clone()).await,
        StatusCode::CREATED
    );
    let r = s
        .app
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{}/users/{}/role", s.t, s.user.user),
            &s.owner.bearer(),
            Some(json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        s.create(&s.user.bearer(), note).await,
        StatusCode::FORBIDDEN,
        "a viewer may not create"
    );
}

#[tokio::test]
async fn a_role_definition_change_applies_to_the_next_request() {
    let s = setup().await;
    let r = s
        .app
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{}/roles/{}", s.t, s.role),
            &s.owner.bearer(),
            Some(json!({ "name": "Own notes", "collections": { "notes": { "create": true, "owner_only": true } } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        s.list(&s.user.bearer()).await,
        StatusCode::FORBIDDEN,
        "read was taken away"
    );
}

#[tokio::test]
async fn suspending_the_tenant_ends_cached_callers_at_once() {
    let s = setup().await;
    let suspend = |what: &str| format!("/api/v1/admin/tenants/{}/{what}", s.t);
    let r = s
        .app
        .post(&suspend("suspend"), &s.app.root(), json!({}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(s.list(&s.user.bearer()).await, StatusCode::UNAUTHORIZED);
    let r = s
        .app
        .post(&suspend("resume"), &s.app.root(), json!({}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(s.list(&s.user.bearer()).await, StatusCode::OK);
}

#[tokio::test]
async fn a_schema_change_applies_to_the_next_record() {
    let s = setup().await;
    let with_due = json!({ "title": "x", "due": "2026-02-01T10:00:00Z" });
    assert_eq!(
        s.create(&s.user.bearer(), with_due.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "`due` is not declared yet"
    );
    let r = s
        .app
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{}/collections/notes", s.t),
            &s.owner.bearer(),
            Some(json!({ "schema": { "fields": [
                { "name": "title", "type": "text" },
                { "name": "due", "type": "datetime" }
            ] } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        s.create(&s.user.bearer(), with_due).await,
        StatusCode::CREATED,
        "the new schema is used at once"
    );
}

#[tokio::test]
async fn a_deleted_collection_is_gone_at_once() {
    let s = setup().await;
    let r = s
        .app
        .send(
            Method::DELETE,
            &format!("/api/v1/tenants/{}/collections/notes", s.t),
            &s.owner.bearer(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(s.list(&s.user.bearer()).await, StatusCode::NOT_FOUND);
}
