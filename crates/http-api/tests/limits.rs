//! Rate limits (P20): per session or token, per tenant and per client IP, each answering 429
//! with `Retry-After` and a problem body, each independent of the others, and lifted when the
//! window passes.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Auth};

async fn statuses(app: &App, auth: &Auth, n: usize, peer: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            app.send_from(Method::GET, "/api/v1/me", auth, None, peer)
                .await
                .status
                .as_u16(),
        );
    }
    out
}

#[tokio::test]
async fn each_credential_has_its_own_budget() {
    let app = App::with_limits(1_000, 1_000, 5).await;
    let t = app.create_tenant("Acme").await;
    let a = app.user(&t, "ann@acme.test", "viewer").await;
    let b = app.user(&t, "bob@acme.test", "viewer").await;
    // The login and setup requests do not count against the sessions (they carry none).
    assert_eq!(
        statuses(&app, &a.bearer(), 7, "10.0.0.1:1").await,
        vec![200, 200, 200, 200, 200, 429, 429]
    );
    let r = app.get("/api/v1/me", &a.bearer()).await;
    assert_eq!(r.code(), "rate_limited");
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(
        statuses(&app, &b.bearer(), 1, "10.0.0.1:1").await,
        vec![200],
        "another session is not affected"
    );
    app.advance_secs(60);
    assert_eq!(
        statuses(&app, &a.bearer(), 1, "10.0.0.1:1").await,
        vec![200],
        "the next window"
    );
}

#[tokio::test]
async fn a_tenant_shares_one_budget_and_other_tenants_do_not_notice() {
    let app = App::with_limits(1_000, 6, 1_000).await;
    let t = app.create_tenant("Acme").await;
    let u = app.create_tenant("Umbrella").await;
    let a = app.user(&t, "ann@acme.test", "viewer").await;
    let b = app.user(&t, "bob@acme.test", "viewer").await;
    let c = app.user(&u, "cat@umbrella.test", "viewer").await;
    app.advance_secs(60);
    let mut seen = statuses(&app, &a.bearer(), 3, "10.0.0.1:1").await;
    seen.extend(statuses(&app, &b.bearer(), 4, "10.0.0.2:1").await);
    assert_eq!(seen, vec![200, 200, 200, 200, 200, 200, 429]);
    assert_eq!(
        statuses(&app, &c.bearer(), 1, "10.0.0.3:1").await,
        vec![200]
    );
}

#[tokio::test]
async fn a_client_ip_is_limited_before_anything_else() {
    let app = App::with_limits(4, 1_000, 1_000).await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(
            app.send_from(Method::GET, "/healthz", &Auth::None, None, "10.9.9.9:1")
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(seen, vec![200, 200, 200, 200, 429, 429]);
    let other = app
        .send_from(Method::GET, "/healthz", &Auth::None, None, "10.9.9.8:1")
        .await;
    assert_eq!(other.status, StatusCode::OK);
}
