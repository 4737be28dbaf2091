//! The password policy (P2) at the edge: every rejection names its rule, all failing rules are
//! listed, nothing is created when a password is refused, and no password is ever echoed.

mod common;

use axum::http::StatusCode;
use common::{App, Auth};
use serde_json::json;

#[tokio::test]
async fn each_rejection_names_its_rule() {
    let app = App::new().await;
    let t = app.create_tenant("Globex").await;
    let caller = app
        .state
        .identity
        .authenticate_token(&app.root)
        .await
        .expect("root");
    let cases: &[(&str, &[&str])] = &[
        ("zq9x", &["too_short"]),
        ("twelve chars", &["too_short"]),
        ("password1234", &["too_short", "common"]),
        ("Momsanaladventure", &["common"]),
        ("1QAZ2WSX3EDC4RFV", &["common"]),
        ("my globex password is long", &["contains_context"]),
        ("{local} loves long passphrases", &["contains_context"]),
        ("aaaaaaaaaaaaaaaaaaaa", &["repetitive"]),
    ];
    for (i, (password, rules)) in cases.iter().enumerate() {
        let local = format!("sam.smith{i}");
        let email = format!("{local}@globex.test");
        let password = &password.replace("{local}", &local);
        let (_, secret) = app
            .state
            .identity
            .invite(&caller, Some(t.parse().expect("id")), &email, "viewer")
            .await
            .expect("invite");
        let r = app
            .post(
                "/api/v1/invitations/accept",
                &Auth::None,
                json!({ "token": secret.expose(), "password": password }),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password:?} accepted: {:?}",
            r.body
        );
        assert_eq!(r.code(), "password_rejected");
        let got: Vec<&str> = r.body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["rule"].as_str().expect("rule"))
            .collect();
        for rule in *rules {
            assert!(
                got.contains(rule),
                "{password:?}: expected rule {rule}, got {got:?}"
            );
        }
        assert!(
            !r.body.to_string().contains(password),
            "the password was echoed: {:?}",
            r.body
        );
        // The invitation is still usable with a good password: the refusal lost nothing.
        let ok = app
            .post("/api/v1/invitations/accept", &Auth::None, json!({ "token": secret.expose(), "password": "a perfectly fine passphrase for sam" }))
            .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
        let again = app
            .post("/api/v1/invitations/accept", &Auth::None, json!({ "token": secret.expose(), "password": "a perfectly fine passphrase for sam" }))
            .await;
        assert_eq!(
            again.status,
            StatusCode::NOT_FOUND,
            "invitations are single use"
        );
    }
}

#[tokio::test]
async fn long_unicode_passphrases_are_accepted_whole() {
    let app = App::new().await;
    let t = app.create_tenant("Initech").await;
    let caller = app
        .state
        .identity
        .authenticate_token(&app.root)
        .await
        .expect("root");
    let long = "Ünïcödé pässphräse with emoji 🔐 and 漢字, sung over a quiet sea by ninety-nine \
                wandering herons who never once repeat themselves";
    assert!(long.chars().count() > 64);
    let (_, secret) = app
        .state
        .identity
        .invite(
            &caller,
            Some(t.parse().expect("id")),
            "u@initech.test",
            "viewer",
        )
        .await
        .expect("invite");
    let r = app
        .post(
            "/api/v1/invitations/accept",
            &Auth::None,
            json!({ "token": secret.expose(), "password": long }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        app.login(&t, "u@initech.test", long, None).await.status,
        StatusCode::OK
    );
    let truncated: String = long.chars().take(long.chars().count() - 1).collect();
    assert_eq!(
        app.login(&t, "u@initech.test", &truncated, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "no truncation"
    );
}

#[tokio::test]
async fn expired_invitations_are_refused() {
    let app = App::new().await;
    let t = app.create_tenant("Hooli").await;
    let caller = app
        .state
        .identity
        .authenticate_token(&app.root)
        .await
        .expect("root");
    let (_, secret) = app
        .state
        .identity
        .invite(
            &caller,
            Some(t.parse().expect("id")),
            "late@hooli.test",
            "viewer",
        )
        .await
        .expect("invite");
    app.advance_secs(7 * 24 * 3600 + 1);
    let r = app
        .post(
            "/api/v1/invitations/accept",
            &Auth::None,
            json!({ "token": secret.expose(), "password": "a perfectly fine passphrase" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
}

/// Regression: an administrator must not keep a way into an account that became an owner after
/// the reset was issued; invitations and resets are not interchangeable.
#[tokio::test]
async fn a_reset_dies_when_the_role_changes_and_tokens_do_not_cross_flows() {
    let app = App::new().await;
    let t = app.create_tenant("Umbrella").await;
    let owner = app.user(&t, "olga@umbrella.test", "owner").await;
    let admin = app.user(&t, "adam@umbrella.test", "admin").await;
    let (victim, _) = app.add_user(&t, "vic@umbrella.test", "viewer").await;
    let reset = app
        .post(
            &format!("/api/v1/tenants/{t}/users/{victim}/password-reset"),
            &admin.bearer(),
            json!({}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::CREATED);
    let token = reset.body["token"].as_str().expect("token").to_owned();
    let promoted = app
        .send(
            axum::http::Method::PUT,
            &format!("/api/v1/tenants/{t}/users/{victim}/role"),
            &owner.bearer(),
            Some(json!({ "role": "owner" })),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK);
    let r = app
        .post(
            "/api/v1/password-reset",
            &Auth::None,
            json!({ "token": token, "password": "the admin's takeover passphrase" }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a stale reset must not work: {:?}",
        r.body
    );

    // An invitation secret does not reset, a reset secret does not create an account.
    let caller = app
        .state
        .identity
        .authenticate_token(&app.root)
        .await
        .expect("root");
    let (_, invite) = app
        .state
        .identity
        .invite(
            &caller,
            Some(t.parse().expect("id")),
            "new@umbrella.test",
            "viewer",
        )
        .await
        .expect("invite");
    let r = app
        .post(
            "/api/v1/password-reset",
            &Auth::None,
            json!({ "token": invite.expose(), "password": "some fine passphrase here" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let (other, _) = app.add_user(&t, "ed@umbrella.test", "editor").await;
    let reset = app
        .post(
            &format!("/api/v1/tenants/{t}/users/{other}/password-reset"),
            &admin.bearer(),
            json!({}),
        )
        .await;
    let token = reset.body["token"].as_str().expect("token").to_owned();
    let r = app
        .post(
            "/api/v1/invitations/accept",
            &Auth::None,
            json!({ "token": token, "password": "some fine passphrase here" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
