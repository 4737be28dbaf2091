//! Collection schemas: field declarations, their checks, and the validation of a record body
//! against them. Pure: no I/O, no storage; every error names the field path and the reason.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use types::CollectionId;

/// Most fields a collection may declare.
pub const MAX_FIELDS: usize = 64;
/// Deepest nesting of a `json` field.
pub const MAX_DEPTH: usize = 32;
const DEFAULT_TEXT: u32 = 4_096;
const MAX_TEXT: u32 = 65_536;
const DEFAULT_JSON_BYTES: u32 = 16 * 1024;
const MAX_JSON_BYTES: u32 = 256 * 1024;
/// Names a field may not take: they are the record's own metadata.
const RESERVED: &[&str] = &[
    "id",
    "owner",
    "created_at",
    "updated_at",
    "version",
    "collection",
];

/// The kinds of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    Datetime,
    Json,
    Reference,
}

/// One declared field. Limits apply to the types named in their comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// `[a-z][a-z0-9_]{0,63}`, not one of the record's metadata names.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$")]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
    /// Equality filters allowed (not for `json`).
    #[serde(default)]
    pub indexed: bool,
    /// text: the value names the record's data subject (the person it is about). The record's
    /// body and attachments are then sealed under that subject's own key, so that erasing the
    /// subject makes them unreadable everywhere. At most one per schema; set at creation and
    /// never changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subject: bool,
    /// text
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "types::lenient::opt_u32")]
    pub min_length: Option<u32>,
    /// text (default 4,096, at most 65,536)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 65_536)]
    #[serde(deserialize_with = "types::lenient::opt_u32")]
    pub max_length: Option<u32>,
    /// number
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// number
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// number: whole numbers only
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub integer: bool,
    /// json: encoded size limit (default 16 KiB, at most 256 KiB)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 262_144)]
    #[serde(deserialize_with = "types::lenient::opt_u32")]
    pub max_bytes: Option<u32>,
    /// reference: the collection the referenced record belongs to
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<CollectionId>,
}

/// A collection's schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    #[schema(max_items = 64)]
    pub fields: Vec<Field>,
}

/// One problem, located by a JSON pointer (`/title`, `/fields/2/max_length`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub path: String,
    pub reason: String,
}

fn err(path: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        reason: reason.into(),
    }
}

/// `[a-z][a-z0-9_]{0,63}`: collection and field names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Schema {
    /// Checks the declarations themselves; lists every problem.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.fields.len() > MAX_FIELDS {
            errors.push(err("/fields", format!("at most {MAX_FIELDS} fields")));
        }
        for (i, f) in self.fields.iter().enumerate() {
            let at = |k: &str| format!("/fields/{i}{k}");
            if !valid_name(&f.name) {
                errors.push(err(at("/name"), "must match [a-z][a-z0-9_]{0,63}"));
            } else if RESERVED.contains(&f.name.as_str()) {
                errors.push(err(at("/name"), "is reserved for record metadata"));
            } else if self.fields[..i].iter().any(|g| g.name == f.name) {
                errors.push(err(at("/name"), "is declared twice"));
            }
            check_limits(f, &at, &mut errors);
            if f.subject && self.fields[..i].iter().any(|g| g.subject) {
                errors.push(err(at("/subject"), "only one field names the data subject"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The data subject a record's data names (the value of the `subject` field), if any.
    pub fn subject_of<'a>(&self, data: &'a Map<String, Value>) -> Option<&'a str> {
        let field = self.fields.iter().find(|f| f.subject)?;
        data.get(&field.name)?.as_str().filter(|s| !s.is_empty())
    }
}

fn check_limits(f: &Field, at: &dyn Fn(&str) -> String, errors: &mut Vec<FieldError>) {
    let only = |present: bool, key: &str, kinds: &str, errors: &mut Vec<FieldError>| {
        if present {
            errors.push(err(
                at(&format!("/{key}")),
                format!("applies only to {kinds} fields"),
            ));
        }
    };
    use FieldType as T;
    only(
        f.kind != T::Text && (f.min_length.is_some() || f.max_length.is_some()),
        "max_length",
        "text",
        errors,
    );
    only(
        f.kind != T::Number && (f.min.is_some() || f.max.is_some() || f.integer),
        "min",
        "number",
        errors,
    );
    only(
        f.kind != T::Json && f.max_bytes.is_some(),
        "max_bytes",
        "json",
        errors,
    );
    only(
        f.kind != T::Reference && f.collection.is_some(),
        "collection",
        "reference",
        errors,
    );
    if f.kind == T::Reference && f.collection.is_none() {
        errors.push(err(
            at("/collection"),
            "a reference names the collection it points to",
        ));
    }
    only(f.kind != T::Text && f.subject, "subject", "text", errors);
    if f.kind == T::Json && f.indexed {
        errors.push(err(at("/indexed"), "json fields cannot be indexed"));
    }
    if f.max_length.is_some_and(|m| m == 0 || m > MAX_TEXT) {
        errors.push(err(at("/max_length"), format!("must be 1 to {MAX_TEXT}")));
    }
    if let (Some(lo), Some(hi)) = (f.min_length, f.max_length.or(Some(DEFAULT_TEXT)))
        && lo > hi
    {
        errors.push(err(at("/min_length"), "exceeds max_length"));
    }
    if f.min.is_some_and(|m| !m.is_finite()) || f.max.is_some_and(|m| !m.is_finite()) {
        errors.push(err(at("/min"), "limits must be finite numbers"));
    }
    if let (Some(lo), Some(hi)) = (f.min, f.max)
        && lo > hi
    {
        errors.push(err(at("/min"), "exceeds max"));
    }
    if f.max_bytes.is_some_and(|m| m == 0 || m > MAX_JSON_BYTES) {
        errors.push(err(
            at("/max_bytes"),
            format!("must be 1 to {MAX_JSON_BYTES}"),
        ));
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Parses an RFC 3339 time and returns it normalised to UTC with milliseconds.
pub fn normalize_datetime(text: &str) -> Option<String> {
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    let ms = utc.millisecond();
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

/// Checks one value against its field; returns the value as stored (datetimes normalised).
fn check_value(f: &Field, v: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Value> {
    let bad = |reason: String, errors: &mut Vec<FieldError>| {
        errors.push(err(path, reason));
        None
    };
    match (f.kind, v) {
        (FieldType::Text, Value::String(s)) => {
            let n = s.chars().count() as u32;
            let max = f.max_length.unwrap_or(DEFAULT_TEXT);
            if n > max {
                return bad(format!("at most {max} characters (got {n})"), errors);
            }
            if let Some(min) = f.min_length
                && n < min
            {
                return bad(format!("at least {min} characters (got {n})"), errors);
            }
            Some(v.clone())
        }
        (FieldType::Number, Value::Number(num)) => {
            let Some(x) = num.as_f64().filter(|x| x.is_finite()) else {
                return bad("must be a finite number".into(), errors);
            };
            if f.integer && x.fract() != 0.0 {
                return bad("must be a whole number".into(), errors);
            }
            if f.min.is_some_and(|m| x < m) || f.max.is_some_and(|m| x > m) {
                return bad(format!("must be within {:?}..={:?}", f.min, f.max), errors);
            }
            Some(v.clone())
        }
        (FieldType::Boolean, Value::Bool(_)) => Some(v.clone()),
        (FieldType::Datetime, Value::String(s)) => match normalize_datetime(s) {
            Some(n) => Some(Value::String(n)),
            None => bad(
                "must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z".into(),
                errors,
            ),
        },
        (FieldType::Json, v) => {
            let max = f.max_bytes.unwrap_or(DEFAULT_JSON_BYTES) as usize;
            let size = v.to_string().len();
            if size > max {
                return bad(format!("at most {max} bytes encoded (got {size})"), errors);
            }
            if depth(v) > MAX_DEPTH {
                return bad(format!("nested deeper than {MAX_DEPTH}"), errors);
            }
            Some(v.clone())
        }
        (FieldType::Reference, Value::String(s)) => match s.parse::<types::RecordId>() {
            Ok(_) => Some(v.clone()),
            Err(_) => bad("must be a record id (rc_…)".into(), errors),
        },
        (kind, _) => bad(format!("must be a {}", type_name(kind)), errors),
    }
}

fn type_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Text => "string",
        FieldType::Number => "number",
        FieldType::Boolean => "boolean",
        FieldType::Datetime => "date-time string",
        FieldType::Json => "JSON value",
        FieldType::Reference => "record id string",
    }
}

/// Validates a whole body (create or PUT): every required field present, no unknown field, every
/// value valid. Returns the body as stored, or every problem.
pub fn validate(schema: &Schema, body: &Value) -> Result<Map<String, Value>, Vec<FieldError>> {
    let Value::Object(map) = body else {
        return Err(vec![err("", "the record must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let mut out = Map::new();
    for (key, value) in map {
        let path = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
        match schema.field(key) {
            None => errors.push(err(path, "is not a field of this collection")),
            Some(_) if value.is_null() => {}
            Some(f) => {
                if let Some(v) = check_value(f, value, &path, &mut errors) {
                    out.insert(key.clone(), v);
                }
            }
        }
    }
    for f in &schema.fields {
        if f.required
            && !out.contains_key(&f.name)
            && !errors.iter().any(|e| e.path == format!("/{}", f.name))
        {
            errors.push(err(format!("/{}", f.name), "is required"));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Applies a merge patch (RFC 7396, one level: `null` removes a field) and validates the result.
pub fn patch(
    schema: &Schema,
    current: &Map<String, Value>,
    changes: &Value,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let Value::Object(changes) = changes else {
        return Err(vec![err("", "a patch must be a JSON object")]);
    };
    let mut merged = current.clone();
    for (k, v) in changes {
        if v.is_null() {
            merged.remove(k);
        } else {
            merged.insert(k.clone(), v.clone());
        }
    }
    validate(schema, &Value::Object(merged))
}

/// The canonical text of a value for its blind index, or None when the field is not indexable
/// or the value is not of its type.
pub fn canonical(f: &Field, v: &Value) -> Option<String> {
    match (f.kind, v) {
        (FieldType::Text | FieldType::Reference, Value::String(s)) => Some(format!("s:{s}")),
        (FieldType::Number, Value::Number(n)) => n.as_f64().map(|x| format!("n:{x:?}")),
        (FieldType::Boolean, Value::Bool(b)) => Some(format!("b:{b}")),
        (FieldType::Datetime, Value::String(s)) => normalize_datetime(s).map(|d| format!("d:{d}")),
        _ => None,
    }
}

/// Parses a filter value from a query string into the field's type.
pub fn parse_filter(f: &Field, raw: &str) -> Option<Value> {
    match f.kind {
        FieldType::Text | FieldType::Reference | FieldType::Datetime => {
            Some(Value::String(raw.to_owned()))
        }
        FieldType::Number => raw
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .and_then(|x| serde_json::Number::from_f64(x).map(Value::Number)),
        FieldType::Boolean => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldType::Json => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        serde_json::from_value(json!({ "fields": [
            { "name": "title", "type": "text", "required": true, "indexed": true, "max_length": 10 },
            { "name": "n", "type": "number", "integer": true, "min": 0, "max": 100 },
            { "name": "done", "type": "boolean", "indexed": true },
            { "name": "due", "type": "datetime" },
            { "name": "data", "type": "json", "max_bytes": 64 }
        ]}))
        .expect("schema")
    }

    #[test]
    fn valid_bodies_pass_and_datetimes_are_normalised() {
        let out = validate(&schema(), &json!({ "title": "x", "n": 3, "done": true, "due": "2026-01-31T13:00:00+01:00", "data": [1] }))
            .expect("valid");
        assert_eq!(out["due"], "2026-01-31T12:00:00.000Z");
    }

    #[test]
    fn every_failing_field_is_listed_with_its_path() {
        let errors = validate(&schema(), &json!({ "n": 3.5, "done": "yes", "due": "yesterday", "data": "x".repeat(100), "zzz": 1 }))
            .expect_err("invalid");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for p in ["/n", "/done", "/due", "/data", "/zzz", "/title"] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
    }

    #[test]
    fn schema_declarations_are_checked() {
        let bad: Schema = serde_json::from_value(json!({ "fields": [
            { "name": "Title", "type": "text" },
            { "name": "id", "type": "text" },
            { "name": "a", "type": "json", "indexed": true },
            { "name": "b", "type": "text", "min": 1 },
            { "name": "c", "type": "reference" },
            { "name": "c", "type": "boolean" }
        ]}))
        .expect("parse");
        let errors = bad.check().expect_err("refused");
        assert!(errors.len() >= 6, "{errors:?}");
    }

    #[test]
    fn deep_json_is_refused() {
        let mut v = json!(1);
        for _ in 0..40 {
            v = json!([v]);
        }
        let f = Field {
            max_bytes: Some(100_000),
            ..schema().fields[4].clone()
        };
        let s = Schema { fields: vec![f] };
        assert!(validate(&s, &json!({ "data": v })).is_err());
    }

    #[test]
    fn canonical_values_agree_with_filters() {
        let s = schema();
        let n = Field {
            indexed: true,
            ..s.fields[1].clone()
        };
        assert_eq!(
            canonical(&n, &json!(1)),
            canonical(&n, &parse_filter(&n, "1.0").expect("f"))
        );
        assert_ne!(
            canonical(&s.fields[0], &json!("1")),
            canonical(&n, &json!(1))
        );
    }
}
