//! Body cases: every payload at every place of a route's body, judged by the place's rule; an
//! accepted value is read back as the rule says. Record bodies take their places from the
//! collection's declared schema.

use serde_json::{Value, json};
use unicode_normalization::UnicodeNormalization;

use crate::common::Auth;
use crate::coverage::parse_template;
use crate::payloads::{self, Payload, enc};
use crate::run::{CONFUSION, Case, Run, cut, limit};
use crate::walk::{self, Kind, Loc};
use crate::world::{Answer, Content, Cred, Mode};
use crate::{Body, Norm, Read, Row, Rule, Who};

/// What a refused value of a stored field may answer (409: the name or address is taken).
const ECHO_REFUSALS: [u16; 3] = [400, 409, 422];

/// A body template: text with placeholders, or a value (record bodies).
#[derive(Debug, Clone, Copy)]
pub enum Tmpl<'a> {
    Text(&'a str),
    Value(&'a Value),
}

/// What one body case sent: where, what, the state's digest before it, and the account a
/// `{invitation}` or `{reset}` of its body belongs to.
pub struct Sent<'a> {
    pub loc: Loc,
    pub value: &'a Value,
    pub before: String,
    pub email: Option<String>,
}

/// What the server stores for `s` under `norm`.
fn normalize(norm: Norm, s: &str) -> String {
    match norm {
        Norm::Exact => s.to_owned(),
        Norm::Trim => s.trim().to_owned(),
        Norm::Email => s.trim().nfkc().collect::<String>().to_lowercase(),
        Norm::ServiceName => format!("service:{}", s.trim().to_lowercase()),
    }
}

impl Run<'_> {
    /// Every body case of a route: each place the document lists, by its rule (a string in a
    /// number or boolean place: refused), in each template that has it; record bodies by the
    /// collection's schema.
    pub async fn body(&mut self, row: &Row, doc: &Value, cred: &mut Cred) {
        match row.body {
            Body::Json(templates, rules) => {
                let op = walk::operation(doc, row.method, &row.full_path()).expect("documented");
                for (place, kind) in walk::body_places(doc, op) {
                    let rule = rules.iter().find(|(p, _)| *p == place).map(|(_, r)| *r);
                    let rule = rule.unwrap_or(CONFUSION);
                    for t in templates {
                        if walk::locate(&parse_template(t), &place).is_some() {
                            let tmpl = Tmpl::Text(t);
                            self.body_cases(row, tmpl, &place, kind, rule, cred).await;
                        }
                    }
                }
            }
            Body::Record(read) => self.record_cases(row, read, cred).await,
            Body::Raw(content_type, read) => self.raw_cases(row, content_type, read, cred).await,
            Body::None => {}
        }
    }

    /// The values a place gets: the payloads (emails also shaped as addresses), as strings, and
    /// for places holding any JSON also as a member of an object (and parsed, when they parse).
    fn values(&self, rule: Rule, kind: Kind) -> Vec<(Payload, Value)> {
        let mut list = payloads::all(limit(rule));
        if let Rule::Echo(Norm::Email, _, max) = rule {
            list.extend(payloads::emails(max, || self.w.next()));
        }
        let mut out = Vec::new();
        for p in list {
            out.push((p.clone(), Value::String(p.value.clone())));
            if kind == Kind::Any {
                out.push((p.clone(), json!({ p.value.clone(): p.value.clone() })));
                if let Ok(v) = serde_json::from_str::<Value>(&p.value) {
                    out.push((p.clone(), v));
                }
            }
        }
        out
    }

    /// Each payload as the raw bytes of the body; accepted ones read back whole.
    async fn raw_cases(&mut self, row: &Row, content_type: &str, read: Read, cred: &mut Cred) {
        let w = self.w;
        let path = w.path(&row.full_path(), Mode::Scratch, None);
        let uri = crate::run::with_query(&path, row, None);
        for p in payloads::all(0) {
            let before = w.digest();
            let content = Content::Raw(content_type, p.value.as_bytes());
            let r = w.send(row.method, &uri, &cred.auth, &[], content).await;
            let r = r.expect("no header");
            self.cases += 1;
            let case = Case {
                row,
                place: format!("body ({content_type})"),
                payload: &p,
            };
            let value = Value::String(p.value.clone());
            let sent = Sent {
                loc: Loc::Value(String::new()),
                value: &value,
                before,
                email: None,
            };
            let rule = Rule::Echo(Norm::Exact, read, 0);
            self.judge(&case, rule, &r, &sent, cred).await;
        }
    }

    /// Every payload at one body place.
    pub async fn body_cases(
        &mut self,
        row: &Row,
        tmpl: Tmpl<'_>,
        place: &str,
        kind: Kind,
        rule: Rule,
        cred: &mut Cred,
    ) {
        let w = self.w;
        let path = w.path(&row.full_path(), Mode::Scratch, None);
        for (p, value) in self.values(rule, kind) {
            // A refused re-authentication counts against its account (throttle, lockout):
            // each case gets an account of its own.
            if row.refusal_writes && matches!(row.who, Who::Fresh | Who::FreshTotp) {
                *cred = w.caller(row.who).await;
            }
            let (body, email) = match tmpl {
                Tmpl::Text(t) => {
                    let filled = w.fill(t, cred, row).await;
                    let body: Value = serde_json::from_str(&filled.text)
                        .unwrap_or_else(|e| panic!("{}: {e}", filled.text));
                    (body, filled.email)
                }
                Tmpl::Value(v) => (v.clone(), None),
            };
            let loc = walk::locate(&body, place).expect("located in the template");
            let body = walk::put(&body, &loc, value.clone());
            let before = w.digest();
            let r = w
                .call(row.method, &path, &cred.auth, &[], Some(&body))
                .await;
            let r = r.expect("no header");
            self.cases += 1;
            let shape = match &value {
                Value::String(_) => "",
                _ => " (as JSON)",
            };
            let case = Case {
                row,
                place: format!("body {place}{shape}"),
                payload: &p,
            };
            let sent = Sent {
                loc,
                value: &value,
                before,
                email,
            };
            self.judge(&case, rule, &r, &sent, cred).await;
        }
    }

    /// The verdict on one body case.
    pub async fn judge(
        &mut self,
        case: &Case<'_>,
        rule: Rule,
        r: &Answer,
        sent: &Sent<'_>,
        cred: &mut Cred,
    ) {
        let (loc, before) = (&sent.loc, &sent.before);
        let status = r.status.as_u16();
        let ok = r.status.is_success();
        let shown = cut(&r.body.to_string());
        if r.status.is_server_error() {
            return self.fail(case.line(&format!("{status} {shown}")));
        }
        if ok && case.payload.over && !matches!(rule, Rule::Ignored) {
            return self.fail(case.line(&format!("over the limit, yet accepted: {status}")));
        }
        let writes = case.row.refusal_writes;
        match rule {
            Rule::Echo(norm, read, _) if ok => {
                let want = match sent.value {
                    Value::String(s) => Value::String(normalize(norm, s)),
                    other => other.clone(),
                };
                match self.read_back(case.row, read, r, loc, cred).await {
                    Ok(got) if got == want => self.verified += 1,
                    Ok(got) => {
                        let diff = format!(
                            "stored {}, read back {}",
                            cut(&want.to_string()),
                            cut(&got.to_string())
                        );
                        self.fail(case.line(&diff));
                    }
                    Err(why) => self.fail(case.line(&why)),
                }
            }
            Rule::Key(read, _) if ok => {
                let key = sent.value.as_str().expect("a key");
                match self.read_back(case.row, read, r, loc, cred).await {
                    Ok(Value::Object(map)) if map.contains_key(key) => self.verified += 1,
                    Ok(got) => self
                        .fail(case.line(&format!("the key is not in {}", cut(&got.to_string())))),
                    Err(why) => self.fail(case.line(&why)),
                }
            }
            Rule::Echo(..) | Rule::Key(..) => self.refused(case, r, &ECHO_REFUSALS, Some(before)),
            Rule::NewPassword(_) if ok => {
                let password = sent.value.as_str().expect("a password").to_owned();
                let email = sent.email.clone().unwrap_or_else(|| cred.email.clone());
                match self.logs_in(&email, &password).await {
                    Ok(()) => self.verified += 1,
                    Err(why) => self.fail(case.line(&why)),
                }
                cred.password = password;
            }
            Rule::NewPassword(_) => self.refused(case, r, &[422], Some(before)),
            Rule::Refused(statuses) => {
                self.refused(case, r, statuses, (!writes).then_some(before));
            }
            Rule::Ignored => {}
            Rule::Idempotent(_) | Rule::IfMatch | Rule::Filter => {
                panic!("{rule:?} is not a body rule")
            }
        }
    }

    /// The value stored for an accepted case, read back as `read` says.
    async fn read_back(
        &self,
        row: &Row,
        read: Read,
        answer: &Answer,
        loc: &Loc,
        cred: &Cred,
    ) -> Result<Value, String> {
        let w = self.w;
        let fill = |template: &str| {
            let mut path = template.replacen("/t/", "/api/v1/tenants/{tenant}/", 1);
            while let Some(start) = path.find("{answer:") {
                let end = start + path[start..].find('}').expect("closing brace");
                let value = answer.body.pointer(&path[start + 8..end]);
                let value = value.and_then(Value::as_str).unwrap_or("-").to_owned();
                path.replace_range(start..=end, &enc(&value));
            }
            w.path(&path, Mode::Scratch, None)
        };
        let get = |path: String| async move {
            let r = w
                .call("GET", &path, &cred.auth, &[], None)
                .await
                .expect("no header");
            match r.status.as_u16() {
                200 => Ok(r.body),
                s => Err(format!(
                    "accepted, but GET {path} answers {s} {}",
                    cut(&r.body.to_string())
                )),
            }
        };
        let pick = |v: &Value, pointer: &str| {
            let pointer = pointer.replace("{ptr}", loc.pointer());
            v.pointer(&pointer).cloned().ok_or_else(|| {
                format!(
                    "accepted, but the read-back has nothing at {pointer}: {}",
                    cut(&v.to_string())
                )
            })
        };
        match read {
            Read::Get(path, pointer) => pick(&get(fill(path)).await?, pointer),
            Read::Item(path, id, pointer) => {
                let list = get(fill(path)).await?;
                let id = answer.body.pointer(id).cloned().unwrap_or_default();
                let items = list["items"].as_array().cloned().unwrap_or_default();
                let item = items.iter().find(|i| i["id"] == id);
                pick(
                    item.ok_or(format!("accepted, but {id} is not listed"))?,
                    pointer,
                )
            }
            Read::Accept => {
                let token = answer.body["token"].clone();
                let password = format!("violet tangerine harbour {}", w.next());
                let body = json!({ "token": token, "password": password });
                let path = "/api/v1/invitations/accept";
                let r = w
                    .call("POST", path, &Auth::None, &[], Some(&body))
                    .await
                    .expect("no header");
                match r.status.as_u16() {
                    201 => Ok(r.body["email"].clone()),
                    s => Err(format!(
                        "accepted, but accepting the invitation of {} answers {s} {}",
                        row.path,
                        cut(&r.body.to_string())
                    )),
                }
            }
        }
    }

    /// A new password logs in, and the same without its last character does not.
    async fn logs_in(&self, email: &str, password: &str) -> Result<(), String> {
        let app = &self.w.app;
        let t = self.w.a.id.clone();
        let r = app.login(&t, email, password, None).await;
        if r.status.as_u16() != 200 || r.body["status"] != "ok" {
            return Err(format!(
                "accepted, but logging in with it answers {} {}",
                r.status,
                cut(&r.body.to_string())
            ));
        }
        let mut shorter = password.to_owned();
        shorter.pop();
        let r = app.login(&t, email, &shorter, None).await;
        if r.status.as_u16() != 401 {
            return Err(format!(
                "accepted, but it minus its last character logs in too: {}",
                r.status
            ));
        }
        Ok(())
    }

    /// A valid body of `notes` (from its served schema) and the schema's fields.
    pub async fn record_template(&self) -> (Value, Vec<Value>) {
        let w = self.w;
        let path = format!("{}/collections/notes", w.base());
        let c = w.ok("GET", &path, &w.owner(), None, 200).await;
        let fields = c["schema"]["fields"].as_array().cloned().expect("fields");
        let mut body = serde_json::Map::new();
        for f in &fields {
            let value = match f["type"].as_str().expect("type") {
                "text" => json!("ok"),
                "number" => json!(1),
                "boolean" => json!(true),
                "datetime" => json!("2026-01-31T12:00:00.000Z"),
                "json" => json!({ "k": "v" }),
                "reference" => json!(w.a.anchor),
                other => panic!("a field type the test does not know: {other}"),
            };
            body.insert(f["name"].as_str().expect("name").to_owned(), value);
        }
        (Value::Object(body), fields)
    }

    /// Record bodies: every declared field by its type, and the keys.
    pub async fn record_cases(&mut self, row: &Row, read: Read, cred: &mut Cred) {
        let (body, fields) = self.record_template().await;
        let mut places = vec![("/{key}".to_owned(), Kind::Key, Rule::Refused(&[422]))];
        for f in &fields {
            let place = format!("/{}", f["name"].as_str().expect("name"));
            let max = f["max_length"].as_u64().unwrap_or(4096) as usize;
            let (kind, rule) = match f["type"].as_str().expect("type") {
                "text" => (Kind::Text, Rule::Echo(Norm::Exact, read, max)),
                "json" => (Kind::Any, Rule::Echo(Norm::Exact, read, 0)),
                "reference" | "datetime" => (Kind::Text, Rule::Refused(&[422])),
                _ => (Kind::Scalar, Rule::Refused(&[422])),
            };
            places.push((place, kind, rule));
        }
        for (place, kind, rule) in places {
            self.body_cases(row, Tmpl::Value(&body), &place, kind, rule, cred)
                .await;
        }
    }
}
