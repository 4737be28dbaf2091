//! The second factor (P3) over HTTP: mandatory for owners and admins (a restricted session can
//! only enrol), a TOTP code is usable once, ±1 step, recovery codes work once, and changing
//! factors needs re-authentication.

mod common;

use axum::http::StatusCode;
use common::{App, Auth};
use serde_json::json;

#[tokio::test]
async fn a_restricted_session_can_only_enrol() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let (_, password) = app.add_user(&t, "ada@acme.test", "admin").await;
    let r = app.login(&t, "ada@acme.test", &password, None).await;
    assert_eq!(r.body["status"], "mfa_enrollment_required", "{:?}", r.body);
    let restricted = Auth::Bearer(r.body["token"].as_str().expect("token").to_owned());
    for path in [
        format!("/api/v1/tenants/{t}/users"),
        "/api/v1/me/sessions".to_owned(),
        "/api/v1/me/tokens".to_owned(),
    ] {
        let r = app.get(&path, &restricted).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {:?}", r.body);
    }
    let wrong = app
        .post(
            "/api/v1/me/mfa/totp",
            &restricted,
            json!({ "password": "not the password" }),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::FORBIDDEN,
        "enrolment re-authenticates"
    );
    app.enroll_totp(&restricted, &password).await;
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{t}/users"), &restricted)
            .await
            .status,
        StatusCode::OK,
        "enrolment lifts the restriction"
    );
}

async fn challenge(app: &App, t: &str, owner: &common::Login) -> String {
    let body = json!({ "tenant": t, "email": owner.email, "password": owner.password });
    let r = app.post("/api/v1/auth/login", &Auth::None, body).await;
    assert_eq!(r.body["status"], "mfa_required", "{:?}", r.body);
    r.body["challenge"].as_str().expect("challenge").to_owned()
}

#[tokio::test]
async fn a_totp_code_works_once_and_only_near_its_time() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let secret = owner.totp.clone().expect("totp");
    app.advance_secs(90);
    let step_now = app.now_secs();
    // Two steps away: refused.
    let old = credentials::totp::code_at(&secret, step_now - 60);
    let c = challenge(&app, &t, &owner).await;
    let r = app
        .post(
            "/api/v1/auth/mfa",
            &Auth::None,
            json!({ "challenge": c, "code": old }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.code(), "mfa_invalid");
    // The challenge was consumed by the failure.
    let code = credentials::totp::code_at(&secret, step_now);
    let r = app
        .post(
            "/api/v1/auth/mfa",
            &Auth::None,
            json!({ "challenge": c, "code": code }),
        )
        .await;
    assert_eq!(r.code(), "challenge_expired");
    // The previous step's code (−30 s) is accepted once.
    let prev = credentials::totp::code_at(&secret, step_now - 30);
    let c = challenge(&app, &t, &owner).await;
    let r = app
        .post(
            "/api/v1/auth/mfa",
            &Auth::None,
            json!({ "challenge": c, "code": prev }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Replaying the same code, or any code of an earlier step, is refused.
    for replay in [
        prev.clone(),
        credentials::totp::code_at(&secret, step_now - 60),
    ] {
        let c = challenge(&app, &t, &owner).await;
        let r = app
            .post(
                "/api/v1/auth/mfa",
                &Auth::None,
                json!({ "challenge": c, "code": replay }),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "replay accepted: {:?}",
            r.body
        );
    }
    // The current step's code still works once.
    let c = challenge(&app, &t, &owner).await;
    let r = app
        .post(
            "/api/v1/auth/mfa",
            &Auth::None,
            json!({ "challenge": c, "code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let c = challenge(&app, &t, &owner).await;
    let r = app
        .post(
            "/api/v1/auth/mfa",
            &Auth::None,
            json!({ "challenge": c, "code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "same code twice");
}

#[tokio::test]
async fn recovery_codes_work_once_and_regenerating_revokes_the_old_ones() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let (_, password) = app.add_user(&t, "rita@acme.test", "editor").await;
    let r = app.login(&t, "rita@acme.test", &password, None).await;
    let session = Auth::Bearer(r.body["token"].as_str().expect("token").to_owned());
    let begin = app
        .post(
            "/api/v1/me/mfa/totp",
            &session,
            json!({ "password": password }),
        )
        .await;
    assert!(
        begin.body["otpauth_uri"]
            .as_str()
            .expect("uri")
            .starts_with("otpauth://totp/")
    );
    assert!(begin.body["qr_svg"].as_str().expect("svg").contains("<svg"));
    let secret = credentials::TotpSecret::from_bytes(common::base32_decode(
        begin.body["secret"].as_str().expect("s"),
    ))
    .expect("secret");
    let confirm = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &session,
            json!({ "code": credentials::totp::code_at(&secret, app.now_secs()) }),
        )
        .await;
    let codes: Vec<String> = confirm.body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("c").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let with_recovery = |code: String| {
        let app = &app;
        let (t, password) = (t.clone(), password.clone());
        async move {
            let r = app
                .post(
                    "/api/v1/auth/login",
                    &Auth::None,
                    json!({ "tenant": t, "email": "rita@acme.test", "password": password }),
                )
                .await;
            let c = r.body["challenge"].as_str().expect("challenge").to_owned();
            app.post(
                "/api/v1/auth/mfa",
                &Auth::None,
                json!({ "challenge": c, "recovery_code": code }),
            )
            .await
            .status
        }
    };
    assert_eq!(with_recovery(codes[0].clone()).await, StatusCode::OK);
    assert_eq!(
        with_recovery(codes[0].clone()).await,
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );
    assert_eq!(
        with_recovery(codes[1].to_uppercase()).await,
        StatusCode::OK,
        "codes are case-insensitive"
    );

    app.advance_secs(60);
    let code = credentials::totp::code_at(&secret, app.now_secs());
    let fresh = app
        .post(
            "/api/v1/me/mfa/recovery-codes",
            &session,
            json!({ "password": password, "code": code }),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{:?}", fresh.body);
    assert_eq!(
        with_recovery(codes[2].clone()).await,
        StatusCode::UNAUTHORIZED,
        "old codes stop working"
    );
    let new_code = fresh.body["recovery_codes"][0]
        .as_str()
        .expect("code")
        .to_owned();
    assert_eq!(with_recovery(new_code).await, StatusCode::OK);
}

#[tokio::test]
async fn mandatory_mfa_cannot_be_removed_and_tenant_setting_requires_it() {
    let app = App::new().await;
    let t = app.create_tenant("Acme").await;
    let owner = app.user(&t, "olga@acme.test", "owner").await;
    let code =
        credentials::totp::code_at(owner.totp.as_deref().expect("totp"), app.now_secs() + 30);
    let r = app
        .post(
            "/api/v1/me/mfa/totp/remove",
            &owner.bearer(),
            json!({ "password": owner.password, "code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);

    let r = app
        .send(
            axum::http::Method::PUT,
            &format!("/api/v1/tenants/{t}/settings"),
            &owner.bearer(),
            Some(json!({ "mfa_required": true, "lockout_threshold": 20, "min_password_len": 12 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (_, password) = app.add_user(&t, "val@acme.test", "viewer").await;
    let r = app.login(&t, "val@acme.test", &password, None).await;
    assert_eq!(
        r.body["status"], "mfa_enrollment_required",
        "the tenant setting makes MFA mandatory for everyone"
    );
}
