//! Tenant deletion over HTTP (P15): only the tenant's owner — signed in, re-authenticated with
//! password and code — or a system administrator requests it; the request suspends the tenant
//! (its owner is signed out); the cancellation code shown once cancels it, a wrong one does not;
//! a system administrator shows, cancels and lists requests; once carried out, the receipt is
//! served, verifies with the audit key and fails when altered; the whole story is in the trail.

mod common;

use axum::http::StatusCode;
use common::{App, Auth};
use serde_json::json;

fn code_now(app: &App, login: &common::Login) -> String {
    let secret = login.totp.as_ref().expect("the owner has a second factor");
    credentials::totp::code_at(secret, app.now_secs())
}

#[tokio::test]
async fn an_owner_requests_a_deletion_the_code_cancels_it_and_the_receipt_verifies() {
    let app = App::new().await;
    let a = app.create_tenant("Acme").await;
    let b = app.create_tenant("Other").await;
    let owner = app.user(&a, "olga@acme.test", "owner").await;
    let admin = app.user(&a, "ada@acme.test", "admin").await;
    let other_owner = app.user(&b, "oscar@other.test", "owner").await;
    let path = format!("/api/v1/tenants/{a}/deletion");
    // An export archive waits for download: sealed under its passphrase, not the tenant's key,
    // so the deletion must delete it.
    let (export, _) = app.export(&a, &owner.bearer()).await;
    let export = app.state.engine.paths().export_file(export);
    assert!(export.exists());

    // Refused: an administrator (owners only), another tenant's owner, a wrong password, a
    // missing code, a token.
    let body = |password: &str, code: Option<String>| json!({ "password": password, "code": code, "grace_days": 7 });
    app.advance_secs(31);
    let r = app
        .post(
            &path,
            &admin.bearer(),
            body(&admin.password, Some(code_now(&app, &admin))),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = app
        .post(
            &path,
            &other_owner.bearer(),
            body(&other_owner.password, Some(code_now(&app, &other_owner))),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = app
        .post(
            &path,
            &owner.bearer(),
            body("not the password 1", Some(code_now(&app, &owner))),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.code(), "reauthentication_failed");
    let r = app
        .post(&path, &owner.bearer(), body(&owner.password, None))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/me/tokens",
            &owner.bearer(),
            json!({ "scopes": [{ "collection": "*", "actions": ["read"] }], "expires_in_days": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = Auth::Bearer(r.body["secret"].as_str().expect("secret").to_owned());
    let r = app
        .post(
            &path,
            &token,
            body(&owner.password, Some(code_now(&app, &owner))),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let shown = app
        .get(&format!("/api/v1/admin/tenants/{a}"), &app.root())
        .await;
    assert_eq!(shown.body["status"], "active", "nothing was requested yet");

    // The owner's request: the tenant is suspended, the owner signed out.
    app.advance_secs(31);
    let r = app
        .post(
            &path,
            &owner.bearer(),
            body(&owner.password, Some(code_now(&app, &owner))),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let deletion = &r.body["deletion"];
    assert_eq!(deletion["status"], "pending");
    assert_eq!(
        deletion["execute_after"].as_i64().expect("time")
            - deletion["requested_at"].as_i64().expect("time"),
        7 * 86_400_000
    );
    assert_eq!(
        deletion["deadline"].as_i64().expect("time")
            - deletion["requested_at"].as_i64().expect("time"),
        30 * 86_400_000
    );
    let code = r.body["cancel_code"].as_str().expect("code").to_owned();
    assert!(
        deletion["requested_by"]
            .as_str()
            .expect("by")
            .contains(&owner.user)
    );
    let r = app.get("/api/v1/me", &owner.bearer()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    let shown = app
        .get(&format!("/api/v1/admin/tenants/{a}"), &app.root())
        .await;
    assert_eq!(shown.body["status"], "suspended");
    let r = app
        .post(
            &format!("/api/v1/admin/tenants/{a}/resume"),
            &app.root(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "deletion_pending");

    // The code cancels it; another code, or one for another tenant, does not.
    let cancel = format!("/api/v1/tenants/{a}/deletion/cancel");
    let r = app
        .post(
            &cancel,
            &Auth::None,
            json!({ "cancel_code": format!("{code}x") }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = app
        .post(
            &format!("/api/v1/tenants/{b}/deletion/cancel"),
            &Auth::None,
            json!({ "cancel_code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let r = app
        .post(&cancel, &Auth::None, json!({ "cancel_code": code }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    let r = app
        .post(&cancel, &Auth::None, json!({ "cancel_code": code }))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a code works once: {:?}",
        r.body
    );
    let shown = app
        .get(&format!("/api/v1/admin/tenants/{a}"), &app.root())
        .await;
    assert_eq!(shown.body["status"], "active");

    // A system administrator requests, shows, cancels and requests again.
    let admin_path = format!("/api/v1/admin/tenants/{a}/deletion");
    for bad in [json!({ "grace_days": 0 }), json!({ "grace_days": 31 })] {
        let r = app.post(&admin_path, &app.root(), bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    }
    let r = app
        .post(&admin_path, &app.root(), json!({ "grace_days": 1 }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let r = app
        .post(&format!("{admin_path}/cancel"), &app.root(), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .post(&admin_path, &app.root(), json!({ "grace_days": 1 }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let r = app.get(&admin_path, &app.root()).await;
    assert_eq!(r.body["status"], "pending");
    let list = app.get("/api/v1/admin/deletions", &app.root()).await;
    let items = list.body["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .any(|d| d["tenant"] == a.as_str() && d["deadline"].is_i64())
    );

    // Past the grace period a cancellation is refused; the server carries it out (here the
    // service the server's schedule calls).
    app.advance_secs(86_400);
    let r = app
        .post(&format!("{admin_path}/cancel"), &app.root(), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "deletion_started");
    let tenant: types::TenantId = a.parse().expect("id");
    let destruction = app
        .state
        .tenancy
        .destroy(tenant, false)
        .await
        .expect("destroy");
    app.state
        .tenancy
        .finish(&destruction, Vec::new())
        .await
        .expect("finish");
    assert!(!export.exists(), "the export archive outlived the tenant");
    assert_eq!(destruction.purged.export_archives, 1);
    let r = app.get(&admin_path, &app.root()).await;
    assert_eq!(r.body["status"], "completed", "{:?}", r.body);
    let receipt = r.body["receipt"].as_str().expect("receipt").to_owned();
    let public = crypto::hex(app.state.engine.audit_public_key());
    tenancy::receipt::verify(receipt.as_bytes(), Some(&public)).expect("the receipt verifies");
    let altered = receipt.replacen(&a, &b, 1);
    assert!(tenancy::receipt::verify(altered.as_bytes(), Some(&public)).is_err());
    let r = app
        .get(&format!("/api/v1/admin/tenants/{a}"), &app.root())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = app
        .post(&admin_path, &app.root(), json!({ "grace_days": 1 }))
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a deleted tenant: {:?}",
        r.body
    );

    // The other tenant is untouched; the story is in the trail.
    let r = app
        .get(&format!("/api/v1/admin/tenants/{b}"), &app.root())
        .await;
    assert_eq!(r.body["status"], "active", "{:?}", r.body);
    app.advance_secs(31);
    let r = app
        .login(
            &b,
            &other_owner.email,
            &other_owner.password,
            other_owner.totp.as_deref(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the other tenant's owner signs in: {:?}",
        r.body
    );
    for action in [
        "tenant.deletion_requested",
        "tenant.deletion_cancelled",
        "tenant.keys_destroyed",
        "tenant.deleted",
    ] {
        let r = app
            .get(&format!("/api/v1/admin/audit?action={action}"), &app.root())
            .await;
        let events = r.body["events"].as_array().expect("events");
        assert!(
            events.iter().any(|e| e["resource"]["id"] == a.as_str()),
            "{action}: {:?}",
            r.body
        );
    }
}
