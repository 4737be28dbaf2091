//! The audit trail through the API (P16): every kind of security-relevant act is performed the
//! way a client would, and its event is read back through the reading routes with who, what,
//! where, outcome and the request it belonged to. Also: tenants see only their own trail, the
//! export is one line per event whatever a client sends (log injection), and no secret of any
//! act reaches an event.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Auth, Login};
use serde_json::{Value, json};

/// The events of a reading route (all pages).
async fn trail(app: &App, path: &str, auth: &Auth) -> Vec<Value> {
    let mut out = Vec::new();
    let mut before: Option<u64> = None;
    for _ in 0..100 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match before {
            Some(b) => format!("{path}{sep}limit=50&before={b}"),
            None => format!("{path}{sep}limit=50"),
        };
        let r = app.get(&url, auth).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {:?}", r.body);
        out.extend(r.body["events"].as_array().expect("events").iter().cloned());
        match r.body["next"].as_u64() {
            Some(n) => before = Some(n),
            None => return out,
        }
    }
    panic!("more than 100 pages of audit events");
}

/// The one event of `action` among `events` that `matches`, or a failure listing the actions seen.
fn find<'a>(events: &'a [Value], action: &str, matches: impl Fn(&Value) -> bool) -> &'a Value {
    events
        .iter()
        .find(|e| e["action"] == action && matches(e))
        .unwrap_or_else(|| {
            let seen: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
            panic!("no `{action}` event matching; the trail holds {seen:?}")
        })
}

fn tenant_trail(t: &str) -> String {
    format!("/api/v1/tenants/{t}/audit")
}

fn request_id(r: &common::Reply) -> String {
    r.headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer carries X-Request-Id")
        .to_owned()
}

#[tokio::test]
async fn every_kind_of_act_is_read_back_with_who_what_where_and_outcome() {
    let app = App::new().await;
    let root = app.root();

    // Tenant administration by the system administrator (bootstrap token).
    let r = app
        .post("/api/v1/admin/tenants", &root, json!({ "name": "Acme" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let t = r.body["id"].as_str().expect("id").to_owned();
    let create_request = request_id(&r);
    for (verb, action) in [
        ("suspend", "tenant.suspended"),
        ("resume", "tenant.resumed"),
    ] {
        let r = app
            .send(
                Method::POST,
                &format!("/api/v1/admin/tenants/{t}/{verb}"),
                &root,
                None,
            )
            .await;
        assert!(r.status.is_success(), "{verb}: {:?}", r.body);
        let system = trail(&app, "/api/v1/admin/audit?action=tenant.*", &root).await;
        find(&system, action, |e| e["resource"]["id"] == t.as_str());
    }
    let system = trail(&app, "/api/v1/admin/audit", &root).await;
    let created = find(&system, "tenant.created", |e| {
        e["resource"]["id"] == t.as_str()
    });
    assert_eq!(created["actor"]["kind"], "bootstrap");
    assert_eq!(created["outcome"], "success");
    assert_eq!(created["request_id"], create_request.as_str());
    assert_eq!(created["client"]["ip"], "127.0.0.1");

    // Users: invitation, acceptance, login, second factor, sessions.
    let owner: Login = app.user(&t, "owner@example.com", "owner").await;
    let auth = owner.bearer();
    let events = trail(&app, &tenant_trail(&t), &auth).await;
    for action in [
        "user.invited",
        "invitation.accepted",
        "user.created",
        "mfa.enrollment_started",
        "mfa.enrolled",
    ] {
        find(&events, action, |_| true);
    }
    let login = find(&events, "login.succeeded", |e| {
        e["details"]["factor"] == "totp"
    });
    assert_eq!(login["actor"]["id"], owner.user.as_str());
    assert_eq!(login["actor"]["tenant"], t.as_str());
    find(&events, "session.started", |e| {
        e["actor"]["id"] == owner.user.as_str()
    });

    // Failures: a wrong password, a wrong code, a wrong re-authentication, a lockout.
    let editor = app.user(&t, "editor@example.com", "editor").await;
    let r = app
        .login(&t, &editor.email, "not the password at all", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .post(
            "/api/v1/me/password",
            &editor.bearer(),
            json!({ "current_password": "wrong wrong wrong", "new_password": "a new long passphrase 1" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let events = trail(
        &app,
        &format!("{}?outcome=failure", tenant_trail(&t)),
        &auth,
    )
    .await;
    let failed = find(&events, "login.failed", |e| {
        e["actor"]["id"] == editor.user.as_str()
    });
    assert_eq!(failed["reason"], "invalid_credentials");
    find(&events, "reauth.failed", |e| {
        e["actor"]["id"] == editor.user.as_str()
    });
    assert!(events.iter().all(|e| e["outcome"] == "failure"));

    // TOTP for the editor, then a wrong code at login.
    let secret = app.enroll_totp(&editor.bearer(), &editor.password).await;
    let r = app.login(&t, &editor.email, &editor.password, None).await;
    let challenge = r.body["challenge"].as_str().expect("challenge").to_owned();
    let r = app
        .post(
            "/api/v1/auth/mfa",
            &Auth::None,
            json!({ "challenge": challenge, "code": "000000" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Recovery codes: regenerated, then one used to log in.
    app.advance_secs(31);
    let code = credentials::totp::code_at(&secret, app.now_secs());
    let r = app
        .post(
            "/api/v1/me/mfa/recovery-codes",
            &editor.bearer(),
            json!({ "password": editor.password, "code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let recovery = r.body["recovery_codes"][0]
        .as_str()
        .expect("code")
        .to_owned();
    let r = app.login(&t, &editor.email, &editor.password, None).await;
    let challenge = r.body["challenge"].as_str().expect("challenge").to_owned();
    let r = app
        .post(
            "/api/v1/auth/mfa",
            &Auth::None,
            json!({ "challenge": challenge, "recovery_code": recovery }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let editor_session = Auth::Bearer(r.body["token"].as_str().expect("token").to_owned());
    // The second factor removed.
    app.advance_secs(31);
    let code = credentials::totp::code_at(&secret, app.now_secs());
    let r = app
        .post(
            "/api/v1/me/mfa/totp/remove",
            &editor_session,
            json!({ "password": editor.password, "code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let events = trail(
        &app,
        &format!("{}?actor={}", tenant_trail(&t), editor.user),
        &auth,
    )
    .await;
    find(&events, "mfa.failed", |e| e["outcome"] == "failure");
    find(&events, "recovery_code.used", |_| true);
    find(&events, "login.succeeded", |e| {
        e["details"]["factor"] == "recovery_code"
    });
    let events = trail(&app, &tenant_trail(&t), &auth).await;
    find(&events, "recovery_codes.regenerated", |e| {
        e["resource"]["id"] == editor.user.as_str()
    });
    let removed = find(&events, "mfa.removed", |e| {
        e["resource"]["id"] == editor.user.as_str()
    });
    assert_eq!(removed["actor"]["id"], editor.user.as_str());

    // Settings (a configuration change), then a lockout and an unlock.
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/settings"),
            &auth,
            Some(json!({ "mfa_required": false, "lockout_threshold": 3, "min_password_len": 12 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let viewer = app.user(&t, "viewer@example.com", "viewer").await;
    for _ in 0..3 {
        app.advance_secs(60);
        app.login(&t, &viewer.email, "wrong password again", None)
            .await;
    }
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/tenants/{t}/users/{}/unlock", viewer.user),
            &auth,
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let events = trail(&app, &tenant_trail(&t), &auth).await;
    let settings = find(&events, "settings.changed", |_| true);
    assert_eq!(settings["details"]["lockout_threshold"], 3);
    assert_eq!(settings["actor"]["id"], owner.user.as_str());
    find(&events, "login.locked", |e| {
        e["resource"]["id"] == viewer.user.as_str()
    });
    find(&events, "user.unlocked", |e| {
        e["resource"]["id"] == viewer.user.as_str()
    });

    // Password change, reset, sessions ended.
    let r = app
        .post(
            "/api/v1/me/password",
            &viewer.bearer(),
            json!({ "current_password": viewer.password, "new_password": "another long passphrase 2" }),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/tenants/{t}/users/{}/password-reset", viewer.user),
            &auth,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let reset = r.body["token"].as_str().expect("reset").to_owned();
    let r = app
        .post(
            "/api/v1/password-reset",
            &Auth::None,
            json!({ "token": reset, "password": "a third long passphrase 3" }),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = app
        .send(Method::POST, "/api/v1/auth/logout", &owner.bearer(), None)
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let owner = app
        .login(&t, &owner.email, &owner.password, owner.totp.as_deref())
        .await;
    let auth = Auth::Bearer(owner.body["token"].as_str().expect("token").to_owned());
    let events = trail(&app, &tenant_trail(&t), &auth).await;
    find(&events, "password.changed", |e| {
        e["actor"]["id"] == viewer.user.as_str()
    });
    find(&events, "password.reset_issued", |e| {
        e["resource"]["id"] == viewer.user.as_str()
    });
    find(&events, "session.ended", |e| e["reason"] == "revoked");
    find(&events, "session.ended", |e| {
        e["reason"] == "all_sessions_revoked"
    });

    // Tokens: created, used, revoked.
    let r = app
        .post(
            "/api/v1/me/tokens",
            &auth,
            json!({ "scopes": [{ "collection": "notes", "actions": ["read"] }], "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token_id = r.body["token"]["id"].as_str().expect("id").to_owned();
    let token = Auth::Bearer(r.body["secret"].as_str().expect("secret").to_owned());
    let r = app
        .get(&format!("/api/v1/tenants/{t}/collections"), &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{token_id}"),
            &auth,
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    // A revoked token is refused, and that refusal is recorded too.
    let r = app
        .get(&format!("/api/v1/tenants/{t}/collections"), &token)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let events = trail(&app, &format!("{}?action=token.*", tenant_trail(&t)), &auth).await;
    for action in ["token.created", "token.used", "token.revoked"] {
        find(&events, action, |e| {
            e["resource"]["id"] == token_id.as_str()
        });
    }
    let system = trail(&app, "/api/v1/admin/audit?action=auth.rejected", &root).await;
    find(&system, "auth.rejected", |e| e["outcome"] == "denied");

    // Roles: created, changed, assigned, deleted; users disabled, enabled, deleted.
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/roles"),
            &auth,
            json!({ "name": "auditors", "collections": { "notes": { "read": true } } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let role = r.body["id"].as_str().expect("id").to_owned();
    app.advance_secs(1);
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/roles/{role}"),
            &auth,
            Some(json!({ "name": "auditors 2", "collections": { "notes": { "read": true } } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/users/{}/role", viewer.user),
            &auth,
            Some(json!({ "role": "editor" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for verb in ["disable", "enable"] {
        let r = app
            .send(
                Method::POST,
                &format!("/api/v1/tenants/{t}/users/{}/{verb}", viewer.user),
                &auth,
                None,
            )
            .await;
        assert!(r.status.is_success(), "{verb}: {:?}", r.body);
    }
    for path in [
        format!("/api/v1/tenants/{t}/roles/{role}"),
        format!("/api/v1/tenants/{t}/users/{}", viewer.user),
    ] {
        let r = app.send(Method::DELETE, &path, &auth, None).await;
        assert!(r.status.is_success(), "{path}: {:?}", r.body);
    }
    let events = trail(&app, &tenant_trail(&t), &auth).await;
    for action in ["role.created", "role.changed", "role.deleted"] {
        find(&events, action, |e| e["resource"]["id"] == role.as_str());
    }
    let assigned = find(&events, "role.assigned", |e| {
        e["resource"]["id"] == viewer.user.as_str()
    });
    assert_eq!(assigned["details"]["role"], "editor");
    for action in ["user.disabled", "user.enabled", "user.deleted"] {
        find(&events, action, |e| {
            e["resource"]["id"] == viewer.user.as_str()
        });
    }

    // Collections: created, changed, deleted.
    let fields = json!({ "fields": [{ "name": "title", "type": "text" }] });
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/collections"),
            &auth,
            json!({ "name": "notes", "schema": fields }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/collections/notes"),
            &auth,
            Some(json!({ "schema": { "fields": [{ "name": "title", "type": "text" }, { "name": "body", "type": "text" }] } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/tenants/{t}/collections/notes"),
            &auth,
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let events = trail(
        &app,
        &format!("{}?action=collection.*", tenant_trail(&t)),
        &auth,
    )
    .await;
    for action in [
        "collection.created",
        "collection.changed",
        "collection.deleted",
    ] {
        find(&events, action, |_| true);
    }

    // A refusal: the editor tries an administrator's route.
    let r = app
        .get(&format!("/api/v1/tenants/{t}/users"), &editor_session)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let denied_request = request_id(&r);
    let events = trail(&app, &format!("{}?outcome=denied", tenant_trail(&t)), &auth).await;
    let denied = find(&events, "access.denied", |e| {
        e["request_id"] == denied_request.as_str()
    });
    assert_eq!(denied["actor"]["id"], editor.user.as_str());
    assert_eq!(
        denied["resource"]["id"],
        format!("GET /api/v1/tenants/{t}/users").as_str()
    );

    // Key operations (the command line's path: no request, so the actor is the system) and an
    // unknown account's failed login (system scope).
    let engine = app.state.engine.clone();
    let scope = engine::Scope::Tenant(t.parse().expect("tenant id"));
    tokio::task::spawn_blocking(move || engine.rotate_key_blocking(scope))
        .await
        .expect("join")
        .expect("rotate");
    let r = app
        .login(&t, "nobody@example.com", "whatever password", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let system = trail(&app, "/api/v1/admin/audit?tenant=system", &root).await;
    let rotated = find(&system, "key.rotated", |e| {
        e["resource"]["id"] == t.as_str()
    });
    assert_eq!(rotated["actor"]["kind"], "system");
    assert_eq!(rotated["details"]["version"], 2);
    let unknown = find(&system, "login.failed", |e| {
        e["actor"]["kind"] == "anonymous"
    });
    assert_eq!(unknown["reason"], "invalid_credentials");

    // Filters narrow, and a tenant's trail holds its own events only.
    let other = app.create_tenant("Other").await;
    let other_owner = app.user(&other, "owner@other.example", "owner").await;
    let theirs = trail(&app, &tenant_trail(&other), &other_owner.bearer()).await;
    assert!(!theirs.is_empty());
    let mine = trail(&app, &tenant_trail(&t), &auth).await;
    let their_ids: Vec<&Value> = theirs.iter().map(|e| &e["id"]).collect();
    assert!(mine.iter().all(|e| !their_ids.contains(&&e["id"])));
    let r = app.get(&tenant_trail(&other), &auth).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another tenant's trail");
    let all = trail(&app, "/api/v1/admin/audit", &root).await;
    assert!(all.len() >= mine.len() + theirs.len());
    // Newest first, positions unique.
    let seqs: Vec<u64> = all
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");

    // No secret of any act reached an event: passwords, the TOTP secret, a recovery code, the
    // reset secret, session and token secrets.
    let text = serde_json::to_string(&all).expect("json");
    for secret in [
        editor.password.as_str(),
        owner.body["token"].as_str().expect("session"),
        &recovery,
        &reset,
        "a third long passphrase 3",
        "another long passphrase 2",
        "not the password at all",
    ] {
        assert!(!text.contains(secret), "an audit event holds a secret");
    }
    let Auth::Bearer(token_secret) = &token else {
        unreachable!()
    };
    assert!(!text.contains(token_secret.as_str()));
    // And the audit files hold no plaintext of it either (events are sealed).
    for needle in [
        "owner@example.com",
        "login.failed",
        editor.password.as_str(),
    ] {
        let found = common::grep_tree(
            &app.dir.path().join("data").join("audit"),
            needle.as_bytes(),
        );
        assert!(found.is_empty(), "`{needle}` in plaintext in {found:?}");
    }
}

#[tokio::test]
async fn injected_newlines_and_escapes_stay_one_encoded_line_in_the_export() {
    let app = App::new().await;
    let root = app.root();
    // Names travel in JSON bodies, where every character can be sent: control characters are
    // refused at the door (and recorded nowhere), line and paragraph separators are kept and
    // must come out encoded.
    for name in [
        "Acme\n{\"action\":\"login.succeeded\",\"outcome\":\"success\"}",
        "x\r\nFAKE EVENT",
        "\u{1b}[31mred\u{1b}[0m\u{7}",
        "a\u{85}b\u{7f}e\u{0}f",
    ] {
        let r = app
            .post("/api/v1/admin/tenants", &root, json!({ "name": name }))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?}: {:?}",
            r.body
        );
    }
    let names = [
        "Acme\u{2028}{\"action\":\"login.succeeded\",\"outcome\":\"success\"}",
        "x\u{2029}FAKE EVENT",
    ];
    for name in names {
        let r = app
            .post("/api/v1/admin/tenants", &root, json!({ "name": name }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{name:?}: {:?}", r.body);
    }
    // A header can carry bytes beyond ASCII: line separators and C1 controls in UTF-8, tabs.
    let agents: [&[u8]; 3] = [
        "curl/8\u{2028}{\"action\":\"login.succeeded\"}".as_bytes(),
        "agent\u{85}FAKE EVENT".as_bytes(),
        b"tab\tand \xff\xfe invalid UTF-8",
    ];
    for ua in agents {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "user-agent",
            axum::http::HeaderValue::from_bytes(ua).expect("a header value"),
        );
        let r = app
            .send_headers(
                Method::POST,
                "/api/v1/auth/login",
                headers,
                json!({ "email": "nobody@example.com", "password": "whatever password" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    }
    let r = app.get("/api/v1/admin/audit/stream?after=0", &root).await;
    assert_eq!(r.status, StatusCode::OK);
    let content_type = r.headers["content-type"].to_str().expect("type");
    assert!(
        content_type.starts_with("application/x-ndjson"),
        "{content_type}"
    );
    let text = String::from_utf8(r.bytes.clone()).expect("utf-8");
    assert!(text.ends_with('\n'));
    for forbidden in [
        '\r', '\u{1b}', '\u{7}', '\u{0}', '\u{85}', '\u{2028}', '\u{2029}', '\u{7f}',
    ] {
        assert!(
            !text.contains(forbidden),
            "a raw {forbidden:?} in the export"
        );
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON event"))
        .collect();
    let created: Vec<&Value> = lines
        .iter()
        .filter(|e| e["action"] == "tenant.created")
        .collect();
    assert_eq!(created.len(), names.len(), "one event per act");
    for (event, name) in created.iter().zip(names) {
        // The name reads back exactly: encoded, neither lost nor cut nor split.
        assert_eq!(event["details"]["name"], name);
    }
    let failed: Vec<&Value> = lines
        .iter()
        .filter(|e| e["action"] == "login.failed")
        .collect();
    assert_eq!(failed.len(), agents.len(), "one event per attempt");
    for (event, ua) in failed.iter().zip(agents) {
        assert_eq!(
            event["client"]["user_agent"],
            String::from_utf8_lossy(ua).as_ref()
        );
    }
    assert!(
        !lines.iter().any(|e| e["action"] == "login.succeeded"),
        "an injected line became an event"
    );
    // The position cursor: nothing after the last one.
    let last = lines.last().expect("events")["seq"].as_u64().expect("seq");
    let r = app
        .get(&format!("/api/v1/admin/audit/stream?after={last}"), &root)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.bytes.is_empty(), "{:?}", r.body);
}
