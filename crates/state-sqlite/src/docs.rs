//! Documents: typed entities (users, sessions, tokens, roles, invitations, settings) stored as
//! opaque serialised documents beside the few columns they are found by. The caller (the engine)
//! owns the document format; this module only stores bytes it was given, which hold ids,
//! timestamps, counters, keyed hashes and sealed values — never plaintext a person typed.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Error, Result};

/// A stored document and its index columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub kind: &'static str,
    pub id: String,
    /// `system` or a tenant id.
    pub realm: String,
    /// A unique (per kind and realm) lookup key: a keyed hash or a token hash.
    pub lookup: Option<Vec<u8>>,
    /// The id of the document this one belongs to (a session's user).
    pub parent: Option<String>,
    pub body: Vec<u8>,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn put(c: &Connection, path: &Path, doc: &Doc) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO docs (kind, id, realm, lookup, parent, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (kind, id) DO UPDATE SET realm = ?3, lookup = ?4, parent = ?5, doc = ?6",
    )
    .and_then(|mut s| {
        s.execute(params![
            doc.kind, doc.id, doc.realm, doc.lookup, doc.parent, doc.body
        ])
    })
    .map_err(sql(path))?;
    Ok(())
}

pub(crate) fn delete(c: &Connection, path: &Path, kind: &str, id: &str) -> Result<bool> {
    let n = c
        .execute(
            "DELETE FROM docs WHERE kind = ?1 AND id = ?2",
            params![kind, id],
        )
        .map_err(sql(path))?;
    Ok(n > 0)
}

type Raw = (String, String, Option<Vec<u8>>, Option<String>, Vec<u8>);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn doc(kind: &'static str, (id, realm, lookup, parent, body): Raw) -> Doc {
    Doc {
        kind,
        id,
        realm,
        lookup,
        parent,
        body,
    }
}

const COLUMNS: &str = "id, realm, lookup, parent, doc";

pub(crate) fn get(
    c: &Connection,
    path: &Path,
    kind: &'static str,
    id: &str,
) -> Result<Option<Doc>> {
    let r = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM docs WHERE kind = ?1 AND id = ?2"
        ))
        .and_then(|mut s| s.query_row(params![kind, id], raw))
        .optional()
        .map_err(sql(path))?;
    Ok(r.map(|r| doc(kind, r)))
}

pub(crate) fn find_by_lookup(
    c: &Connection,
    path: &Path,
    kind: &'static str,
    realm: &str,
    lookup: &[u8],
) -> Result<Option<Doc>> {
    let r = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM docs WHERE kind = ?1 AND realm = ?2 AND lookup = ?3"
        ))
        .and_then(|mut s| s.query_row(params![kind, realm, lookup], raw))
        .optional()
        .map_err(sql(path))?;
    Ok(r.map(|r| doc(kind, r)))
}

pub(crate) fn list(
    c: &Connection,
    path: &Path,
    kind: &'static str,
    realm: &str,
    after: &str,
    limit: u32,
) -> Result<Vec<Doc>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM docs WHERE kind = ?1 AND realm = ?2 AND id > ?3 ORDER BY id LIMIT ?4"
        ))
        .map_err(sql(path))?;
    let rows = stmt
        .query_map(params![kind, realm, after, limit], raw)
        .map_err(sql(path))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql(path))?;
    Ok(rows.into_iter().map(|r| doc(kind, r)).collect())
}

pub(crate) fn list_by_parent(
    c: &Connection,
    path: &Path,
    kind: &'static str,
    parent: &str,
) -> Result<Vec<Doc>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM docs WHERE kind = ?1 AND parent = ?2 ORDER BY id"
        ))
        .map_err(sql(path))?;
    let rows = stmt
        .query_map(params![kind, parent], raw)
        .map_err(sql(path))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql(path))?;
    Ok(rows.into_iter().map(|r| doc(kind, r)).collect())
}

/// Which documents [`count`] counts. The members are named by the caller, which owns the
/// document format; they are JSON members of the stored document, never client input.
#[derive(Debug, Clone, Copy)]
pub struct DocCount<'a> {
    pub kind: &'a str,
    /// Members that must be null or absent.
    pub unset: &'a [&'a str],
    /// `(member, bound)`: the member must be a number greater than `bound`.
    pub above: &'a [(&'a str, i64)],
}

pub(crate) fn count(c: &Connection, path: &Path, q: &DocCount<'_>) -> Result<i64> {
    use rusqlite::types::Value;
    let mut where_ = String::from("kind = ?1");
    let mut values = vec![Value::Text(q.kind.to_owned())];
    let member = |m: &str| Value::Text(format!("$.{m}"));
    for m in q.unset {
        values.push(member(m));
        where_ += &format!(
            " AND json_extract(CAST(doc AS TEXT), ?{}) IS NULL",
            values.len()
        );
    }
    for (m, bound) in q.above {
        values.push(member(m));
        values.push(Value::Integer(*bound));
        let n = values.len();
        where_ += &format!(" AND json_extract(CAST(doc AS TEXT), ?{}) > ?{n}", n - 1);
    }
    c.prepare_cached(&format!("SELECT count(*) FROM docs WHERE {where_}"))
        .and_then(|mut s| s.query_row(rusqlite::params_from_iter(values), |r| r.get(0)))
        .map_err(sql(path))
}
