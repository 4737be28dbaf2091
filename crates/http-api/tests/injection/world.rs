//! The fixture of the injection test: tenant A (whose owner runs the cases) with sentinels and
//! scratch objects, tenant B full of sentinels, a scratch tenant C for owner invitations, and
//! the requests. Callers and placeholders are in `placeholders.rs`, the sentinel reads and
//! digests in `sentinels.rs`.

use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::{App, Auth};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{common, walk};

/// Which objects a path names: sentinels (path cases: nothing may reach them) or scratch
/// objects (body, query and header cases, which may change them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sentinel,
    Scratch,
}

/// A tenant and its sentinels.
#[derive(Debug, Clone, Default)]
pub struct Tn {
    pub id: String,
    pub owner: String,
    pub owner_auth: Option<Auth>,
    pub viewer: String,
    pub role: String,
    pub svc: String,
    pub token: String,
    pub refs_id: String,
    pub anchor: String,
    /// Records of `notes`.
    pub records: Vec<String>,
    /// A file attached to the first record (when the router has attachments).
    pub attachment: Option<String>,
}

/// A caller of a row, and what its body placeholders need to know about it.
#[derive(Debug, Clone)]
pub struct Cred {
    pub auth: Auth,
    pub email: String,
    pub password: String,
}

/// A request's body.
#[derive(Debug, Clone, Copy)]
pub enum Content<'a> {
    None,
    Json(&'a Value),
    /// A content type and the bytes.
    Raw(&'a str, &'a [u8]),
}

/// An answer. JSON bodies parsed; any other body as text (the payloads are UTF-8, so a file
/// comes back exactly), an empty one as null.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A filled template: the text, and the email of the account a `{invitation}` or `{reset}` in
/// it belongs to.
#[derive(Debug, Clone)]
pub struct Filled {
    pub text: String,
    pub email: Option<String>,
}

pub struct World {
    pub app: App,
    pub a: Tn,
    pub b: Tn,
    /// A scratch tenant: owner invitations go there.
    pub c: String,
    pub scratch_svc: String,
    pub scratch_role: String,
    pub scratch_record: String,
    /// A TOTP user of A whose logins give `{challenge}`s: (id, email, password).
    pub mfa: (String, String, String),
    /// A viewer of A whose password resets give `{reset}`s: (id, email).
    pub reset: (String, String),
    n: AtomicU32,
    /// Strings only tenant B's data holds.
    pub foreign: Vec<String>,
    /// Strings only A's sentinels hold.
    pub own: Vec<String>,
    /// The sentinel reads: (label, path, caller).
    pub reads: Vec<(String, String, Auth)>,
}

/// A record's path (attachments are under it).
pub const ATTACHMENTS: &str = "/api/v1/tenants/{tenant}/records/{collection}/{record}";

/// The declared schemas of the fixture's collections.
const NOTES: &str = r#"[
    {"name":"title","type":"text","required":true,"indexed":true,"max_length":200},
    {"name":"body","type":"text"},
    {"name":"tag","type":"text","indexed":true,"max_length":64},
    {"name":"data","type":"json"},
    {"name":"n","type":"number","indexed":true},
    {"name":"done","type":"boolean"},
    {"name":"due","type":"datetime"},
    {"name":"link","type":"reference","collection":"{refs_id}"}]"#;
const FILTERED: &str = r#"[
    {"name":"title","type":"text","indexed":true,"max_length":200},
    {"name":"tag","type":"text","indexed":true,"max_length":200}]"#;
const TITLE_ONLY: &str = r#"[{"name":"title","type":"text"}]"#;

/// The served OpenAPI document.
pub async fn document(app: &App) -> Value {
    let r = app.get("/api/v1/openapi.json", &Auth::None).await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    r.body
}

/// A JSON string's text (set-up answers hold it).
pub fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

impl World {
    pub async fn new() -> World {
        let app = App::new().await;
        let (a, b) = (Tn::default(), Tn::default());
        let mut w = World {
            app,
            a,
            b,
            c: String::new(),
            scratch_svc: String::new(),
            scratch_role: String::new(),
            scratch_record: String::new(),
            mfa: <_>::default(),
            reset: <_>::default(),
            n: AtomicU32::new(0),
            foreign: Vec::new(),
            own: Vec::new(),
            reads: Vec::new(),
        };
        w.a = w.tenant("alpha-sentinel").await;
        w.b = w.tenant("bravo-sentinel").await;
        let doc = document(&w.app).await;
        if walk::operation(&doc, "POST", &format!("{ATTACHMENTS}/attachments")).is_some() {
            w.a.attachment = Some(w.attach(&w.a, "alpha-sentinel").await);
            w.b.attachment = Some(w.attach(&w.b, "bravo-sentinel").await);
        }
        w.c = w.app.create_tenant("Charlie (scratch)").await;
        let owner = w.owner();
        let base = w.base();
        w.create_collection(&owner, &base, "filtered", FILTERED)
            .await;
        w.create_collection(&owner, &base, "scratch", TITLE_ONLY)
            .await;
        let svc = json!({ "name": "scratch svc", "role": "editor" });
        let path = format!("{base}/service-accounts");
        w.scratch_svc = text(&w.ok("POST", &path, &owner, Some(svc), 201).await["id"]);
        w.scratch_role = w.create_role(&owner, &base, "scratch role").await;
        w.scratch_record = w
            .create_record(&owner, &base, &w.a.anchor.clone(), "scratch")
            .await;
        let email = "mfa@alpha.test";
        let (id, password) = w.app.add_user(&w.a.id, email, "viewer").await;
        let r = w.app.login(&w.a.id, email, &password, None).await;
        let session = Auth::Bearer(text(&r.body["token"]));
        w.app.enroll_totp(&session, &password).await;
        w.mfa = (id, email.to_owned(), password);
        let email = "reset@alpha.test";
        w.reset = (
            w.app.add_user(&w.a.id, email, "viewer").await.0,
            email.to_owned(),
        );
        w.markers();
        w
    }

    /// A tenant with an owner, a viewer, a custom role, an editor service account and its
    /// token, collections `refs` (one record) and `notes` (three records): all sentinels.
    async fn tenant(&self, label: &str) -> Tn {
        let id = self.app.create_tenant(&format!("{label} tenant")).await;
        let owner = self
            .app
            .user(&id, &format!("owner@{label}.test"), "owner")
            .await;
        let auth = owner.bearer();
        let base = format!("/api/v1/tenants/{id}");
        let viewer = self
            .app
            .add_user(&id, &format!("viewer@{label}.test"), "viewer")
            .await
            .0;
        let role = self
            .create_role(&auth, &base, &format!("{label} role"))
            .await;
        let svc = json!({ "name": format!("{label} svc"), "role": "editor" });
        let path = format!("{base}/service-accounts");
        let svc = text(&self.ok("POST", &path, &auth, Some(svc), 201).await["id"]);
        let body = json!({ "scopes": [{ "collection": "notes", "actions": ["read"] }],
            "expires_in_days": 30, "label": format!("{label} token") });
        let path = format!("{base}/service-accounts/{svc}/tokens");
        let token = text(&self.ok("POST", &path, &auth, Some(body), 201).await["token"]["id"]);
        let refs_id = self
            .create_collection(&auth, &base, "refs", TITLE_ONLY)
            .await;
        let path = format!("{base}/records/refs");
        let anchor = json!({ "title": format!("{label} anchor") });
        let anchor = text(&self.ok("POST", &path, &auth, Some(anchor), 201).await["id"]);
        let notes = NOTES.replace("{refs_id}", &refs_id);
        self.create_collection(&auth, &base, "notes", &notes).await;
        let mut records = Vec::new();
        for i in 0..3 {
            let title = format!("{label} {i} ' OR '1'='1 %_\\ caf\u{e9}");
            records.push(self.create_record(&auth, &base, &anchor, &title).await);
        }
        Tn {
            id,
            owner: owner.user.clone(),
            owner_auth: Some(auth),
            viewer,
            role,
            svc,
            token,
            refs_id,
            anchor,
            records,
            attachment: None,
        }
    }

    /// Uploads a sentinel file to the first record of `t`; its id.
    async fn attach(&self, t: &Tn, label: &str) -> String {
        let auth = t.owner_auth.clone().expect("owner");
        let path = ATTACHMENTS.replacen("{tenant}", &t.id, 1);
        let path = path.replace("{collection}", "notes");
        let path = path.replace("{record}", &t.records[0]);
        let uri = format!("{path}/attachments?name={label}.txt");
        let bytes = format!("{label} file");
        let content = Content::Raw("text/plain", bytes.as_bytes());
        let r = self.send("POST", &uri, &auth, &[], content).await;
        let r = r.expect("no header");
        assert_eq!(r.status.as_u16(), 201, "POST {uri}: {}", r.body);
        text(&r.body["id"])
    }

    async fn create_collection(&self, auth: &Auth, base: &str, name: &str, fields: &str) -> String {
        let fields: Value = serde_json::from_str(fields).expect("fields");
        let body = json!({ "name": name, "schema": { "fields": fields } });
        let path = format!("{base}/collections");
        text(&self.ok("POST", &path, auth, Some(body), 201).await["id"])
    }

    async fn create_role(&self, auth: &Auth, base: &str, name: &str) -> String {
        let body = json!({ "name": name, "collections": { "notes": { "read": true } } });
        let path = format!("{base}/roles");
        text(&self.ok("POST", &path, auth, Some(body), 201).await["id"])
    }

    async fn create_record(&self, auth: &Auth, base: &str, anchor: &str, title: &str) -> String {
        let body = json!({ "title": title, "body": format!("{title} body"), "tag": "sentinel",
            "data": { "k": title, "list": [1, "two", null] }, "n": 1, "done": true,
            "due": "2026-01-31T12:00:00.000Z", "link": anchor });
        let path = format!("{base}/records/notes");
        text(&self.ok("POST", &path, auth, Some(body), 201).await["id"])
    }

    pub fn next(&self) -> u32 {
        self.n.fetch_add(1, Ordering::Relaxed)
    }

    /// Tenant A's owner.
    pub fn owner(&self) -> Auth {
        self.a.owner_auth.clone().expect("owner")
    }

    /// `/api/v1/tenants/<A>`.
    pub fn base(&self) -> String {
        format!("/api/v1/tenants/{}", self.a.id)
    }

    /// A request with a JSON body or none; None when a header value is not valid in HTTP.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        auth: &Auth,
        headers: &[(&str, &[u8])],
        body: Option<&Value>,
    ) -> Option<Answer> {
        let content = body.map_or(Content::None, Content::Json);
        self.send(method, uri, auth, headers, content).await
    }

    /// A request; None when a header value is not valid in HTTP.
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        auth: &Auth,
        headers: &[(&str, &[u8])],
        content: Content<'_>,
    ) -> Option<Answer> {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(uri)
            .header(header::HOST, "strongroom.test");
        match auth {
            Auth::Bearer(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Auth::None => {}
            Auth::Cookie { .. } => panic!("the injection test calls with bearer credentials"),
        }
        for (name, value) in headers {
            let value = header::HeaderValue::from_bytes(value).ok()?;
            req = req.header(*name, value);
        }
        let body = match content {
            Content::Json(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            Content::Raw(content_type, bytes) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Body::from(bytes.to_vec())
            }
            Content::None => Body::empty(),
        };
        let req = req.body(body).expect("request");
        let response = self.app.router.clone().oneshot(req).await;
        let response = response.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .expect("body")
            .to_vec();
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let text = || Value::String(String::from_utf8_lossy(&bytes).into_owned());
        let body = match json {
            true => serde_json::from_slice(&bytes).unwrap_or_else(|_| text()),
            false if bytes.is_empty() => Value::Null,
            false => text(),
        };
        Some(Answer {
            status,
            headers,
            body,
        })
    }

    /// A set-up request that must answer `want`; its body.
    pub async fn ok(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let r = self
            .call(method, path, auth, &[], body.as_ref())
            .await
            .expect("request");
        assert_eq!(r.status.as_u16(), want, "{method} {path}: {}", r.body);
        r.body
    }
}
