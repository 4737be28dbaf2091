//! The harness itself works: a tenant, an owner with TOTP, a viewer, a token.

mod common;

use axum::http::StatusCode;
use common::App;
use serde_json::json;

#[tokio::test]
async fn owner_and_viewer_can_log_in() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olivia@acme.test", "owner").await;
    assert!(owner.totp.is_some(), "owners must enrol a second factor");
    let me = app.get("/api/v1/me", &owner.bearer()).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.body["user"]["role"], "owner");
    let viewer = app.user(&t, "victor@acme.test", "viewer").await;
    assert!(viewer.totp.is_none());
    let users = app
        .get(&format!("/api/v1/tenants/{t}/users"), &owner.bearer())
        .await;
    assert_eq!(users.status, StatusCode::OK);
    assert_eq!(users.body["items"].as_array().expect("items").len(), 2);
    let denied = app
        .get(&format!("/api/v1/tenants/{t}/users"), &viewer.bearer())
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let token = app
        .post("/api/v1/me/tokens", &viewer.bearer(), json!({ "scopes": [{ "collection": "notes", "actions": ["read"] }], "expires_in_days": 30 }))
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{:?}", token.body);
    let too_much = app
        .post("/api/v1/me/tokens", &viewer.bearer(), json!({ "scopes": [{ "collection": "notes", "actions": ["delete"] }], "expires_in_days": 30 }))
        .await;
    assert_eq!(
        too_much.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a viewer's token cannot delete"
    );
}
