//! The tenant administration API over real HTTPS: authorisation, problem+json errors, security
//! headers, and fail-closed writes when a mirror is lost while reads go on.

mod common;

use common::{Client, Layout};

fn admin(layout: &Layout) -> (common::Server, Client) {
    let server = layout.serve();
    let client = Client::new(layout, &server);
    (server, client)
}

fn assert_problem(r: &common::Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json; charset=utf-8"),
        "problem content type"
    );
    let body = r.json();
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[test]
fn tenant_lifecycle_over_https() {
    let layout = Layout::new();
    let (_server, client) = admin(&layout);
    let created = client.request(
        "POST",
        "/api/v1/admin/tenants",
        Some(r#"{"name":"  Acme Ltd "}"#),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let tenant = created.json();
    let id = tenant["id"].as_str().expect("id").to_owned();
    assert_eq!(tenant["name"], "Acme Ltd");
    assert_eq!(tenant["status"], "active");
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/admin/tenants/{id}").as_str())
    );

    let shown = client.request("GET", &format!("/api/v1/admin/tenants/{id}"), None);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["name"], "Acme Ltd");

    let suspended = client.request("POST", &format!("/api/v1/admin/tenants/{id}/suspend"), None);
    assert_eq!(
        suspended.json()["status"],
        "suspended",
        "{}",
        suspended.text()
    );
    let resumed = client.request("POST", &format!("/api/v1/admin/tenants/{id}/resume"), None);
    assert_eq!(resumed.json()["status"], "active");

    for name in ["Beta", "Gamma", "Delta"] {
        let body = format!(r#"{{"name":"{name}"}}"#);
        assert_eq!(
            client
                .request("POST", "/api/v1/admin/tenants", Some(&body))
                .status,
            201
        );
    }
    let first = client
        .request("GET", "/api/v1/admin/tenants?limit=3", None)
        .json();
    assert_eq!(first["items"].as_array().expect("items").len(), 3);
    let next = first["next"].as_str().expect("a next cursor").to_owned();
    let second = client
        .request(
            "GET",
            &format!("/api/v1/admin/tenants?limit=3&after={next}"),
            None,
        )
        .json();
    assert_eq!(second["items"].as_array().expect("items").len(), 1);
    assert!(second["next"].is_null());
}

#[test]
fn requests_without_the_admin_token_are_refused() {
    let layout = Layout::new();
    let (_server, client) = admin(&layout);
    let mut anonymous = client.clone();
    anonymous.token = None;
    let mut forged = client.clone();
    forged.token = Some(format!("{}x", client.token.clone().expect("token")));
    for c in [&anonymous, &forged] {
        for (method, path) in [
            ("GET", "/api/v1/admin/tenants"),
            ("POST", "/api/v1/admin/tenants"),
            (
                "GET",
                "/api/v1/admin/tenants/tn_00000000000000000000000000000000",
            ),
        ] {
            let r = c.request(method, path, Some(r#"{"name":"x"}"#));
            assert_problem(&r, 401, "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    }
}

#[test]
fn bad_input_gets_a_clear_problem() {
    let layout = Layout::new();
    let (_server, client) = admin(&layout);
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        (
            "POST",
            "/api/v1/admin/tenants",
            Some(r#"{"name":""}"#),
            422,
            "invalid_name",
        ),
        (
            "POST",
            "/api/v1/admin/tenants",
            Some("{\"name\":\"a\\u0000b\"}"),
            422,
            "invalid_name",
        ),
        (
            "POST",
            "/api/v1/admin/tenants",
            Some(r#"{"name":1}"#),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/admin/tenants",
            Some(r#"{"name":"x","extra":1}"#),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/admin/tenants",
            Some("{"),
            400,
            "invalid_body",
        ),
        (
            "GET",
            "/api/v1/admin/tenants/not-an-id",
            None,
            404,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/admin/tenants/tn_00000000000000000000000000000000",
            None,
            404,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/admin/tenants?after=zzz",
            None,
            400,
            "invalid_cursor",
        ),
        (
            "GET",
            "/api/v1/admin/tenants?limit=-1",
            None,
            400,
            "bad_request",
        ),
        (
            "DELETE",
            "/api/v1/admin/tenants",
            None,
            405,
            "method_not_allowed",
        ),
        ("GET", "/nothing/here", None, 404, "not_found"),
    ];
    for (method, path, body, status, code) in cases {
        let r = client.request(method, path, *body);
        assert_eq!(r.status, *status, "{method} {path} {body:?}: {}", r.text());
        assert_problem(&r, *status, code);
    }
    // Nothing was created by the refused requests.
    let list = client.request("GET", "/api/v1/admin/tenants", None).json();
    assert_eq!(list["items"].as_array().expect("items").len(), 0);
}

#[test]
fn security_headers_are_on_every_response() {
    let layout = Layout::new();
    let (_server, client) = admin(&layout);
    let mut anonymous = client.clone();
    anonymous.token = None;
    let responses = [
        client.request("GET", "/healthz", None),
        client.request("GET", "/readyz", None),
        client.request("GET", "/api/v1/admin/tenants", None),
        client.request("GET", "/missing", None),
        anonymous.request("GET", "/api/v1/admin/tenants", None),
        client.request("PUT", "/api/v1/admin/tenants", None),
    ];
    for r in &responses {
        let hsts = r.header("strict-transport-security").unwrap_or_default();
        assert!(
            hsts.starts_with("max-age=31536000"),
            "HSTS missing on {}: {:?}",
            r.status,
            r.headers
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(
            r.header("content-security-policy")
                .is_some_and(|v| v.contains("default-src 'none'"))
        );
    }
}

#[test]
fn a_lost_mirror_fails_writes_closed_while_reads_go_on() {
    let layout = Layout::new();
    let (server, client) = admin(&layout);
    let created = client.request(
        "POST",
        "/api/v1/admin/tenants",
        Some(r#"{"name":"Before"}"#),
    );
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(client.request("GET", "/readyz", None).status, 200);

    std::fs::remove_dir_all(&layout.mirror).expect("remove the mirror");

    let suspend = client.request("POST", &format!("/api/v1/admin/tenants/{id}/suspend"), None);
    assert_problem(&suspend, 503, "storage_unavailable");
    let detail = suspend.json()["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    assert!(
        detail.contains(&layout.mirror.display().to_string()),
        "cause must name the mirror: {detail}"
    );
    let create = client.request("POST", "/api/v1/admin/tenants", Some(r#"{"name":"After"}"#));
    assert_problem(&create, 503, "storage_unavailable");

    let ready = client.request("GET", "/readyz", None);
    assert_problem(&ready, 503, "not_ready");
    let shown = client.request("GET", &format!("/api/v1/admin/tenants/{id}"), None);
    assert_eq!(shown.status, 200, "reads go on: {}", shown.text());
    assert_eq!(
        shown.json()["status"],
        "active",
        "the refused suspend changed nothing"
    );
    let list = client.request("GET", "/api/v1/admin/tenants", None).json();
    assert_eq!(
        list["items"].as_array().expect("items").len(),
        1,
        "the refused create left nothing"
    );
    drop(server);
}

#[test]
fn orphaned_attachment_files_are_removed_at_start() {
    let layout = Layout::new();
    let server = layout.serve();
    assert_eq!(server.stop(), 0, "clean stop");
    // What a crash between an upload's file and its event leaves, in both locations.
    let orphan = "at_00000000000000000000000000000001";
    for dir in [&layout.data, &layout.mirror] {
        let blobs = dir.join("blobs");
        std::fs::create_dir_all(&blobs).expect("blobs dir");
        std::fs::write(blobs.join(orphan), b"sealed").expect("orphan");
    }
    std::fs::write(
        layout.data.join("blobs").join(format!("{orphan}.tmp")),
        b"half",
    )
    .expect("unfinished");
    let server = layout.serve();
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l == "init: removed 2 orphaned attachment file(s) (a crash interrupted an upload or deletion)"),
        "{:?}",
        server.stdout
    );
    for dir in [&layout.data, &layout.mirror] {
        let left = std::fs::read_dir(dir.join("blobs")).expect("dir").count();
        assert_eq!(left, 0, "in {}", dir.display());
    }
    assert_eq!(server.stop(), 0);
}
