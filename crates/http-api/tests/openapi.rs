//! The OpenAPI document at `/api/v1/openapi.json`: served without a credential, OpenAPI 3.1,
//! describing exactly the routes the router mounts (read from the routers' sources, so a route
//! added without `#[utoipa::path]` fails here), every operation with a problem+json error and a
//! security requirement unless it is public, every `$ref` and link resolvable.
//! Reproduce with `cargo test -p http-api --test openapi -- --nocapture`.

mod common;
#[path = "common/routes.rs"]
mod routes;

use std::collections::BTreeSet;

use axum::http::{StatusCode, header};
use common::{App, Auth};
use serde_json::Value;

/// The routes anyone may call; every other operation must declare a security requirement.
const PUBLIC: [(&str, &str); 9] = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/mfa"),
    ("POST", "/api/v1/invitations/accept"),
    ("POST", "/api/v1/password-reset"),
    ("POST", "/api/v1/tenants/{tenant}/deletion/cancel"),
    // The link's token is the capability (single use, 15 minutes).
    ("GET", "/api/v1/export-downloads/{token}"),
];

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn document() -> Value {
    let app = App::new().await;
    let r = app.get("/api/v1/openapi.json", &Auth::None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.headers.get(header::CONTENT_TYPE).map(|v| v.to_str().ok()),
        Some(Some("application/json; charset=utf-8"))
    );
    assert!(r.body.is_object(), "not a JSON object: {:?}", r.body);
    r.body
}

/// Every operation: (METHOD, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

/// Follows a `#/...` reference.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("a local reference");
            let target = doc.pointer(pointer);
            resolve(doc, target.unwrap_or_else(|| panic!("unresolved {r}")))
        }
        None => value,
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_describes_strongroom() {
    let doc = document().await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "openapi = {version:?}");
    assert_eq!(doc["info"]["title"], "Strongroom");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], "/");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "__Host-strongroom-session");
    let problem = &doc["components"]["schemas"]["Problem"];
    let required: BTreeSet<&str> = problem["required"]
        .as_array()
        .expect("Problem.required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["type", "title", "status", "code", "detail"])
    );
    assert!(problem["properties"]["errors"].is_object(), "{problem}");
    println!("document: {} bytes", doc.to_string().len());
}

#[tokio::test]
async fn the_document_describes_exactly_the_mounted_routes() {
    let doc = document().await;
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let mounted = routes::routes_in_source();
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    println!(
        "router: {} routes, document: {} operations",
        mounted.len(),
        documented.len()
    );
    assert!(
        mounted.len() >= 59,
        "the source parser found only {mounted:?}"
    );
    assert!(
        undocumented.is_empty() && unmounted.is_empty(),
        "routes without `#[utoipa::path]` in ApiDoc: {undocumented:?}\n\
         documented routes the router lacks: {unmounted:?}"
    );
}

#[tokio::test]
async fn every_operation_declares_problem_errors_and_its_security() {
    let doc = document().await;
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    let mut ids = BTreeSet::new();
    let mut faults = Vec::new();
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_default();
        if !ids.insert(id.to_owned()) {
            faults.push(format!("{at}: operationId {id:?} is not unique"));
        }
        let responses = op["responses"].as_object().expect("responses");
        let mut problem_4xx = false;
        for (status, response) in responses {
            let response = resolve(&doc, response);
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
            if schema != "#/components/schemas/Problem" {
                faults.push(format!("{at}: {status} has no Problem body: {response}"));
            }
            problem_4xx |= status.starts_with('4');
        }
        if !problem_4xx {
            faults.push(format!("{at}: no 4xx response"));
        }
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        let security = op["security"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        match (public, security.is_empty()) {
            (true, false) => faults.push(format!("{at}: public, yet declares {security:?}")),
            (false, true) => faults.push(format!("{at}: declares no security requirement")),
            _ => {}
        }
        for requirement in security {
            let names: Vec<&String> = requirement.as_object().expect("object").keys().collect();
            if names.is_empty() || names.iter().any(|n| !schemes.contains_key(*n)) {
                faults.push(format!("{at}: security requirement {requirement}"));
            }
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[tokio::test]
async fn links_name_existing_operations_and_their_parameters() {
    let doc = document().await;
    let ops = operations(&doc);
    let find = |id: &str| ops.iter().find(|(_, _, op)| op["operationId"] == id);
    let mut links = 0;
    for (method, path, op) in &ops {
        for (status, response) in op["responses"].as_object().expect("responses") {
            let Some(map) = resolve(&doc, response)["links"].as_object() else {
                continue;
            };
            for (name, link) in map {
                links += 1;
                let at = format!("{method} {path} {status} link {name}");
                let target = link["operationId"].as_str().expect("operationId");
                let (_, _, target_op) = find(target).unwrap_or_else(|| panic!("{at}: no {target}"));
                let declared: BTreeSet<&str> = target_op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                for param in link["parameters"].as_object().expect("parameters").keys() {
                    assert!(
                        declared.contains(param.as_str()),
                        "{at}: {target} has no {param}"
                    );
                }
            }
        }
    }
    for wanted in ["create_tenant", "create_collection", "create_record"] {
        let (_, _, op) = find(wanted).unwrap_or_else(|| panic!("no {wanted}"));
        assert!(
            op["responses"]["201"]["links"].is_object(),
            "{wanted} declares no links"
        );
    }
    assert!(links >= 8, "only {links} links");
}

#[tokio::test]
async fn every_reference_resolves() {
    let doc = document().await;
    let mut stack = vec![&doc];
    let mut refs = 0;
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs += 1;
                    let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("remote {r}"));
                    assert!(doc.pointer(pointer).is_some(), "unresolved {r}");
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(refs > 100, "only {refs} references");
}

#[tokio::test]
async fn errors_carry_the_documented_problem_members() {
    let app = App::new().await;
    let r = app
        .get("/api/v1/tenants/tn_nope/collections", &Auth::None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for member in ["type", "title", "status", "code", "detail"] {
        assert!(r.body.get(member).is_some(), "no {member} in {:?}", r.body);
    }
}
