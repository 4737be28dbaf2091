//! The table against the served document: every route documented, every parameter and body
//! place with a rule, no rule for a place that is gone, every place in a template.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::placeholders::params;
use crate::walk::{self, Kind};
use crate::{Body, FIELDS, ROUTES, Rule};

/// A template's text made parseable without the fixture.
pub fn parse_template(t: &str) -> Value {
    let text = t.replace("{fields}", FIELDS);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("template {t}: {e}"))
}

/// Checks the table against the document: every route documented, every path, query and
/// header parameter and every body place with a rule, every rule's place still in the
/// document, every place in a template. Returns the problems.
pub fn coverage(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for row in &ROUTES {
        let full = row.full_path();
        let at = format!("{} {full}", row.method);
        let Some(op) = walk::operation(doc, row.method, &full) else {
            problems.push(format!("{at}: not in the OpenAPI document"));
            continue;
        };
        let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
        let named = |r: &[(&str, Rule)]| set(r.iter().map(|(n, _)| (*n).to_owned()).collect());
        let checks = [
            (
                "path",
                set(walk::parameters(doc, op, "path")),
                set(params(&full)),
            ),
            (
                "query",
                set(walk::parameters(doc, op, "query")),
                named(row.query),
            ),
            (
                "header",
                set(walk::parameters(doc, op, "header")),
                named(row.headers),
            ),
        ];
        for (kind, documented, ruled) in checks {
            if documented != ruled {
                problems.push(format!(
                    "{at}: the document's {kind} parameters are {documented:?}, the row has rules \
                     for {ruled:?}"
                ));
            }
        }
        let places = walk::body_places(doc, op);
        match row.body {
            Body::None if !places.is_empty() => {
                problems.push(format!("{at}: a body the row does not know: {places:?}"));
            }
            Body::Record(_) => {
                let free = [("/*", Kind::Any), ("/{key}", Kind::Key)];
                let want = free.iter().map(|(p, k)| ((*p).to_owned(), *k)).collect();
                if places != want {
                    problems.push(format!(
                        "{at}: record bodies were free-form maps, now {places:?}: give the row \
                         rules"
                    ));
                }
            }
            Body::Json(templates, rules) => {
                let parsed: Vec<Value> = templates.iter().map(|t| parse_template(t)).collect();
                for (place, kind) in &places {
                    let ruled = rules.iter().any(|(p, _)| p == place);
                    if !ruled && *kind != Kind::Scalar {
                        problems.push(format!("{at}: body place {place} ({kind:?}) has no rule"));
                    }
                    if ruled && !parsed.iter().any(|t| walk::locate(t, place).is_some()) {
                        problems.push(format!("{at}: no template has body place {place}"));
                    }
                }
                for (p, _) in rules {
                    if !places.contains_key(*p) {
                        problems.push(format!("{at}: rule for {p}, which the body no longer has"));
                    }
                }
            }
            Body::Raw(content_type, _) => {
                let content = &walk::resolve(doc, &op["requestBody"])["content"];
                if content.get(content_type).is_none() {
                    problems.push(format!("{at}: the document takes no {content_type} body"));
                }
            }
            Body::None => {}
        }
        let documented = walk::parameters(doc, op, "query");
        for pair in row.query_base.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or_default();
            if !documented.iter().any(|d| d == name) {
                problems.push(format!(
                    "{at}: query_base names `{name}`, not a documented query parameter"
                ));
            }
        }
    }
    problems
}
