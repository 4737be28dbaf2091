//! Brute force (P4): a scripted attack of 1,000 wrong passwords against one account gets at most
//! the lockout threshold of attempts evaluated, throttled progressively in between; the right
//! password is refused while locked; an admin unlock lifts it. Unknown accounts behave the same.

mod common;

use axum::http::StatusCode;
use common::{App, Auth};
use serde_json::json;

const ATTEMPTS: usize = 1_000;

/// Runs the attack: each 429 is honoured by advancing the clock by its Retry-After, as a patient
/// attacker would. Returns (evaluated, throttled, refused) counts.
async fn attack(app: &App, tenant: &str, email: &str) -> (u64, usize, usize) {
    let before = app.state.identity.hasher().evaluations();
    let (mut throttled, mut refused) = (0, 0);
    for i in 0..ATTEMPTS {
        let body = json!({ "tenant": tenant, "email": email, "password": format!("guess number {i} of many") });
        let r = app.post("/api/v1/auth/login", &Auth::None, body).await;
        match r.status {
            StatusCode::TOO_MANY_REQUESTS => {
                throttled += 1;
                let wait: i64 = r
                    .headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .expect("Retry-After");
                app.advance_secs(wait);
            }
            StatusCode::UNAUTHORIZED => {
                assert_eq!(r.code(), "invalid_credentials");
                refused += 1;
            }
            other => panic!("attempt {i}: unexpected {other}: {:?}", r.body),
        }
    }
    (
        app.state.identity.hasher().evaluations() - before,
        throttled,
        refused,
    )
}

#[tokio::test]
async fn a_thousand_guesses_get_at_most_the_threshold_evaluated() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let (victim, password) = app.add_user(&t, "val@acme.test", "viewer").await;
    let threshold = 20;

    let (evaluated, throttled, refused) = attack(&app, &t, "val@acme.test").await;
    println!(
        "known account: {ATTEMPTS} attempts, {evaluated} evaluated, {throttled} throttled, {refused} refused"
    );
    assert!(
        evaluated <= threshold,
        "{evaluated} attempts evaluated, threshold {threshold}"
    );
    assert_eq!(evaluated, threshold, "the threshold is reached");

    let r = app.login(&t, "val@acme.test", &password, None).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the right password is refused while locked"
    );
    let user = app
        .get(
            &format!("/api/v1/tenants/{t}/users/{victim}"),
            &owner.bearer(),
        )
        .await;
    assert_eq!(user.body["locked"], true);

    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/users/{victim}/unlock"),
            &owner.bearer(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        app.login(&t, "val@acme.test", &password, None).await.status,
        StatusCode::OK,
        "unlocked"
    );

    // Lock it again; this time a password reset lifts the lock (and ends every session).
    let (evaluated, _, _) = attack(&app, &t, "val@acme.test").await;
    assert_eq!(evaluated, threshold);
    let reset = app
        .post(
            &format!("/api/v1/tenants/{t}/users/{victim}/password-reset"),
            &owner.bearer(),
            json!({}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::CREATED, "{:?}", reset.body);
    let token = reset.body["token"].as_str().expect("token").to_owned();
    let new_password = "a brand new passphrase after the attack";
    let r = app
        .post(
            "/api/v1/password-reset",
            &Auth::None,
            json!({ "token": token, "password": new_password }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["locked"], false);
    assert_eq!(
        app.login(&t, "val@acme.test", new_password, None)
            .await
            .status,
        StatusCode::OK
    );
    let again = app
        .post(
            "/api/v1/password-reset",
            &Auth::None,
            json!({ "token": token, "password": "yet another passphrase here" }),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::NOT_FOUND,
        "a reset secret works once"
    );

    // An account that does not exist is throttled and locked alike (no enumeration).
    let (evaluated, _, _) = attack(&app, &t, "nobody@acme.test").await;
    assert_eq!(evaluated, threshold, "unknown accounts get the same budget");
}

#[tokio::test]
async fn the_threshold_is_a_tenant_setting_capped_at_100() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let put = |n: u32| {
        let (app, t, owner) = (&app, t.clone(), owner.bearer());
        async move {
            app.send(
                axum::http::Method::PUT,
                &format!("/api/v1/tenants/{t}/settings"),
                &owner,
                Some(json!({ "mfa_required": false, "lockout_threshold": n, "min_password_len": 12 })),
            )
            .await
            .status
        }
    };
    assert_eq!(put(101).await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(put(0).await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(put(5).await, StatusCode::OK);
    app.add_user(&t, "val@acme.test", "viewer").await;
    let (evaluated, _, _) = attack(&app, &t, "val@acme.test").await;
    assert_eq!(evaluated, 5);
}

#[tokio::test]
async fn authentication_routes_are_limited_per_ip() {
    let app = App::with(common::FAST, 10).await;
    let t = app.create_tenant("Acme").await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let body = json!({ "tenant": t, "email": format!("x{i}@acme.test"), "password": "whatever whatever" });
        let r = app
            .send_from(
                axum::http::Method::POST,
                "/api/v1/auth/login",
                &Auth::None,
                Some(body),
                "10.1.1.1:5000",
            )
            .await;
        statuses.push((r.status, r.code().to_owned()));
    }
    let limited = statuses
        .iter()
        .filter(|(s, code)| *s == StatusCode::TOO_MANY_REQUESTS && code == "rate_limited")
        .count();
    assert_eq!(limited, 2, "{statuses:?}");
    let body = json!({ "tenant": t, "email": "y@acme.test", "password": "whatever whatever" });
    let other = app
        .send_from(
            axum::http::Method::POST,
            "/api/v1/auth/login",
            &Auth::None,
            Some(body),
            "10.1.1.2:5000",
        )
        .await;
    assert_ne!(
        other.status,
        StatusCode::TOO_MANY_REQUESTS,
        "another address has its own budget"
    );
}

/// A stolen session is not a password oracle: wrong current passwords (and wrong codes) on the
/// routes that re-authenticate count as failed logins — throttled, then the account locks.
#[tokio::test]
async fn re_authentication_guesses_are_throttled_and_lock_the_account() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let victim = app.user(&t, "val@acme.test", "viewer").await;
    let (mut evaluated, mut throttled) = (0, 0);
    let before = app.state.identity.hasher().evaluations();
    for i in 0..200 {
        let (path, body) = match i % 2 {
            0 => (
                "/api/v1/me/password",
                json!({ "current_password": format!("guess {i} of many"), "new_password": "an entirely new passphrase" }),
            ),
            _ => (
                "/api/v1/me/mfa/totp",
                json!({ "password": format!("guess {i} of many") }),
            ),
        };
        let r = app.post(path, &victim.bearer(), body).await;
        match r.status {
            StatusCode::TOO_MANY_REQUESTS => {
                throttled += 1;
                let wait: i64 = r.headers["retry-after"]
                    .to_str()
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .expect("Retry-After");
                app.advance_secs(wait);
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => evaluated += 1,
            other => panic!("guess {i}: unexpected {other}: {:?}", r.body),
        }
        if r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::FORBIDDEN {
            // Keep the session alive between guesses (idle expiry is 30 minutes).
            assert_ne!(r.code(), "unauthorized", "the session ended: {:?}", r.body);
        }
    }
    let hashed = app.state.identity.hasher().evaluations() - before;
    println!("re-authentication: 200 guesses, {hashed} evaluated, {throttled} throttled");
    assert!(throttled > 0, "guesses were never throttled");
    assert_eq!(
        hashed, 20,
        "exactly the lockout threshold of guesses was evaluated"
    );
    assert!(evaluated >= 20);
    // Locked: the right password no longer works, neither to log in nor to re-authenticate.
    let r = app
        .post(
            "/api/v1/me/password",
            &victim.bearer(),
            json!({ "current_password": victim.password, "new_password": "an entirely new passphrase" }),
        )
        .await;
    assert!(
        matches!(r.status.as_u16(), 401 | 403),
        "{} {:?}",
        r.status,
        r.body
    );
    let r = app.login(&t, "val@acme.test", &victim.password, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "locked");
    let user = app
        .get(
            &format!("/api/v1/tenants/{t}/users/{}", victim.user),
            &owner.bearer(),
        )
        .await;
    assert_eq!(user.body["locked"], true);
}
