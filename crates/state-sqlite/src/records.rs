//! Records and their blind indexes. Bodies are sealed by the caller; index entries are keyed
//! hashes whose domain already names the collection and field, so this table learns nothing
//! about values, fields or equality across fields.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Error, Result};

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub id: String,
    pub tenant: String,
    pub collection: String,
    pub owner: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    pub body: Vec<u8>,
}

/// Which timestamp orders a listing, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Created { descending: bool },
    Updated { descending: bool },
}

/// What to list.
#[derive(Debug, Clone)]
pub struct RecordQuery<'a> {
    pub collection: &'a str,
    /// Only records of this owner (owner-only rights).
    pub owner: Option<&'a str>,
    /// Only records having every one of these index hashes.
    pub index: &'a [Vec<u8>],
    pub sort: Sort,
    /// Strictly after this (timestamp, id).
    pub after: Option<(i64, &'a str)>,
    pub limit: u32,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    }
}

pub(crate) const COLUMNS: &str =
    "r.id, r.tenant, r.collection, r.owner, r.created_at, r.updated_at, r.version, r.body";

pub(crate) fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok(RecordRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        collection: r.get(2)?,
        owner: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        version: r.get(6)?,
        body: r.get(7)?,
    })
}

pub(crate) fn put(c: &Connection, path: &Path, rec: &RecordRow, index: &[Vec<u8>]) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO records (id, tenant, collection, owner, created_at, updated_at, version, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET \
         updated_at = ?6, version = ?7, body = ?8",
    )
    .and_then(|mut s| s.execute(params![rec.id, rec.tenant, rec.collection, rec.owner, rec.created_at, rec.updated_at, rec.version, rec.body]))
    .map_err(sql(path))?;
    c.prepare_cached("DELETE FROM record_index WHERE record = ?1")
        .and_then(|mut s| s.execute(params![rec.id]))
        .map_err(sql(path))?;
    let mut stmt = c
        .prepare_cached("INSERT OR IGNORE INTO record_index (collection, value_hash, record) VALUES (?1, ?2, ?3)")
        .map_err(sql(path))?;
    for hash in index {
        stmt.execute(params![rec.collection, hash, rec.id])
            .map_err(sql(path))?;
    }
    Ok(())
}

pub(crate) fn delete(c: &Connection, path: &Path, id: &str) -> Result<bool> {
    c.execute("DELETE FROM record_index WHERE record = ?1", params![id])
        .map_err(sql(path))?;
    let n = c
        .execute("DELETE FROM records WHERE id = ?1", params![id])
        .map_err(sql(path))?;
    Ok(n > 0)
}

pub(crate) fn get(c: &Connection, path: &Path, id: &str) -> Result<Option<RecordRow>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM records r WHERE r.id = ?1"))
        .and_then(|mut s| s.query_row(params![id], row))
        .optional()
        .map_err(sql(path))
}

pub(crate) fn count(c: &Connection, path: &Path, collection: &str) -> Result<i64> {
    c.query_row(
        "SELECT count(*) FROM records WHERE collection = ?1",
        params![collection],
        |r| r.get(0),
    )
    .map_err(sql(path))
}

pub(crate) fn list(c: &Connection, path: &Path, q: &RecordQuery<'_>) -> Result<Vec<RecordRow>> {
    let (column, descending) = match q.sort {
        Sort::Created { descending } => ("r.created_at", descending),
        Sort::Updated { descending } => ("r.updated_at", descending),
    };
    let (cmp, order) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let mut query = format!("SELECT {COLUMNS} FROM records r WHERE r.collection = ?1");
    let mut args: Vec<rusqlite::types::Value> = vec![q.collection.to_owned().into()];
    if let Some(owner) = q.owner {
        args.push(owner.to_owned().into());
        query.push_str(&format!(" AND r.owner = ?{}", args.len()));
    }
    for hash in q.index {
        args.push(hash.clone().into());
        query.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM record_index i WHERE i.collection = r.collection AND i.value_hash = ?{} AND i.record = r.id)",
            args.len()
        ));
    }
    if let Some((ts, id)) = q.after {
        args.push(ts.into());
        args.push(id.to_owned().into());
        let (a, b) = (args.len() - 1, args.len());
        query.push_str(&format!(" AND ({column}, r.id) {cmp} (?{a}, ?{b})"));
    }
    args.push(i64::from(q.limit).into());
    query.push_str(&format!(
        " ORDER BY {column} {order}, r.id {order} LIMIT ?{}",
        args.len()
    ));
    let mut stmt = c.prepare_cached(&query).map_err(sql(path))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), row)
        .map_err(sql(path))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql(path))?;
    Ok(rows)
}
