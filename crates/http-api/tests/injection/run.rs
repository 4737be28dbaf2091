//! Running the cases of one route and judging the answers: path, query and header
//! parameters, routes without input, and the sentinels after each route. Body cases are in
//! `body.rs`, filters in `filters.rs`.

use serde_json::Value;

use crate::body::Sent;
use crate::common::Auth;
use crate::payloads::{self, Payload, enc, show};
use crate::placeholders::params;
use crate::walk::Loc;
use crate::world::{Answer, Content, Cred, Mode, World};
use crate::{Body, Row, Rule};

/// What a path case may answer.
const PATH_REFUSALS: [u16; 4] = [400, 403, 404, 422];
/// A string where a number or a boolean belongs.
pub const CONFUSION: Rule = Rule::Refused(&[400, 422]);

/// A body a case owns.
pub enum Owned {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

impl Owned {
    pub fn content(&self) -> Content<'_> {
        match self {
            Owned::None => Content::None,
            Owned::Json(v) => Content::Json(v),
            Owned::Raw(t, bytes) => Content::Raw(t, bytes),
        }
    }
}

/// `path` with the row's `query_base` and, replacing its own base value, `extra` (encoded).
pub fn with_query(path: &str, row: &Row, extra: Option<(&str, &str)>) -> String {
    let injected = |pair: &&str| extra.is_some_and(|(n, _)| pair.split('=').next() == Some(n));
    let base = row.query_base.split('&').filter(|p| !p.is_empty());
    let mut pairs: Vec<String> = base.filter(|p| !injected(p)).map(str::to_owned).collect();
    if let Some((name, value)) = extra {
        pairs.push(format!("{name}={}", enc(value)));
    }
    match pairs.is_empty() {
        true => path.to_owned(),
        false => format!("{path}?{}", pairs.join("&")),
    }
}

/// One case's identity, for failure messages.
pub struct Case<'a> {
    pub row: &'a Row,
    pub place: String,
    pub payload: &'a Payload,
}

impl Case<'_> {
    pub fn line(&self, what: &str) -> String {
        format!(
            "{} {} | {} | {} {} | {what}",
            self.row.method,
            self.row.full_path(),
            self.place,
            self.payload.name,
            show(&self.payload.value)
        )
    }
}

pub struct Run<'w> {
    pub w: &'w World,
    pub cases: usize,
    /// Accepted values read back (or logged in with, replayed, found by a filter).
    pub verified: usize,
    pub skipped: usize,
    pub failures: Vec<String>,
    before: Vec<(String, String)>,
}

pub fn is_problem(r: &Answer) -> bool {
    r.headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

/// The start of a long text, for failure messages.
pub fn cut(s: &str) -> String {
    s.chars().take(400).collect()
}

/// The limit a rule gives its payloads (0: none).
pub fn limit(rule: Rule) -> usize {
    match rule {
        Rule::Echo(_, _, max) | Rule::Key(_, max) | Rule::NewPassword(max) => max,
        Rule::Idempotent(max) => max,
        _ => 0,
    }
}

impl<'w> Run<'w> {
    pub async fn new(w: &'w World) -> Run<'w> {
        // Twice: the first read may journal the callers' activity; the snapshot must be stable.
        w.snapshot().await;
        let before = w.snapshot().await;
        assert_eq!(
            before,
            w.snapshot().await,
            "the sentinel snapshot is not stable"
        );
        Run {
            w,
            cases: 0,
            verified: 0,
            skipped: 0,
            failures: Vec::new(),
            before,
        }
    }

    pub fn fail(&mut self, line: String) {
        self.failures.push(line);
    }

    /// Every case of one route, then the sentinels compared with the snapshot.
    pub async fn route(&mut self, row: &Row, doc: &Value) {
        let (w, full) = (self.w, row.full_path());
        let start = self.cases;
        let mut cred = w.caller(row.who).await;
        for param in params(&full) {
            for p in payloads::all(0) {
                self.path_case(row, &param, &p, &cred).await;
            }
        }
        for (name, rule) in row.query {
            match rule {
                Rule::Filter => self.filters(row, &cred).await,
                _ => {
                    for p in payloads::all(limit(*rule)) {
                        self.query_case(row, name, *rule, &p, &mut cred).await;
                    }
                }
            }
        }
        for (name, rule) in row.headers {
            for p in payloads::all(limit(*rule)) {
                self.header_case(row, name, *rule, &p, &cred).await;
            }
        }
        self.body(row, doc, &mut cred).await;
        let no_input = params(&full).is_empty() && row.query.is_empty() && row.headers.is_empty();
        if no_input && matches!(row.body, Body::None) {
            self.stray(row, &cred).await;
        }
        if self.cases == start {
            self.fail(format!("{} {full}: no injection case ran", row.method));
        }
        self.sentinels_unchanged(row).await;
    }

    /// The sentinels as they were before the run (or the last change reported).
    async fn sentinels_unchanged(&mut self, row: &Row) {
        let (after, full) = (self.w.snapshot().await, row.full_path());
        for ((label, b), (_, a)) in self.before.clone().iter().zip(&after) {
            if a != b {
                self.fail(format!(
                    "{} {full}: after its cases the sentinel `{label}` changed\n    before: {}\n    \
                     after:  {}",
                    row.method,
                    cut(b),
                    cut(a)
                ));
            }
        }
        // Each change is reported once, by the route that made it.
        self.before = after;
    }

    /// A body for cases that are not about the body (the template filled as is).
    pub async fn plain_body(&self, row: &Row, cred: &Cred) -> Owned {
        match row.body {
            Body::Json(templates, _) => {
                let filled = self.w.fill(templates[0], cred, row).await;
                let parsed = serde_json::from_str(&filled.text);
                Owned::Json(parsed.unwrap_or_else(|e| panic!("{}: {e}", filled.text)))
            }
            Body::Record(_) => Owned::Json(self.record_template().await.0),
            Body::Raw(content_type, _) => Owned::Raw(content_type, b"a plain file\n".to_vec()),
            Body::None => Owned::None,
        }
    }

    /// A payload in a path parameter (the others name sentinels): refused, nothing shown,
    /// nothing written.
    async fn path_case(&mut self, row: &Row, param: &str, p: &Payload, cred: &Cred) {
        let w = self.w;
        let full = row.full_path();
        let path = w.path(&full, Mode::Sentinel, Some(param));
        let path = path.replace(&format!("{{{param}}}"), &enc(&p.value));
        let uri = with_query(&path, row, None);
        let body = self.plain_body(row, cred).await;
        let before = w.digest();
        let r = w
            .send(row.method, &uri, &cred.auth, &[], body.content())
            .await;
        let r = r.expect("no header");
        self.cases += 1;
        let case = Case {
            row,
            place: format!("path {{{param}}}"),
            payload: p,
        };
        let status = r.status.as_u16();
        let shown = r.body.to_string();
        let marker = w
            .foreign
            .iter()
            .chain(&w.own)
            .find(|m| shown.contains(m.as_str()));
        if !PATH_REFUSALS.contains(&status) || !is_problem(&r) {
            self.fail(case.line(&format!(
                "expected 400/403/404/422 problem, got {status} {}",
                cut(&shown)
            )));
        } else if let Some(m) = marker {
            self.fail(case.line(&format!(
                "the answer shows sentinel data `{m}`: {}",
                cut(&shown)
            )));
        } else if w.digest() != before {
            self.fail(case.line(&format!("refused with {status}, yet the state changed")));
        }
    }

    /// A payload in a query parameter.
    async fn query_case(
        &mut self,
        row: &Row,
        name: &str,
        rule: Rule,
        p: &Payload,
        cred: &mut Cred,
    ) {
        let w = self.w;
        let path = w.path(&row.full_path(), Mode::Scratch, None);
        let uri = with_query(&path, row, Some((name, &p.value)));
        let body = self.plain_body(row, cred).await;
        let before = w.digest();
        let r = w
            .send(row.method, &uri, &cred.auth, &[], body.content())
            .await;
        let r = r.expect("no header");
        self.cases += 1;
        let case = Case {
            row,
            place: format!("query `{name}`"),
            payload: p,
        };
        let value = Value::String(p.value.clone());
        let sent = Sent {
            loc: Loc::Value(String::new()),
            value: &value,
            before,
            email: None,
        };
        self.judge(&case, rule, &r, &sent, cred).await;
    }

    /// The common judgement of a refusal: one of `statuses`, a problem, no foreign data, and
    /// (given the digest before) nothing written.
    pub fn refused(
        &mut self,
        case: &Case<'_>,
        r: &Answer,
        statuses: &[u16],
        before: Option<&String>,
    ) {
        let status = r.status.as_u16();
        let shown = r.body.to_string();
        let marker = self.w.foreign.iter().find(|m| shown.contains(m.as_str()));
        if !statuses.contains(&status) || !is_problem(r) {
            let line = case.line(&format!(
                "expected {statuses:?} problem, got {status} {}",
                cut(&shown)
            ));
            self.fail(line);
        } else if let Some(m) = marker {
            let line = case.line(&format!("the answer shows tenant B's `{m}`"));
            self.fail(line);
        } else if before.is_some_and(|b| *b != self.w.digest()) {
            let line = case.line(&format!("refused with {status}, yet the state changed"));
            self.fail(line);
        }
    }

    /// A payload in a header parameter.
    async fn header_case(&mut self, row: &Row, name: &str, rule: Rule, p: &Payload, cred: &Cred) {
        let w = self.w;
        let mut path = w.path(&row.full_path(), Mode::Scratch, None);
        if matches!(rule, Rule::IfMatch) {
            // A fresh record each time: `*` may change or delete it.
            let (body, _) = self.record_template().await;
            let notes = format!("{}/records/notes", w.base());
            let made = w.ok("POST", &notes, &cred.auth, Some(body), 201).await;
            let id = made["id"].as_str().expect("id");
            path = w
                .path(&row.full_path(), Mode::Scratch, Some("record"))
                .replace("{record}", id);
        }
        let path = with_query(&path, row, None);
        let body = self.plain_body(row, cred).await;
        let before = w.digest();
        let headers = [(name, p.value.as_bytes())];
        let Some(r) = w
            .send(row.method, &path, &cred.auth, &headers, body.content())
            .await
        else {
            self.skipped += 1;
            return;
        };
        self.cases += 1;
        let case = Case {
            row,
            place: format!("header `{name}`"),
            payload: p,
        };
        match rule {
            Rule::Refused(statuses) => self.refused(&case, &r, statuses, Some(&before)),
            Rule::IfMatch if p.value == "*" => {
                if !r.status.is_success() {
                    let got = format!("{} {}", r.status, cut(&r.body.to_string()));
                    self.fail(case.line(&format!("`*` matches any version, got {got}")));
                }
            }
            Rule::IfMatch => self.refused(&case, &r, &[412], Some(&before)),
            Rule::Idempotent(max) => {
                let visible = p
                    .value
                    .bytes()
                    .all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
                if !visible {
                    self.refused(&case, &r, &[400], Some(&before));
                } else if p.value.len() > max {
                    self.refused(&case, &r, &[422], Some(&before));
                } else if r.status.as_u16() != 201 {
                    self.fail(case.line(&format!(
                        "expected 201, got {} {}",
                        r.status,
                        cut(&r.body.to_string())
                    )));
                } else {
                    let again = w
                        .send(row.method, &path, &cred.auth, &headers, body.content())
                        .await;
                    let again = again.expect("same headers");
                    let replayed = again.headers.get("idempotent-replayed").is_some();
                    if again.status.as_u16() != 200 || again.body["id"] != r.body["id"] || !replayed
                    {
                        let got = format!("{} {}", again.status, cut(&again.body.to_string()));
                        self.fail(
                            case.line(&format!("the retry did not replay {}: {got}", r.body["id"])),
                        );
                    } else {
                        self.verified += 1;
                    }
                }
            }
            _ => panic!("header rule {rule:?} is not run by header_case"),
        }
    }

    /// Routes without input: the payloads as a stray query parameter (GET: answered as without
    /// it) and as the bearer credential (401).
    async fn stray(&mut self, row: &Row, cred: &Cred) {
        let w = self.w;
        let path = row.full_path();
        let baseline = match row.method {
            "GET" => {
                let r = w.call(row.method, &path, &cred.auth, &[], None).await;
                Some(r.expect("no header").status)
            }
            _ => None,
        };
        for p in payloads::all(0) {
            if let Some(want) = baseline {
                let uri = format!("{path}?x={}", enc(&p.value));
                let r = w
                    .call(row.method, &uri, &cred.auth, &[], None)
                    .await
                    .expect("no header");
                self.cases += 1;
                if r.status != want {
                    let case = Case {
                        row,
                        place: "stray query `x`".to_owned(),
                        payload: &p,
                    };
                    self.fail(case.line(&format!("answered {} (without it: {want})", r.status)));
                }
            }
            if !matches!(cred.auth, Auth::None) {
                let header = format!("Bearer {}", p.value);
                let headers = [("authorization", header.as_bytes())];
                let before = w.digest();
                let Some(r) = w.call(row.method, &path, &Auth::None, &headers, None).await else {
                    self.skipped += 1;
                    continue;
                };
                self.cases += 1;
                let case = Case {
                    row,
                    place: "bearer credential".to_owned(),
                    payload: &p,
                };
                self.refused(&case, &r, &[401], Some(&before));
            }
        }
    }
}
