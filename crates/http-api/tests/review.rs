//! The access review (P5): every user, role, token and live session of a tenant with last
//! activity, stale ones flagged after 90 days; token use is recorded; tokens expire and are
//! revocable.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Auth};
use serde_json::json;

#[tokio::test]
async fn review_lists_everything_and_flags_the_stale() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let role = app
        .post(
            &format!("/api/v1/tenants/{t}/roles"),
            &owner.bearer(),
            json!({ "name": "Auditor", "collections": { "*": { "read": true } } }),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{:?}", role.body);
    let v = app.user(&t, "val@acme.test", "viewer").await;
    let token = app
        .post("/api/v1/me/tokens", &v.bearer(), json!({ "scopes": [{ "collection": "*", "actions": ["read"] }], "expires_in_days": 365, "label": "ci" }))
        .await;
    let secret = token.body["secret"].as_str().expect("secret").to_owned();
    let token_id = token.body["token"]["id"].as_str().expect("id").to_owned();

    let review = app
        .get(
            &format!("/api/v1/tenants/{t}/access-review"),
            &owner.bearer(),
        )
        .await;
    assert_eq!(review.status, StatusCode::OK, "{:?}", review.body);
    assert_eq!(review.body["roles"][0]["name"], "Auditor");
    assert_eq!(review.body["users"].as_array().expect("users").len(), 2);
    assert_eq!(review.body["tokens"].as_array().expect("tokens").len(), 1);
    // The owner's enrolment session, the owner's login after enrolment, the viewer's login.
    assert_eq!(
        review.body["sessions"].as_array().expect("sessions").len(),
        3
    );
    assert!(
        review.body["users"]
            .as_array()
            .expect("users")
            .iter()
            .all(|u| u["stale"] == false)
    );
    assert_eq!(
        review.body["tokens"][0]["last_used_at"],
        serde_json::Value::Null
    );

    // Using the token records its last use.
    assert_eq!(
        app.get("/api/v1/me", &Auth::Bearer(secret.clone()))
            .await
            .status,
        StatusCode::OK
    );
    let review = app
        .get(
            &format!("/api/v1/tenants/{t}/access-review"),
            &owner.bearer(),
        )
        .await;
    assert!(
        review.body["tokens"][0]["last_used_at"].is_i64(),
        "{:?}",
        review.body["tokens"]
    );

    // 91 days later everything unused is stale; the owner's activity keeps the owner fresh.
    app.advance_secs(91 * 24 * 3600);
    let owner_now = app
        .login(&t, &owner.email, &owner.password, owner.totp.as_deref())
        .await;
    let owner_now = Auth::Bearer(owner_now.body["token"].as_str().expect("token").to_owned());
    let review = app
        .get(&format!("/api/v1/tenants/{t}/access-review"), &owner_now)
        .await;
    let stale: Vec<(String, bool)> = review.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| {
            (
                u["email"].as_str().expect("email").to_owned(),
                u["stale"].as_bool().expect("stale"),
            )
        })
        .collect();
    assert!(
        stale.contains(&("val@acme.test".to_owned(), true)),
        "{stale:?}"
    );
    assert!(
        stale.contains(&("olga@acme.test".to_owned(), false)),
        "{stale:?}"
    );
    assert_eq!(review.body["tokens"][0]["stale"], true);
    assert_eq!(
        review.body["sessions"].as_array().expect("sessions").len(),
        1,
        "idle sessions are gone"
    );

    // Revocation is immediate; the viewer cannot revoke it again nor see others' tokens.
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/tenants/{t}/tokens/{token_id}"),
            &owner_now,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        app.get("/api/v1/me", &Auth::Bearer(secret)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tokens_expire_and_never_exceed_a_year() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let v = app.user(&t, "val@acme.test", "viewer").await;
    let ask = |days: u32| json!({ "scopes": [{ "collection": "notes", "actions": ["read"] }], "expires_in_days": days });
    assert_eq!(
        app.post("/api/v1/me/tokens", &v.bearer(), ask(366))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post("/api/v1/me/tokens", &v.bearer(), ask(0))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let token = app.post("/api/v1/me/tokens", &v.bearer(), ask(1)).await;
    let secret = Auth::Bearer(token.body["secret"].as_str().expect("secret").to_owned());
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::OK);
    app.advance_secs(24 * 3600);
    assert_eq!(
        app.get("/api/v1/me", &secret).await.status,
        StatusCode::UNAUTHORIZED,
        "expired after a day"
    );
}
