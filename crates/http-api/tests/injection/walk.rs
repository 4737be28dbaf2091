//! Where a request can carry a payload, read from the served OpenAPI document: the parameters
//! of an operation, and the places of its JSON request body as pointer patterns (`*`: every
//! array item or map value; `{key}`: the keys of a map). And the body templates: finding a
//! pattern's first instance in a template and putting a value (or a key) there.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a body place holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string (ids, enums and secrets included).
    Text,
    /// A number or a boolean (a string there is a type confusion).
    Scalar,
    /// The keys of a map.
    Key,
    /// Any JSON value.
    Any,
}

/// Follows `$ref`s.
pub fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v["$ref"].as_str() else {
            return v;
        };
        let pointer = r.strip_prefix('#').expect("a local reference");
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolved {r}"));
    }
    panic!("a $ref chain longer than 16")
}

/// The operation `method path` of the document.
pub fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    doc["paths"].get(path)?.get(method.to_lowercase())
}

/// The names of the operation's parameters that are `in` (path, query, header).
pub fn parameters(doc: &Value, op: &Value, within: &str) -> Vec<String> {
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    params
        .iter()
        .map(|p| resolve(doc, p))
        .filter(|p| p["in"] == within)
        .map(|p| p["name"].as_str().expect("parameter name").to_owned())
        .collect()
}

/// The places of the operation's JSON request body (none without a body).
pub fn body_places(doc: &Value, op: &Value) -> BTreeMap<String, Kind> {
    let mut out = BTreeMap::new();
    let content = &resolve(doc, &op["requestBody"])["content"];
    if let Some(schema) = content.get("application/json").map(|c| &c["schema"]) {
        walk(doc, schema, String::new(), 0, &mut out);
    }
    out
}

fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn walk(doc: &Value, schema: &Value, at: String, depth: usize, out: &mut BTreeMap<String, Kind>) {
    assert!(depth < 12, "body schema nested deeper than 12 at {at}");
    let schema = resolve(doc, schema);
    for alternatives in ["oneOf", "anyOf", "allOf"] {
        for s in schema[alternatives].as_array().into_iter().flatten() {
            walk(doc, s, at.clone(), depth + 1, out);
        }
    }
    let kinds = types(schema);
    let has = |t: &str| kinds.contains(&t);
    if has("string") {
        out.insert(at.clone(), Kind::Text);
    }
    if has("integer") || has("number") || has("boolean") {
        out.entry(at.clone()).or_insert(Kind::Scalar);
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, s) in props {
            walk(doc, s, format!("{at}/{name}"), depth + 1, out);
        }
    }
    match &schema["additionalProperties"] {
        Value::Object(s) => {
            out.insert(format!("{at}/{{key}}"), Kind::Key);
            if s.is_empty() {
                out.insert(format!("{at}/*"), Kind::Any);
            } else {
                walk(
                    doc,
                    &schema["additionalProperties"],
                    format!("{at}/*"),
                    depth + 1,
                    out,
                );
            }
        }
        Value::Bool(true) => {
            out.insert(format!("{at}/{{key}}"), Kind::Key);
            out.insert(format!("{at}/*"), Kind::Any);
        }
        _ => {}
    }
    if has("array") || schema.get("items").is_some() {
        walk(doc, &schema["items"], format!("{at}/*"), depth + 1, out);
    }
    if kinds.is_empty() && schema.as_object().is_some_and(serde_json::Map::is_empty) {
        out.insert(at, Kind::Any);
    }
}

/// A concrete place in a body: the value at a pointer, or the key `key` of the map at a pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loc {
    Value(String),
    Key(String, String),
}

impl Loc {
    /// The pointer of the value, or of the map whose key it is.
    pub fn pointer(&self) -> &str {
        match self {
            Loc::Value(p) | Loc::Key(p, _) => p,
        }
    }
}

/// The first instance of `pattern` in `body` (`*` tries every item or member in order).
pub fn locate(body: &Value, pattern: &str) -> Option<Loc> {
    let tokens: Vec<&str> = pattern.split('/').skip(1).collect();
    find(body, &tokens, String::new())
}

fn find(v: &Value, tokens: &[&str], at: String) -> Option<Loc> {
    let Some((first, rest)) = tokens.split_first() else {
        return Some(Loc::Value(at));
    };
    match (*first, v) {
        ("{key}", Value::Object(map)) if rest.is_empty() => {
            map.keys().next().map(|k| Loc::Key(at, k.clone()))
        }
        ("*", Value::Array(items)) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find(item, rest, format!("{at}/{i}"))),
        ("*", Value::Object(map)) => map
            .iter()
            .find_map(|(k, item)| find(item, rest, format!("{at}/{k}"))),
        (name, Value::Object(map)) => find(map.get(name)?, rest, format!("{at}/{name}")),
        _ => None,
    }
}

/// `body` with `value` at `loc` (for a key: the key renamed to the string `value`).
pub fn put(body: &Value, loc: &Loc, value: Value) -> Value {
    let mut out = body.clone();
    match loc {
        Loc::Value(p) => *out.pointer_mut(p).expect("located") = value,
        Loc::Key(p, old) => {
            let map = out
                .pointer_mut(p)
                .and_then(Value::as_object_mut)
                .expect("a map");
            let member = map.remove(old).expect("the key");
            map.insert(value.as_str().expect("a key is text").to_owned(), member);
        }
    }
    out
}
