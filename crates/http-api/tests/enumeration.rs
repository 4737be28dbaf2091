//! No user enumeration (P4): with the real Argon2id parameters, an unknown email and a wrong
//! password get the same status and body, and their median response times differ by < 10%
//! over 300 attempts each (interleaved, so drift on a shared machine hits both alike).

mod common;

use std::time::Instant;

use axum::http::StatusCode;
use common::{App, Auth};
use serde_json::json;

const ATTEMPTS: usize = 300;
/// Accounts per side: the throttle allows a few attempts per account before delays start, and the
/// clock is advanced past each delay so every attempt is evaluated.
const ACCOUNTS: usize = 4;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_and_wrong_passwords_look_the_same() {
    let app = App::with(credentials::OWASP, 100_000).await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let r = app
        .send(
            axum::http::Method::PUT,
            &format!("/api/v1/tenants/{t}/settings"),
            &owner.bearer(),
            Some(
                json!({ "mfa_required": false, "lockout_threshold": 100, "min_password_len": 12 }),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for i in 0..ACCOUNTS {
        app.add_user(&t, &format!("known{i}@acme.test"), "viewer")
            .await;
    }
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    let mut bodies = std::collections::BTreeSet::new();
    for i in 0..ATTEMPTS * 2 {
        let known = i % 2 == 0;
        let account = (i / 2) % ACCOUNTS;
        let email = if known {
            format!("known{account}@acme.test")
        } else {
            format!("ghost{account}@acme.test")
        };
        let body =
            json!({ "tenant": t, "email": email, "password": format!("not the password {i}") });
        let started = Instant::now();
        let r = app.post("/api/v1/auth/login", &Auth::None, body).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "attempt {i}: {:?}",
            r.body
        );
        bodies.insert(r.body.to_string());
        if known {
            wrong.push(ms)
        } else {
            unknown.push(ms)
        }
        // Past any progressive delay, so the next attempt on each account is evaluated again.
        app.advance_secs(61);
    }
    assert_eq!(bodies.len(), 1, "bodies differ: {bodies:?}");
    let (u, w) = (median(unknown), median(wrong));
    let diff = (u - w).abs() / u.max(w);
    println!(
        "median unknown user {u:.2} ms, wrong password {w:.2} ms, difference {:.1}%",
        diff * 100.0
    );
    assert!(
        diff < 0.10,
        "median times differ by {:.1}% (unknown {u:.2} ms, wrong {w:.2} ms)",
        diff * 100.0
    );
}

/// Regression (found by schemathesis): a login naming a tenant that does not exist, or is
/// suspended, answers like any failed login — never a server error that reveals which tenant
/// ids exist.
#[tokio::test]
async fn unknown_and_suspended_tenants_answer_like_a_wrong_password() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    app.add_user(&t, "val@acme.test", "viewer").await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            &Auth::None,
            json!({ "tenant": t, "email": "val@acme.test", "password": "not it, not it" }),
        )
        .await;
    let ghost = app
        .post("/api/v1/auth/login", &Auth::None, json!({ "tenant": "tn_0123456789abcdef0123456789abcdef", "email": "val@acme.test", "password": "not it, not it" }))
        .await;
    assert_eq!(ghost.status, StatusCode::UNAUTHORIZED, "{:?}", ghost.body);
    assert_eq!(ghost.body, wrong.body);
    let r = app
        .post(
            &format!("/api/v1/admin/tenants/{t}/suspend"),
            &app.root(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let suspended = app
        .post(
            "/api/v1/auth/login",
            &Auth::None,
            json!({ "tenant": t, "email": "val@acme.test", "password": "not it, not it" }),
        )
        .await;
    assert_eq!(
        (suspended.status, &suspended.body),
        (StatusCode::UNAUTHORIZED, &wrong.body)
    );
}
