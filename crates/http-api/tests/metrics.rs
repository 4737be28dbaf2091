//! `GET /metrics`: system administrators only; valid Prometheus text format; requests counted
//! under their route template (never an id from the path); failed logins and lockouts from audit
//! events; live sessions; the journal's figures equal to its own counters; a lost mirror reported
//! by `strongroom_mirror_up` and by `/readyz`.
//! Reproduce with `cargo test -p http-api --test metrics -- --nocapture`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{StatusCode, header};
use common::{App, Auth};
use serde_json::json;

/// One sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// A parsed scrape.
struct Exposition {
    text: String,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The sum of the samples named `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.samples.iter().any(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
        })
    }
}

/// `{k="v",…}` at the start of `s` (values may hold braces and escaped quotes), and the rest.
fn parse_labels(s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{')?;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = rest.split_once("=\"")?;
        let valid_key =
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return None;
        }
        let (mut value, mut chars, mut end) = (String::new(), after.char_indices(), None);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?.1),
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key.to_owned(), value);
        rest = &after[end?..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// One sample line, `name{labels} value`, or `None` when it is not one.
fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !name_ok {
        return None;
    }
    let (labels, rest) = match line[name_end..].starts_with('{') {
        true => parse_labels(&line[name_end..])?,
        false => (BTreeMap::new(), &line[name_end..]),
    };
    let value = match rest.strip_prefix(' ')? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse::<f64>().ok()?,
    };
    Some((name.to_owned(), labels, value))
}

/// The family a sample belongs to, among the declared ones.
fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|base| types.get(*base).is_some_and(|t| t == "histogram"))
}

/// Checks the text format line by line and parses it.
fn parse(text: &str) -> Exposition {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "unexpected type in {line:?}"
            );
            let before = types.insert(name.to_owned(), kind.to_owned());
            assert!(before.is_none(), "family declared twice: {line:?}");
        } else if line.starts_with("# HELP ") {
            continue;
        } else {
            let sample = parse_sample(line)
                .unwrap_or_else(|| panic!("not a `name{{labels}} value` line: {line:?}\n{text}"));
            assert!(
                family(&sample.0, &types).is_some(),
                "sample before or without its # TYPE: {line:?}"
            );
            samples.push(sample);
        }
    }
    Exposition {
        text: text.to_owned(),
        samples,
    }
}

async fn scrape(app: &App) -> Exposition {
    let r = app.get("/metrics", &app.root()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(&String::from_utf8(r.bytes).expect("UTF-8"))
}

fn event(action: &str) -> audit::AuditEvent {
    audit::AuditEvent {
        id: types::EventId::from_bytes([7; 16]).to_string(),
        at: 1_800_000_000_000,
        node: "test".to_owned(),
        actor: audit::Actor {
            kind: audit::ActorKind::Anonymous,
            id: None,
            tenant: None,
        },
        action: action.to_owned(),
        resource: None,
        outcome: audit::Outcome::Failure,
        reason: None,
        client: audit::Client::default(),
        request_id: None,
        details: serde_json::Map::new(),
    }
}

const REQUESTS: &str = "strongroom_http_requests_total";
const TENANT_ROUTE: &str = "/api/v1/admin/tenants/{id}";

#[tokio::test]
async fn requests_are_counted_by_route_template_and_no_id_appears() {
    let app = App::new().await;
    let tenant = app.create_tenant("Counted").await;
    let absent = "tn_00000000000000000000000000000000";
    let before = scrape(&app).await;
    for _ in 0..3 {
        let r = app
            .get(&format!("/api/v1/admin/tenants/{tenant}"), &app.root())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let r = app
        .get(&format!("/api/v1/admin/tenants/{absent}"), &app.root())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = app
        .get(&format!("/no/such/route/{tenant}"), &Auth::None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let after = scrape(&app).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let get = ("method", "GET");
    let route = ("route", TENANT_ROUTE);
    assert_eq!(moved(REQUESTS, &[route, get, ("status_class", "2xx")]), 3.0);
    assert_eq!(moved(REQUESTS, &[route, get, ("status_class", "4xx")]), 1.0);
    let unmatched = [("route", "unmatched"), get, ("status_class", "4xx")];
    assert_eq!(moved(REQUESTS, &unmatched), 1.0);
    // The first scrape is counted once it has answered.
    let metrics = [("route", "/metrics"), get, ("status_class", "2xx")];
    assert_eq!(moved(REQUESTS, &metrics), 1.0);
    let latency = "strongroom_http_request_duration_seconds";
    assert_eq!(moved(&format!("{latency}_count"), &[route, get]), 4.0);
    let inf = [route, get, ("le", "+Inf")];
    assert_eq!(moved(&format!("{latency}_bucket"), &inf), 4.0);
    assert!(after.value(&format!("{latency}_sum"), &[route, get]) > 0.0);

    for id in [tenant.as_str(), absent, "/no/such/route"] {
        assert!(
            !after.text.contains(id),
            "`{id}` appears in the metrics:\n{}",
            after.text
        );
    }
    let routes: BTreeSet<&String> = after
        .samples
        .iter()
        .filter_map(|(_, labels, _)| labels.get("route"))
        .collect();
    println!("routes seen: {routes:?}");
    assert!(
        routes
            .iter()
            .all(|r| *r == "unmatched" || r.starts_with('/')),
        "{routes:?}"
    );
}

#[tokio::test]
async fn failed_logins_and_lockouts_are_counted_from_audit_events() {
    let app = App::new().await;
    let before = scrape(&app).await;
    let actions = [
        "login.failed",
        "mfa.failed",
        "reauth.failed",
        "login.locked",
        "login.succeeded",
        "login.throttled",
        "mfa.succeeded",
        "login.failed",
    ];
    for action in actions {
        app.state.metrics.observe_audit(&event(action));
    }
    let after = scrape(&app).await;
    let moved = |name| after.value(name, &[]) - before.value(name, &[]);
    assert_eq!(moved("strongroom_failed_logins_total"), 4.0);
    assert_eq!(moved("strongroom_lockouts_total"), 1.0);
}

#[tokio::test]
async fn live_sessions_are_counted_until_logout_or_idle_expiry() {
    let app = App::new().await;
    let tenant = app.create_tenant("Sessions").await;
    let active = |e: &Exposition| e.value("strongroom_sessions_active", &[]);
    let start = active(&scrape(&app).await);
    assert_eq!(start, 0.0, "the bootstrap token is not a session");

    let viewer = app.user(&tenant, "viewer@sessions.test", "viewer").await;
    let r = app
        .login(&tenant, &viewer.email, &viewer.password, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let second = r.body["token"].as_str().expect("token").to_owned();
    assert_eq!(active(&scrape(&app).await), 2.0);

    let r = app
        .post("/api/v1/auth/logout", &Auth::Bearer(second), json!({}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(active(&scrape(&app).await), 1.0, "a logout ends one");

    app.advance_secs(31 * 60);
    assert_eq!(active(&scrape(&app).await), 0.0, "idle past 30 minutes");
}

#[tokio::test]
async fn only_system_administrators_may_scrape() {
    let app = App::new().await;
    let tenant = app.create_tenant("Refused").await;
    let owner = app.user(&tenant, "owner@refused.test", "owner").await;
    let cases = [
        ("tenant owner", owner.bearer(), StatusCode::FORBIDDEN),
        ("anonymous", Auth::None, StatusCode::UNAUTHORIZED),
        (
            "a made-up token",
            Auth::Bearer("srt_made_up".to_owned()),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (who, auth, want) in cases {
        let r = app.get("/metrics", &auth).await;
        assert_eq!(r.status, want, "{who}: {:?}", r.body);
        let text = String::from_utf8_lossy(&r.bytes);
        assert!(!text.contains("strongroom_"), "{who} saw metrics: {text}");
    }
}

#[tokio::test]
async fn the_journal_and_disk_figures_are_the_engines_own() {
    let app = App::new().await;
    let first = scrape(&app).await;
    app.create_tenant("Journaled").await;
    let e = scrape(&app).await;
    let engine = &app.state.engine;
    let stats = engine.journal().stats();
    let batches = "strongroom_journal_batch_size";
    assert_eq!(
        e.value(&format!("{batches}_count"), &[]),
        stats.batches as f64
    );
    assert_eq!(
        e.value(&format!("{batches}_sum"), &[]),
        stats.appends as f64
    );
    assert!(
        e.value(&format!("{batches}_count"), &[]) > first.value(&format!("{batches}_count"), &[])
    );
    let fsyncs = "strongroom_journal_fsync_duration_seconds_count";
    assert_eq!(
        e.value(fsyncs, &[("mirror", "data")]),
        stats.mirror_a.fsyncs as f64
    );
    assert_eq!(
        e.value(fsyncs, &[("mirror", "mirror")]),
        stats.mirror_b.fsyncs as f64
    );
    let journal = engine.journal_bytes().expect("journal size");
    assert_eq!(e.value("strongroom_journal_bytes", &[]), journal as f64);
    for location in ["data", "mirror"] {
        let free = e.value("strongroom_disk_free_bytes", &[("location", location)]);
        let total = e.value("strongroom_disk_total_bytes", &[("location", location)]);
        assert!(free > 0.0 && free <= total, "{location}: {free} of {total}");
    }
    for name in [
        "strongroom_lockouts_total",
        "strongroom_failed_logins_total",
        "strongroom_sessions_active",
    ] {
        assert!(e.has(name, &[]), "{name} missing:\n{}", e.text);
    }
}

#[tokio::test]
async fn a_lost_mirror_is_reported_by_readyz_and_mirror_up() {
    let app = App::new().await;
    let up = |e: &Exposition, m| e.value("strongroom_mirror_up", &[("mirror", m)]);
    let healthy = scrape(&app).await;
    assert_eq!((up(&healthy, "data"), up(&healthy, "mirror")), (1.0, 1.0));
    assert_eq!(app.get("/readyz", &Auth::None).await.status, StatusCode::OK);

    std::fs::remove_dir_all(app.dir.path().join("mirror")).expect("remove the mirror");
    let r = app
        .post(
            "/api/v1/admin/tenants",
            &app.root(),
            json!({ "name": "Refused" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.code(), "storage_unavailable");

    let ready = app.get("/readyz", &Auth::None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        ready.body
    );
    assert_eq!(ready.code(), "not_ready");
    let degraded = scrape(&app).await;
    assert_eq!(up(&degraded, "mirror"), 0.0, "{}", degraded.text);
    assert_eq!(up(&degraded, "data"), 1.0, "mirror a still takes writes");
}
