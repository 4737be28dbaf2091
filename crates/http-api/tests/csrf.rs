//! CSRF (P4): a browser session (the `__Host-` cookie) may change state only with the
//! synchronizer token bound to the session and a same-origin `Origin`; bearer clients need
//! neither.

mod common;

use axum::http::StatusCode;
use common::{App, Auth};
use serde_json::json;

const ORIGIN: &str = "https://strongroom.test";

#[tokio::test]
async fn cookie_requests_need_the_token_and_the_same_origin() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let v = app.user(&t, "val@acme.test", "viewer").await;
    let path = "/api/v1/me/tokens";
    let body =
        json!({ "scopes": [{ "collection": "notes", "actions": ["read"] }], "expires_in_days": 1 });
    let cookie = |csrf: Option<&str>, origin: Option<&str>| Auth::Cookie {
        session: v.session.clone(),
        csrf: csrf.map(str::to_owned),
        origin: origin.map(str::to_owned),
    };
    let refused = [
        ("no token, no origin", cookie(None, None)),
        ("no token", cookie(None, Some(ORIGIN))),
        (
            "cross-origin form post",
            cookie(Some(&v.csrf), Some("https://evil.example")),
        ),
        (
            "origin of another port",
            cookie(Some(&v.csrf), Some("https://strongroom.test:444")),
        ),
        (
            "plaintext origin",
            cookie(Some(&v.csrf), Some("http://strongroom.test")),
        ),
        ("no origin", cookie(Some(&v.csrf), None)),
        ("wrong token", cookie(Some("00ff"), Some(ORIGIN))),
    ];
    for (case, auth) in refused {
        let r = app.post(path, &auth, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{case} must be refused: {:?}",
            r.body
        );
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("CSRF"),
            "{case}: {:?}",
            r.body
        );
    }
    let listed = app.get(path, &cookie(None, None)).await;
    assert_eq!(
        listed.body["items"].as_array().expect("items").len(),
        0,
        "refused requests created nothing"
    );

    let ok = app
        .post(path, &cookie(Some(&v.csrf), Some(ORIGIN)), body.clone())
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    let csrf = app.get("/api/v1/auth/csrf", &cookie(None, None)).await;
    assert_eq!(
        csrf.body["csrf_token"],
        v.csrf.as_str(),
        "the token is bound to the session and recomputable"
    );

    // A token from another session does not work for this one.
    let other = app.login(&t, &v.email, &v.password, None).await;
    let foreign = other.body["csrf_token"].as_str().expect("csrf");
    assert_ne!(foreign, v.csrf);
    assert_eq!(
        app.post(path, &cookie(Some(foreign), Some(ORIGIN)), body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Bearer clients are not subject to CSRF (a browser never adds the header by itself).
    assert_eq!(
        app.post(path, &v.bearer(), body).await.status,
        StatusCode::CREATED
    );
}
