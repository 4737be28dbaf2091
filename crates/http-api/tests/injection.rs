//! Injection (issue 4, P21): SQL, JSON and path metacharacters, control characters, awkward
//! Unicode and values at (and one over) each field's length limit, sent through every path
//! parameter, query parameter, header parameter and string body field of every route.
//!
//! - **Body fields.** The places of each body are read from the served OpenAPI document (every
//!   string, every map key, every number or boolean), so a new field cannot slip by: each must
//!   have a [`Rule`] in [`ROUTES`] and an instance in the row's template. An accepted value must
//!   read back (GET of the thing, its list, or the account an invitation becomes) byte for byte,
//!   or as the field's documented normalisation ([`Norm`]); a refused one must get the row's
//!   4xx as problem+json and change nothing (the state's digest is unchanged). A number or
//!   boolean place in a template gets the payloads as strings (a type confusion: refused).
//!   Record bodies take their places from the collection's declared schema instead.
//! - **Path parameters.** Each payload, percent-encoded, in each `{param}` (the others naming
//!   sentinels) must answer 400, 403, 404 or 422 as problem+json, show no sentinel's data and
//!   change nothing.
//! - **Query and header parameters** as their rule says; `filter[field]=value` on indexed
//!   fields finds exactly the records holding that exact value (checked against a full listing).
//! - **No other row.** Sentinels (a second tenant with its users, role, token, collections and
//!   records; sentinel records, user, role and token in the same tenant) are read before the run
//!   and after every route: identical, and so is the second tenant's whole derived state.
//!
//! Routes with no input at all get the payloads as a stray query parameter (GET) or as the
//! bearer credential. A mounted route without a row fails `every_mounted_route_has_a_row`.
//! Reproduce with `cargo test -p http-api --test injection -- --nocapture`.

#[path = "injection/body.rs"]
mod body;
mod common;
#[path = "injection/coverage.rs"]
mod coverage;
#[path = "injection/filters.rs"]
mod filters;
#[path = "injection/payloads.rs"]
mod payloads;
#[path = "injection/placeholders.rs"]
mod placeholders;
#[path = "common/routes.rs"]
mod routes;
#[path = "injection/run.rs"]
mod run;
#[path = "injection/sentinels.rs"]
mod sentinels;
#[path = "injection/walk.rs"]
mod walk;
#[path = "injection/world.rs"]
mod world;

use std::collections::BTreeSet;

/// Who calls a route: nobody, the bootstrap token, tenant A's owner, or a viewer of A made for
/// the row (plain, with TOTP, or with a TOTP enrolment begun).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Anon,
    Root,
    Owner,
    Fresh,
    FreshTotp,
    Pending,
}

/// What the server does to an accepted value before it stores it (documented per field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Nothing: byte for byte.
    Exact,
    /// Whitespace trimmed at both ends (display names: `bodies.rs`, `tenancy::validate_name`).
    Trim,
    /// Trimmed, NFKC, lower-cased (`identity::users::normalize_email`).
    Email,
    /// A service account's name is its account's `email`: `service:` + the trimmed name,
    /// lower-cased (`Identity::create_service_account`).
    ServiceName,
}

/// Where an accepted value is read back. Paths use the row's objects (`{tenant}`, `{user}`, …)
/// and `{answer:<pointer>}` from the answer; pointers use `{ptr}`, where the value was sent.
#[derive(Debug, Clone, Copy)]
pub enum Read {
    /// GET the path; the value at the pointer.
    Get(&'static str, &'static str),
    /// GET the list at the path; in the item whose `id` is the answer's value at the second
    /// pointer, the value at the third.
    Item(&'static str, &'static str, &'static str),
    /// Accept the answer's invitation; the new account's `/email`.
    Accept,
}

/// What a place must do with the payloads.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Accepted (2xx) → reads back as `Norm` of what was sent; refused → 400, 409 or 422. The
    /// number is the field's limit in characters (values over it must be refused).
    Echo(Norm, Read, usize),
    /// The keys of a map: accepted → the read-back map has the key, byte for byte.
    Key(Read, usize),
    /// A password the route sets: accepted → it logs in, and one character less does not;
    /// refused → 422.
    NewPassword(usize),
    /// Never accepted: one of these statuses (ids, enums, secrets a payload cannot be).
    Refused(&'static [u16]),
    /// Read but not kept (the code of a TOTP enrolment's start): anything but a 5xx.
    Ignored,
    /// `Idempotency-Key`: visible ASCII up to the limit → 201, the same again → 200 with the
    /// same record; anything else → 400 or 422.
    Idempotent(usize),
    /// `If-Match` on a fresh record: `*` (any version) → 2xx; anything else → 412, unchanged.
    IfMatch,
    /// `filter[field]=value`: exact matches only (`run::filters`).
    Filter,
}

/// A route's body: none, JSON templates (with `{placeholders}`) and the rule of each place the
/// document lists, a record body whose places come from the collection's schema (read back as
/// said), or raw bytes.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    None,
    Json(&'static [&'static str], &'static [(&'static str, Rule)]),
    Record(Read),
    /// Raw bytes of this content type (an upload): each payload as the bytes, read back as said
    /// (a download: pointer `""`, the whole body).
    Raw(&'static str, Read),
}

/// One route. `path` uses `/t/` for `/api/v1/tenants/{tenant}/`; `query_base` holds valid
/// values of required query parameters (`name=a.txt`), sent with every case but the cases of
/// that parameter.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub method: &'static str,
    pub path: &'static str,
    pub who: Who,
    pub body: Body,
    pub query: &'static [(&'static str, Rule)],
    pub headers: &'static [(&'static str, Rule)],
    pub query_base: &'static str,
    /// A refusal legitimately writes: a failed login, second factor or re-authentication is
    /// journaled (a known account's failure count; one write for an unknown account too, so
    /// that both take the same time). Rows of fresh callers then get one caller per body case,
    /// since failures throttle and lock the account.
    pub refusal_writes: bool,
}

impl Row {
    pub fn full_path(&self) -> String {
        self.path.replacen("/t/", "/api/v1/tenants/{tenant}/", 1)
    }
}

const fn row(method: &'static str, path: &'static str, who: Who) -> Row {
    Row {
        method,
        path,
        who,
        body: Body::None,
        query: &[],
        headers: &[],
        query_base: "",
        refusal_writes: false,
    }
}

const TOKEN: &str = r#"{"scopes":[{"collection":"notes","actions":["read"]}],"expires_in_days":30,"label":"token {n}"}"#;
const ROLE: &str = r#"{"name":"role {n}","collections":{"notes":{"read":true}}}"#;
const FIELDS: &str = r#"[{"name":"title","type":"text","required":true,"indexed":true,"max_length":200},{"name":"link","type":"reference","collection":"{refs_id}"}]"#;
const COLLECTION: &str = r#"{"name":"c{n}","schema":{"fields":{fields}}}"#;
const SCHEMA: &str = r#"{"schema":{"fields":{fields}}}"#;
const REAUTH: &str = r#"{"password":"{password}","code":"000000"}"#;
const PAGE: &[(&str, Rule)] = &[
    ("after", Rule::Refused(&[400])),
    ("limit", Rule::Refused(&[400])),
];

/// The audit trail's filters: free-text ones only narrow the search (any answer but a 5xx),
/// numbers and the outcome name are refused when they are not one.
macro_rules! audit_filters {
    ($($extra:expr),*) => {
        &[
            ("from", Rule::Refused(&[400])),
            ("to", Rule::Refused(&[400])),
            ("actor", Rule::Ignored),
            ("action", Rule::Ignored),
            ("outcome", Rule::Refused(&[400])),
            ("before", Rule::Refused(&[400])),
            ("limit", Rule::Refused(&[400])),
            $($extra),*
        ]
    };
}
const IF_MATCH: &[(&str, Rule)] = &[("If-Match", Rule::IfMatch)];

/// Token bodies: the label reads back exactly, so does a scope's collection (names are
/// `[A-Za-z0-9_-]{1,64}` or `*`); actions are an enum.
macro_rules! token_fields {
    ($list:literal) => {
        &[
            (
                "/label",
                Rule::Echo(Norm::Exact, Read::Item($list, "/token/id", "{ptr}"), 100),
            ),
            (
                "/scopes/*/collection",
                Rule::Echo(Norm::Exact, Read::Item($list, "/token/id", "{ptr}"), 64),
            ),
            ("/scopes/*/actions/*", Rule::Refused(&[422])),
        ]
    };
}

/// Role bodies: the name (trimmed), and the collection names of its rights as map keys.
macro_rules! role_fields {
    ($get:literal) => {
        &[
            (
                "/name",
                Rule::Echo(Norm::Trim, Read::Get($get, "{ptr}"), 100),
            ),
            (
                "/collections/{key}",
                Rule::Key(Read::Get($get, "/collections"), 64),
            ),
        ]
    };
}

/// Collection bodies: names follow `[a-z][a-z0-9_]{0,63}`; types are an enum; a reference's
/// collection is an id.
macro_rules! schema_fields {
    ($get:literal) => {
        &[
            (
                "/schema/fields/*/name",
                Rule::Echo(Norm::Exact, Read::Get($get, "{ptr}"), 64),
            ),
            ("/schema/fields/*/type", Rule::Refused(&[422])),
            ("/schema/fields/*/collection", Rule::Refused(&[422])),
        ]
    };
}

/// Every route of the router.
#[rustfmt::skip]
pub const ROUTES: [Row; 82] = {
    use {Body::*, Norm::*, Read::*, Rule::*, Who::*};
    [
    row("GET", "/healthz", Anon),
    row("GET", "/readyz", Anon),
    row("GET", "/api/v1/openapi.json", Anon),
    row("GET", "/metrics", Root),
    Row { body: Json(&[r#"{"name":"Tenant {n}"}"#], &[("/name", Echo(Trim, Get("/api/v1/admin/tenants/{answer:/id}", "{ptr}"), 200))]), ..row("POST", "/api/v1/admin/tenants", Root) },
    Row { query: PAGE, ..row("GET", "/api/v1/admin/tenants", Root) },
    row("GET", "/api/v1/admin/tenants/{id}", Root),
    row("POST", "/api/v1/admin/tenants/{id}/suspend", Root),
    row("POST", "/api/v1/admin/tenants/{id}/resume", Root),
    Row { body: Json(&[r#"{"email":"{email}"}"#], &[("/email", Echo(Email, Accept, 254))]), ..row("POST", "/api/v1/admin/tenants/{id}/invitations", Root) },
    Row { body: Json(&[r#"{"email":"{email}"}"#], &[("/email", Echo(Email, Accept, 254))]), ..row("POST", "/api/v1/admin/invitations", Root) },
    Row { body: Json(&[r#"{"tenant":"{tenant}","email":"{unknown_email}","password":"not the password 1"}"#], &[("/tenant", Refused(&[422])), ("/email", Refused(&[401])), ("/password", Refused(&[401]))]), refusal_writes: true, ..row("POST", "/api/v1/auth/login", Anon) },
    Row { body: Json(&[r#"{"challenge":"{challenge}","code":"000000"}"#, r#"{"challenge":"{challenge}","recovery_code":"0000-0000"}"#], &[("/challenge", Refused(&[401])), ("/code", Refused(&[401])), ("/recovery_code", Refused(&[401]))]), refusal_writes: true, ..row("POST", "/api/v1/auth/mfa", Anon) },
    row("POST", "/api/v1/auth/logout", Fresh),
    row("GET", "/api/v1/auth/csrf", Owner),
    Row { body: Json(&[r#"{"token":"{invitation}","password":"{strong}"}"#], &[("/token", Refused(&[404])), ("/password", NewPassword(1024))]), ..row("POST", "/api/v1/invitations/accept", Anon) },
    Row { body: Json(&[r#"{"token":"{reset}","password":"{strong}"}"#], &[("/token", Refused(&[404])), ("/password", NewPassword(1024))]), ..row("POST", "/api/v1/password-reset", Anon) },
    row("GET", "/api/v1/me", Owner),
    row("GET", "/api/v1/me/sessions", Owner),
    row("DELETE", "/api/v1/me/sessions/{id}", Owner),
    Row { body: Json(&[r#"{"current_password":"{password}","new_password":"{strong}"}"#], &[("/current_password", Refused(&[403])), ("/new_password", NewPassword(1024))]), refusal_writes: true, ..row("POST", "/api/v1/me/password", Fresh) },
    Row { body: Json(&[REAUTH], &[("/password", Refused(&[403])), ("/code", Ignored)]), refusal_writes: true, ..row("POST", "/api/v1/me/mfa/totp", Fresh) },
    Row { body: Json(&[r#"{"code":"000000"}"#], &[("/code", Refused(&[401, 409]))]), ..row("POST", "/api/v1/me/mfa/totp/confirm", Pending) },
    Row { body: Json(&[REAUTH], &[("/password", Refused(&[403])), ("/code", Refused(&[403]))]), refusal_writes: true, ..row("POST", "/api/v1/me/mfa/totp/remove", FreshTotp) },
    Row { body: Json(&[REAUTH], &[("/password", Refused(&[403])), ("/code", Refused(&[403]))]), refusal_writes: true, ..row("POST", "/api/v1/me/mfa/recovery-codes", FreshTotp) },
    row("GET", "/api/v1/me/tokens", Owner),
    Row { body: Json(&[TOKEN], token_fields!("/api/v1/me/tokens")), ..row("POST", "/api/v1/me/tokens", Owner) },
    row("DELETE", "/api/v1/me/tokens/{id}", Owner),
    Row { query: PAGE, ..row("GET", "/t/users", Owner) },
    row("GET", "/t/users/{user}", Owner),
    row("DELETE", "/t/users/{user}", Owner),
    row("POST", "/t/users/{user}/disable", Owner),
    row("POST", "/t/users/{user}/enable", Owner),
    row("POST", "/t/users/{user}/unlock", Owner),
    Row { body: Json(&[r#"{"role":"viewer"}"#], &[("/role", Refused(&[404, 422]))]), ..row("PUT", "/t/users/{user}/role", Owner) },
    row("POST", "/t/users/{user}/password-reset", Owner),
    row("GET", "/t/users/{user}/tokens", Owner),
    Row { body: Json(&[r#"{"email":"{email}","role":"viewer"}"#], &[("/email", Echo(Email, Accept, 254)), ("/role", Refused(&[404, 422]))]), ..row("POST", "/t/invitations", Owner) },
    Row { body: Json(&[r#"{"name":"svc {n}","role":"viewer"}"#], &[("/name", Echo(ServiceName, Get("/t/users/{answer:/id}", "/email"), 100)), ("/role", Refused(&[404, 422]))]), ..row("POST", "/t/service-accounts", Owner) },
    Row { body: Json(&[TOKEN], token_fields!("/t/users/{user}/tokens")), ..row("POST", "/t/service-accounts/{user}/tokens", Owner) },
    row("DELETE", "/t/tokens/{token}", Owner),
    row("GET", "/t/roles", Owner),
    Row { body: Json(&[ROLE], role_fields!("/t/roles/{answer:/id}")), ..row("POST", "/t/roles", Owner) },
    row("GET", "/t/roles/{role}", Owner),
    Row { body: Json(&[ROLE], role_fields!("/t/roles/{role}")), ..row("PUT", "/t/roles/{role}", Owner) },
    row("DELETE", "/t/roles/{role}", Owner),
    row("GET", "/t/settings", Owner),
    Row { body: Json(&[r#"{"mfa_required":false,"lockout_threshold":20,"min_password_len":12}"#], &[]), ..row("PUT", "/t/settings", Owner) },
    row("GET", "/t/access-review", Owner),
    Row { query: audit_filters!(), ..row("GET", "/t/audit", Owner) },
    Row { query: audit_filters!(("tenant", Refused(&[400]))), ..row("GET", "/api/v1/admin/audit", Root) },
    Row { query: &[("after", Refused(&[400])), ("limit", Refused(&[400]))], ..row("GET", "/api/v1/admin/audit/stream", Root) },
    row("GET", "/api/v1/admin/backups", Root),
    Row { body: Json(&[r#"{"run":"ship"}"#], &[("/run", Refused(&[422]))]), ..row("POST", "/api/v1/admin/backups", Root) },
    Row { body: Json(&[r#"{"at":0}"#], &[("/at", Refused(&[400, 422]))]), ..row("POST", "/api/v1/admin/tenants/{id}/restore", Root) },
    // Grace 0 is refused before the password is checked: every case answers 400 and changes nothing.
    Row { body: Json(&[r#"{"password":"{password}","code":"000000","grace_days":0}"#], &[("/password", Refused(&[400])), ("/code", Refused(&[400])), ("/grace_days", Refused(&[400, 422]))]), ..row("POST", "/t/deletion", Owner) },
    Row { body: Json(&[r#"{"cancel_code":"src_not-a-code"}"#], &[("/cancel_code", Refused(&[409]))]), ..row("POST", "/t/deletion/cancel", Anon) },
    Row { body: Json(&[r#"{"grace_days":0}"#], &[("/grace_days", Refused(&[400, 422]))]), ..row("POST", "/api/v1/admin/tenants/{id}/deletion", Root) },
    row("GET", "/api/v1/admin/tenants/{id}/deletion", Root),
    row("POST", "/api/v1/admin/tenants/{id}/deletion/cancel", Root),
    row("GET", "/api/v1/admin/deletions", Root),
    Row { body: Json(&[r#"{"subject":"nobody"}"#], &[("/subject", Refused(&[404, 422]))]), ..row("POST", "/t/subjects/erase", Owner) },
    row("GET", "/t/collections", Owner),
    Row { body: Json(&[COLLECTION], &[
        ("/name", Echo(Exact, Get("/t/collections/{answer:/name}", "{ptr}"), 64)),
        ("/schema/fields/*/name", Echo(Exact, Get("/t/collections/{answer:/name}", "{ptr}"), 64)),
        ("/schema/fields/*/type", Refused(&[422])),
        ("/schema/fields/*/collection", Refused(&[422])),
    ]), ..row("POST", "/t/collections", Owner) },
    row("GET", "/t/collections/{collection}", Owner),
    Row { body: Json(&[SCHEMA], schema_fields!("/t/collections/{collection}")), ..row("PUT", "/t/collections/{collection}", Owner) },
    row("DELETE", "/t/collections/{collection}", Owner),
    Row { query: &[("after", Refused(&[422])), ("limit", Refused(&[400])), ("sort", Refused(&[422])), ("filter", Filter)], ..row("GET", "/t/records/{collection}", Owner) },
    Row { body: Record(Get("/t/records/{collection}/{answer:/id}", "/data{ptr}")), headers: &[("Idempotency-Key", Idempotent(255))], ..row("POST", "/t/records/{collection}", Owner) },
    row("GET", "/t/records/{collection}/{record}", Owner),
    Row { body: Record(Get("/t/records/{collection}/{record}", "/data{ptr}")), headers: IF_MATCH, ..row("PUT", "/t/records/{collection}/{record}", Owner) },
    Row { body: Record(Get("/t/records/{collection}/{record}", "/data{ptr}")), headers: IF_MATCH, ..row("PATCH", "/t/records/{collection}/{record}", Owner) },
    Row { headers: IF_MATCH, ..row("DELETE", "/t/records/{collection}/{record}", Owner) },
    Row { query: &[("name", Echo(Exact, Item("/t/records/{collection}/{record}/attachments", "/id", "{ptr}/name"), 255))], query_base: "name=a.txt", body: Raw("text/plain", Get("/t/records/{collection}/{record}/attachments/{answer:/id}", "")), ..row("POST", "/t/records/{collection}/{record}/attachments", Owner) },
    row("GET", "/t/records/{collection}/{record}/attachments", Owner),
    row("GET", "/t/records/{collection}/{record}/attachments/{attachment}", Owner),
    row("DELETE", "/t/records/{collection}/{record}/attachments/{attachment}", Owner),
    row("POST", "/t/exports", Owner),
    row("GET", "/t/exports", Owner),
    row("GET", "/t/exports/{export}", Owner),
    row("POST", "/t/exports/{export}/link", Owner),
    row("GET", "/api/v1/export-downloads/{token}", Anon),
    ]
};

#[tokio::test]
async fn metacharacters_round_trip_or_are_refused_and_touch_no_other_row() {
    let w = world::World::new().await;
    let doc = world::document(&w.app).await;
    let problems = coverage::coverage(&doc);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let mut r = run::Run::new(&w).await;
    for row in &ROUTES {
        r.route(row, &doc).await;
    }
    let failures = r.failures.len();
    println!(
        "injection: {} cases over {} routes, {failures} failures ({} accepted values read back; \
         {} payloads skipped: not valid as a header value)",
        r.cases,
        ROUTES.len(),
        r.verified,
        r.skipped
    );
    assert!(
        r.failures.is_empty(),
        "{failures} FAILURES:\n  {}",
        r.failures.join("\n  ")
    );
}

#[tokio::test]
async fn every_parameter_and_body_field_of_the_document_has_a_rule() {
    let doc = world::document(&common::App::new().await).await;
    let problems = coverage::coverage(&doc);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_mounted_route_has_a_row() {
    let mounted = routes::routes_in_source();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.full_path()))
        .collect();
    assert_eq!(table.len(), ROUTES.len(), "a route is listed twice");
    let missing: Vec<_> = mounted.difference(&table).collect();
    let unknown: Vec<_> = table.difference(&mounted).collect();
    assert!(
        mounted.len() >= 59,
        "the source parser found only {mounted:?}"
    );
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "mounted routes without an injection row: {missing:?}\nrows the router lacks: {unknown:?}"
    );
}

/// Regression: the document named `sort` values (`created_at`, an indexed field) that the
/// server refuses. Every value it names in backticks must now list records.
#[tokio::test]
async fn the_sort_values_the_document_names_are_accepted() {
    let app = common::App::new().await;
    let doc = world::document(&app).await;
    let path = "/api/v1/tenants/{tenant}/records/{collection}";
    let op = walk::operation(&doc, "GET", path).expect("list records");
    let params = op["parameters"].as_array().expect("parameters");
    let sort = params.iter().find(|p| p["name"] == "sort").expect("sort");
    let text = sort["description"].as_str().expect("description");
    let values: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
    let t = app.create_tenant("Sorting").await;
    let owner = app.user(&t, "owner@sorting.test", "owner").await;
    let fields = serde_json::json!([{ "name": "title", "type": "text", "indexed": true }]);
    let body = serde_json::json!({ "name": "notes", "schema": { "fields": fields } });
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/collections"),
            &owner.bearer(),
            body,
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    for v in values.iter().filter(|v| **v != "-") {
        let uri = format!(
            "/api/v1/tenants/{t}/records/notes?sort={}",
            payloads::enc(v)
        );
        let r = app.get(&uri, &owner.bearer()).await;
        assert_eq!(
            r.status.as_u16(),
            200,
            "sort={v} (documented): {:?}",
            r.body
        );
    }
}
