//! Sessions (P4) with an injected clock: a new secret at every login, idle and absolute expiry,
//! logout, list and revoke own sessions, and the events that end sessions at once (disable,
//! password change).

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Auth};
use serde_json::json;

async fn viewer(app: &App) -> (String, common::Login) {
    let t = app.create_tenant("Acme").await;
    let login = app.user(&t, "val@acme.test", "viewer").await;
    (t, login)
}

#[tokio::test]
async fn every_login_gets_a_new_secret_and_cookie_flags() {
    let app = App::new().await;
    let (t, first) = viewer(&app).await;
    let r = app.login(&t, &first.email, &first.password, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let second = r.body["token"].as_str().expect("token");
    assert_ne!(
        second, first.session,
        "a login must never reuse a session secret"
    );
    assert!(second.len() >= 4 + 43, "256-bit secret expected: {second}");
    let cookie = r
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie");
    for part in [
        "__Host-strongroom-session=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(part), "cookie lacks {part}: {cookie}");
    }
    assert!(
        !cookie.contains("Domain"),
        "__Host- cookies carry no Domain: {cookie}"
    );
}

#[tokio::test]
async fn idle_timeout_ends_a_session_and_activity_extends_it() {
    let app = App::new().await;
    let (_, v) = viewer(&app).await;
    for _ in 0..3 {
        app.advance_secs(29 * 60);
        assert_eq!(
            app.get("/api/v1/me", &v.bearer()).await.status,
            StatusCode::OK,
            "activity within 30 min keeps it alive"
        );
    }
    app.advance_secs(30 * 60);
    assert_eq!(
        app.get("/api/v1/me", &v.bearer()).await.status,
        StatusCode::UNAUTHORIZED,
        "idle 30 min"
    );
}

#[tokio::test]
async fn absolute_lifetime_ends_an_active_session() {
    let app = App::new().await;
    let (_, v) = viewer(&app).await;
    let mut alive_for = 0;
    while alive_for < 12 * 60 * 60 - 20 * 60 {
        app.advance_secs(20 * 60);
        alive_for += 20 * 60;
        assert_eq!(
            app.get("/api/v1/me", &v.bearer()).await.status,
            StatusCode::OK,
            "alive at {alive_for} s"
        );
    }
    app.advance_secs(20 * 60);
    assert_eq!(
        app.get("/api/v1/me", &v.bearer()).await.status,
        StatusCode::UNAUTHORIZED,
        "past 12 h"
    );
}

#[tokio::test]
async fn logout_ends_only_that_session() {
    let app = App::new().await;
    let (t, v) = viewer(&app).await;
    let other = app.login(&t, &v.email, &v.password, None).await.body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = app
        .post("/api/v1/auth/logout", &v.bearer(), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", &v.bearer()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", &Auth::Bearer(other)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn own_sessions_are_listed_and_revocable() {
    let app = App::new().await;
    let (t, v) = viewer(&app).await;
    let other = app.login(&t, &v.email, &v.password, None).await.body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let list = app.get("/api/v1/me/sessions", &v.bearer()).await;
    let items = list.body["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let victim = items.iter().find(|s| s["current"] == false).expect("other")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{victim}"),
            &v.bearer(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", &Auth::Bearer(other)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Someone else's session id is not found, not revoked.
    let intruder = app.user(&t, "ivan@acme.test", "viewer").await;
    let theirs = app
        .get("/api/v1/me/sessions", &intruder.bearer())
        .await
        .body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{theirs}"),
            &v.bearer(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/me", &intruder.bearer()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn disabling_a_user_ends_every_session_at_once() {
    let app = App::new().await;
    let (t, v) = viewer(&app).await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/users/{}/disable", v.user),
            &owner.bearer(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        app.get("/api/v1/me", &v.bearer()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.login(&t, &v.email, &v.password, None).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a disabled user cannot log in"
    );
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/users/{}/enable", v.user),
            &owner.bearer(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", &v.bearer()).await.status,
        StatusCode::UNAUTHORIZED,
        "old sessions stay dead"
    );
    assert_eq!(
        app.login(&t, &v.email, &v.password, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let app = App::new().await;
    let (t, v) = viewer(&app).await;
    let other = app.login(&t, &v.email, &v.password, None).await.body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let new_password = "a completely different passphrase 42";
    let wrong = app
        .post(
            "/api/v1/me/password",
            &v.bearer(),
            json!({ "current_password": "wrong wrong wrong", "new_password": new_password }),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::FORBIDDEN,
        "re-authentication required"
    );
    let r = app
        .post(
            "/api/v1/me/password",
            &v.bearer(),
            json!({ "current_password": v.password, "new_password": new_password }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        app.get("/api/v1/me", &v.bearer()).await.status,
        StatusCode::OK,
        "the current session stays"
    );
    assert_eq!(
        app.get("/api/v1/me", &Auth::Bearer(other)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&t, &v.email, &v.password, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&t, &v.email, new_password, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_suspended_tenant_ends_its_sessions() {
    let app = App::new().await;
    let (t, v) = viewer(&app).await;
    let r = app
        .post(
            &format!("/api/v1/admin/tenants/{t}/suspend"),
            &app.root(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", &v.bearer()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&t, &v.email, &v.password, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}
