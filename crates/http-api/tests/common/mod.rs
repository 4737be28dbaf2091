//! In-process harness for the HTTP tests: a real engine in a temp directory with an injected
//! clock, the real router called with `oneshot`, and helpers that create tenants and users the
//! way an administrator would (invitation → acceptance → login → TOTP enrolment).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use credentials::{HashParams, TotpSecret};
use engine::{Engine, Options};
use http_api::auth::ClientAddr;
use http_api::{AppState, IpLimiter};
use identity::{Identity, IdentityConfig};
use serde_json::{Value, json};
use tower::ServiceExt;
use types::{ManualClock, Timestamp};

/// Cheap Argon2 parameters for tests that are not about hashing cost.
pub const FAST: HashParams = HashParams {
    m_kib: 256,
    t: 1,
    p: 1,
};

pub struct App {
    pub dir: tempfile::TempDir,
    pub clock: ManualClock,
    pub state: Arc<AppState>,
    pub router: Router,
    /// The bootstrap system-administrator token.
    pub root: String,
}

/// A response, parsed.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body exactly as sent.
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(String),
    /// A browser: the session cookie, optionally a CSRF token and an Origin.
    Cookie {
        session: String,
        csrf: Option<String>,
        origin: Option<String>,
    },
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub email: String,
    pub password: String,
    pub session: String,
    pub csrf: String,
    pub totp: Option<Arc<TotpSecret>>,
}

impl Login {
    pub fn bearer(&self) -> Auth {
        Auth::Bearer(self.session.clone())
    }
}

impl App {
    pub async fn new() -> App {
        App::with(FAST, 10_000).await
    }

    pub async fn with(params: HashParams, ip_per_minute: u32) -> App {
        App::build(
            params,
            ip_per_minute,
            http_api::RequestLimits::new(1_000_000, 1_000_000, 1_000_000),
        )
        .await
    }

    /// An app with the given per-IP, per-tenant and per-credential request limits.
    pub async fn with_limits(ip: u32, tenant: u32, credential: u32) -> App {
        App::build(
            FAST,
            10_000,
            http_api::RequestLimits::new(ip, tenant, credential),
        )
        .await
    }

    async fn build(params: HashParams, ip_per_minute: u32, limits: http_api::RequestLimits) -> App {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(Timestamp(1_800_000_000_000));
        let root = dir.path().to_owned();
        let engine_clock = Arc::new(clock.clone());
        let opened = tokio::task::spawn_blocking(move || {
            let paths = engine::Paths {
                data: root.join("data"),
                mirror: root.join("mirror"),
                key_file: root.join("keys").join("master.key"),
            };
            Engine::open(
                &paths,
                Options {
                    segment_bytes: 1 << 20,
                    clock: engine_clock,
                    create: true,
                    ..Options::default()
                },
            )
        })
        .await
        .expect("join")
        .expect("engine");
        let engine = opened.engine;
        let root_token = opened.bootstrap_token.expect("bootstrap").expose().clone();
        let config = IdentityConfig {
            hash_params: params,
            ..IdentityConfig::default()
        };
        let identity = Identity::new(engine.clone(), config);
        let records = records::Records::new(engine.clone());
        let exports = export::Service::new(
            export::archive::Sources {
                engine: engine.clone(),
                records: records.clone(),
                identity: identity.clone(),
            },
            export::Config {
                kdf: export::KdfParams {
                    m_kib: 64,
                    t: 1,
                    p: 1,
                },
                ..export::Config::default()
            },
        )
        .expect("exports");
        let state = Arc::new(AppState {
            tenancy: tenancy::Tenancy::new(engine.clone()),
            metrics: Arc::new(http_api::Metrics::new(identity.clone(), None)),
            identity,
            records,
            exports,
            auth_limiter: Arc::new(IpLimiter::new(ip_per_minute)),
            limits: Arc::new(limits),
            engine,
            hsts_max_age_secs: 31_536_000,
            backups: None,
        });
        let router = http_api::router(Arc::clone(&state));
        App {
            dir,
            clock,
            state,
            router,
            root: root_token,
        }
    }

    pub fn now_secs(&self) -> u64 {
        (self.state.engine.now().millis() / 1000) as u64
    }

    pub fn advance_secs(&self, secs: i64) {
        self.clock.advance_millis(secs * 1000);
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> Reply {
        self.send_from(method, path, auth, body, "127.0.0.1:40000")
            .await
    }

    pub async fn send_from(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
        peer: &str,
    ) -> Reply {
        let (req, body) = match body {
            Some(v) => (
                Self::request(method, path, auth).header(header::CONTENT_TYPE, "application/json"),
                Body::from(v.to_string()),
            ),
            None => (Self::request(method, path, auth), Body::empty()),
        };
        self.finish(req, body, peer).await
    }

    /// Sends any body with the given extra headers (uploads, malformed requests).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let mut req = Self::request(method, path, auth);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.finish(req, body, "127.0.0.1:40000").await
    }

    /// Sends a JSON body with exactly these headers (values any bytes a header may hold).
    pub async fn send_headers(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Value,
    ) -> Reply {
        let mut req = Self::request(method, path, &Auth::None)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(h) = req.headers_mut() {
            h.extend(headers);
        }
        self.finish(req, Body::from(body.to_string()), "127.0.0.1:40000")
            .await
    }

    fn request(method: Method, path: &str, auth: &Auth) -> axum::http::request::Builder {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "strongroom.test");
        match auth {
            Auth::None => {}
            Auth::Bearer(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Auth::Cookie {
                session,
                csrf,
                origin,
            } => {
                req = req.header(
                    header::COOKIE,
                    format!("other=1; __Host-strongroom-session={session}"),
                );
                if let Some(c) = csrf {
                    req = req.header("x-csrf-token", c);
                }
                if let Some(o) = origin {
                    req = req.header(header::ORIGIN, o);
                }
            }
        }
        req
    }

    async fn finish(&self, req: axum::http::request::Builder, body: Body, peer: &str) -> Reply {
        let mut req = req.body(body).expect("request");
        let peer: SocketAddr = peer.parse().expect("peer");
        req.extensions_mut().insert(ClientAddr(peer));
        let response = self.router.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
            bytes: bytes.to_vec(),
        }
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.send(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.send(Method::POST, path, auth, Some(body)).await
    }

    pub fn root(&self) -> Auth {
        Auth::Bearer(self.root.clone())
    }

    pub async fn create_tenant(&self, name: &str) -> String {
        let r = self
            .post(
                "/api/v1/admin/tenants",
                &self.root(),
                json!({ "name": name }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// Invites `email` with `role` into `tenant` (through the service, as an admin would),
    /// accepts the invitation with a strong password, and returns the password.
    pub async fn add_user(&self, tenant: &str, email: &str, role: &str) -> (String, String) {
        let caller = self
            .state
            .identity
            .authenticate_token(&self.root)
            .await
            .expect("root");
        let t = tenant.parse().expect("tenant id");
        let (_, secret) = self
            .state
            .identity
            .invite(&caller, Some(t), email, role)
            .await
            .expect("invite");
        let password = format!("correct horse battery staple {}", email.len());
        let r = self
            .post(
                "/api/v1/invitations/accept",
                &Auth::None,
                json!({ "token": secret.expose(), "password": password }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (r.body["id"].as_str().expect("id").to_owned(), password)
    }

    /// Logs in with a password (and the TOTP code when `totp` is given).
    pub async fn login(
        &self,
        tenant: &str,
        email: &str,
        password: &str,
        totp: Option<&TotpSecret>,
    ) -> Reply {
        let r = self
            .post(
                "/api/v1/auth/login",
                &Auth::None,
                json!({ "tenant": tenant, "email": email, "password": password }),
            )
            .await;
        match (r.body["status"].as_str(), totp) {
            (Some("mfa_required"), Some(secret)) => {
                let code = credentials::totp::code_at(secret, self.now_secs());
                let challenge = r.body["challenge"].as_str().expect("challenge").to_owned();
                self.post(
                    "/api/v1/auth/mfa",
                    &Auth::None,
                    json!({ "challenge": challenge, "code": code }),
                )
                .await
            }
            _ => r,
        }
    }

    /// A user with `role`, fully logged in (TOTP enrolled when the role requires it).
    pub async fn user(&self, tenant: &str, email: &str, role: &str) -> Login {
        let (user, password) = self.add_user(tenant, email, role).await;
        let r = self.login(tenant, email, &password, None).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let mut session = r.body["token"].as_str().expect("token").to_owned();
        let mut csrf = r.body["csrf_token"].as_str().expect("csrf").to_owned();
        let mut totp = None;
        if r.body["status"] == "mfa_enrollment_required" {
            let secret = self
                .enroll_totp(&Auth::Bearer(session.clone()), &password)
                .await;
            // Enrolment lifts the restriction of this session; log in afresh all the same.
            self.advance_secs(31);
            let r = self.login(tenant, email, &password, Some(&secret)).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            session = r.body["token"].as_str().expect("token").to_owned();
            csrf = r.body["csrf_token"].as_str().expect("csrf").to_owned();
            totp = Some(Arc::new(secret));
        }
        Login {
            user,
            email: email.to_owned(),
            password,
            session,
            csrf,
            totp,
        }
    }

    /// Requests an export of tenant `t` as `auth`, waits for the job's end, and returns the
    /// export's id and passphrase; the request answers 202 with the export queued, and the job
    /// must complete.
    pub async fn export(&self, t: &str, auth: &Auth) -> (types::ExportId, String) {
        let r = self
            .post(&format!("/api/v1/tenants/{t}/exports"), auth, Value::Null)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        assert_eq!(r.body["export"]["status"], "queued");
        let id: types::ExportId = r.body["export"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("export id");
        let passphrase = r.body["passphrase"]
            .as_str()
            .expect("passphrase")
            .to_owned();
        let done = self
            .state
            .exports
            .finished(t.parse().expect("tenant"), id)
            .await
            .expect("finished");
        assert_eq!(done.status, "completed", "{done:?}");
        (id, passphrase)
    }

    /// Enrols TOTP for the session and returns the secret.
    pub async fn enroll_totp(&self, auth: &Auth, password: &str) -> TotpSecret {
        let r = self
            .post("/api/v1/me/mfa/totp", auth, json!({ "password": password }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let b32 = r.body["secret"].as_str().expect("secret");
        let secret = TotpSecret::from_bytes(base32_decode(b32)).expect("secret");
        let code = credentials::totp::code_at(&secret, self.now_secs());
        let r = self
            .post("/api/v1/me/mfa/totp/confirm", auth, json!({ "code": code }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(
            r.body["recovery_codes"].as_array().expect("codes").len(),
            10
        );
        secret
    }
}

/// RFC 4648 base32 (no padding) decoding, for the enrolment secret.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("base32") as u64;
        bits = (bits << 5) | v;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// Files under `root` that contain `needle` as plain bytes.
pub fn grep_tree(root: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(path);
            }
        }
    }
    hits
}
