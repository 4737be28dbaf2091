//! One tenant's rows: its data as a point-in-time restore reads and replaces it, and a digest
//! of everything the tenant owns, for tests and reports.
//!
//! A tenant's *data* is the documents of the kinds the caller names in the tenant's realm, its
//! records and their blind-index rows. The caller (the engine) owns the document kinds; this
//! module never decides which kinds are data. Replacing data touches no row of another tenant
//! and no document of another kind, whatever the rows given say.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, params};
use types::TenantId;

use crate::digest::hash_rows;
use crate::docs::Doc;
use crate::records::{self, RecordRow};
use crate::{Error, Result};

/// A record as a restore carries it: the row and the value hashes of its blind index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRecord {
    pub row: RecordRow,
    /// The record's index hashes, ascending (the rows are `(row.collection, hash, row.id)`).
    pub index: Vec<Vec<u8>>,
}

/// One tenant's data rows, ordered deterministically: documents by the order of the kinds
/// asked for, then by id; records by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantData {
    pub docs: Vec<Doc>,
    pub records: Vec<DataRecord>,
}

impl TenantData {
    /// Index rows over all records.
    pub fn index_rows(&self) -> usize {
        self.records.iter().map(|r| r.index.len()).sum()
    }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    }
}

/// The tenant's records, as a subquery (`?1` is the tenant id).
const TENANT_RECORDS: &str = "SELECT id FROM records WHERE tenant = ?1";

pub(crate) fn read(
    c: &Connection,
    path: &Path,
    tenant: TenantId,
    kinds: &[&'static str],
) -> Result<TenantData> {
    let realm = tenant.to_string();
    let mut out = TenantData::default();
    for &kind in kinds {
        let mut stmt = c
            .prepare_cached(
                "SELECT id, lookup, parent, doc FROM docs WHERE kind = ?1 AND realm = ?2 ORDER BY id",
            )
            .map_err(sql(path))?;
        let rows = stmt
            .query_map(params![kind, realm], |r| {
                Ok(Doc {
                    kind,
                    id: r.get(0)?,
                    realm: realm.clone(),
                    lookup: r.get(1)?,
                    parent: r.get(2)?,
                    body: r.get(3)?,
                })
            })
            .map_err(sql(path))?;
        for doc in rows {
            out.docs.push(doc.map_err(sql(path))?);
        }
    }
    let mut index: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    {
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT record, value_hash FROM record_index WHERE record IN ({TENANT_RECORDS}) \
                 ORDER BY record, value_hash"
            ))
            .map_err(sql(path))?;
        let rows = stmt
            .query_map(params![realm], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql(path))?;
        for row in rows {
            let (record, hash): (String, Vec<u8>) = row.map_err(sql(path))?;
            index.entry(record).or_default().push(hash);
        }
    }
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {} FROM records r WHERE r.tenant = ?1 ORDER BY r.id",
            records::COLUMNS
        ))
        .map_err(sql(path))?;
    let rows = stmt
        .query_map(params![realm], records::row)
        .map_err(sql(path))?;
    for row in rows {
        let row = row.map_err(sql(path))?;
        let index = index.remove(&row.id).unwrap_or_default();
        out.records.push(DataRecord { row, index });
    }
    Ok(out)
}

/// Bytes the tenant's data holds (document bodies and lookups, record bodies, index hashes), to
/// refuse a restore too large for one journal entry before reading it.
pub(crate) fn size(
    c: &Connection,
    path: &Path,
    tenant: TenantId,
    kinds: &[&'static str],
) -> Result<u64> {
    let realm = tenant.to_string();
    let mut total: i64 = 0;
    for kind in kinds {
        total += c
            .prepare_cached(
                "SELECT coalesce(sum(length(doc) + coalesce(length(lookup), 0)), 0) FROM docs \
                 WHERE kind = ?1 AND realm = ?2",
            )
            .and_then(|mut s| s.query_row(params![kind, realm], |r| r.get::<_, i64>(0)))
            .map_err(sql(path))?;
    }
    total += c
        .prepare_cached("SELECT coalesce(sum(length(body)), 0) FROM records WHERE tenant = ?1")
        .and_then(|mut s| s.query_row(params![realm], |r| r.get::<_, i64>(0)))
        .map_err(sql(path))?;
    total += c
        .prepare_cached(&format!(
            "SELECT coalesce(sum(length(value_hash)), 0) FROM record_index \
             WHERE record IN ({TENANT_RECORDS})"
        ))
        .and_then(|mut s| s.query_row(params![realm], |r| r.get::<_, i64>(0)))
        .map_err(sql(path))?;
    Ok(total.max(0) as u64)
}

/// Deletes the tenant's data rows (documents of `kinds` in its realm, its records and their
/// index rows) and inserts `data`'s. Every row is written into the tenant: documents into its
/// realm, records under its id, whatever `data` says; documents of other kinds are skipped. A
/// row whose key another tenant's row holds is skipped too (never overwritten).
pub(crate) fn replace(
    c: &Connection,
    path: &Path,
    tenant: TenantId,
    kinds: &[&'static str],
    data: &TenantData,
) -> Result<()> {
    let realm = tenant.to_string();
    c.execute(
        &format!("DELETE FROM record_index WHERE record IN ({TENANT_RECORDS})"),
        params![realm],
    )
    .map_err(sql(path))?;
    c.execute("DELETE FROM records WHERE tenant = ?1", params![realm])
        .map_err(sql(path))?;
    for kind in kinds {
        c.execute(
            "DELETE FROM docs WHERE kind = ?1 AND realm = ?2",
            params![kind, realm],
        )
        .map_err(sql(path))?;
    }
    let mut put_doc = c
        .prepare_cached(
            "INSERT INTO docs (kind, id, realm, lookup, parent, doc) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        )
        .map_err(sql(path))?;
    for doc in data.docs.iter().filter(|d| kinds.contains(&d.kind)) {
        put_doc
            .execute(params![
                doc.kind, doc.id, realm, doc.lookup, doc.parent, doc.body
            ])
            .map_err(sql(path))?;
    }
    let mut put_record = c
        .prepare_cached(
            "INSERT INTO records (id, tenant, collection, owner, created_at, updated_at, \
             version, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
        )
        .map_err(sql(path))?;
    let mut put_index = c
        .prepare_cached(
            "INSERT OR IGNORE INTO record_index (collection, value_hash, record) \
             VALUES (?1, ?2, ?3)",
        )
        .map_err(sql(path))?;
    for DataRecord { row, index } in &data.records {
        let inserted = put_record
            .execute(params![
                row.id,
                realm,
                row.collection,
                row.owner,
                row.created_at,
                row.updated_at,
                row.version,
                row.body
            ])
            .map_err(sql(path))?;
        if inserted == 0 {
            continue;
        }
        for hash in index {
            put_index
                .execute(params![row.collection, hash, row.id])
                .map_err(sql(path))?;
        }
    }
    Ok(())
}

/// SHA-256 over a canonical dump of every row the tenant owns: its `tenants` row; the documents
/// of its realm and those whose parent is the tenant or a document of its realm (its sessions,
/// tokens and invitations, kept in shared realms); its records; their index rows. Tables in the
/// order of [`crate::StateStore::digest`], rows by primary key, values tagged as there.
pub(crate) fn digest(c: &Connection, path: &Path, tenant: TenantId) -> Result<[u8; 32]> {
    let queries = [
        ("tenants", "SELECT * FROM tenants WHERE id = ?1".to_owned()),
        (
            "docs",
            "SELECT * FROM docs WHERE realm = ?1 OR parent = ?1 \
             OR parent IN (SELECT id FROM docs WHERE realm = ?1) ORDER BY kind, id"
                .to_owned(),
        ),
        (
            "records",
            "SELECT * FROM records WHERE tenant = ?1 ORDER BY id".to_owned(),
        ),
        (
            "record_index",
            format!(
                "SELECT * FROM record_index WHERE record IN ({TENANT_RECORDS}) \
                 ORDER BY collection, value_hash, record"
            ),
        ),
    ];
    let mut buf = crypto::Sha256::new();
    let id = tenant.to_string();
    for (table, query) in &queries {
        hash_rows(c, path, &mut buf, table, query, &[&id])?;
    }
    Ok(buf.finish())
}

/// Deletes every row the tenant owns — the rows [`digest`] covers: its `tenants` row, the
/// documents of its realm and those whose parent is the tenant or one of them, its records and
/// their index rows. Returns how many rows went.
pub(crate) fn purge(c: &Connection, path: &Path, tenant: TenantId) -> Result<u64> {
    let id = tenant.to_string();
    let statements = [
        format!("DELETE FROM record_index WHERE record IN ({TENANT_RECORDS})"),
        "DELETE FROM records WHERE tenant = ?1".to_owned(),
        "DELETE FROM docs WHERE parent = ?1 \
         OR parent IN (SELECT id FROM docs WHERE realm = ?1)"
            .to_owned(),
        "DELETE FROM docs WHERE realm = ?1".to_owned(),
        "DELETE FROM tenants WHERE id = ?1".to_owned(),
    ];
    let mut purged = 0u64;
    for statement in &statements {
        purged += c.execute(statement, params![id]).map_err(sql(path))? as u64;
    }
    Ok(purged)
}

/// How many rows [`purge`] would delete.
pub(crate) fn count(c: &Connection, path: &Path, tenant: TenantId) -> Result<u64> {
    let id = tenant.to_string();
    let queries = [
        format!("SELECT count(*) FROM record_index WHERE record IN ({TENANT_RECORDS})"),
        "SELECT count(*) FROM records WHERE tenant = ?1".to_owned(),
        "SELECT count(*) FROM docs WHERE realm = ?1 OR parent = ?1 \
         OR parent IN (SELECT id FROM docs WHERE realm = ?1)"
            .to_owned(),
        "SELECT count(*) FROM tenants WHERE id = ?1".to_owned(),
    ];
    let mut total = 0u64;
    for query in &queries {
        let n: i64 = c
            .prepare_cached(query)
            .and_then(|mut s| s.query_row(params![id], |r| r.get(0)))
            .map_err(sql(path))?;
        total += n.max(0) as u64;
    }
    Ok(total)
}

/// The tenant's records that carry the index hash `hash` (in any collection), by id.
pub(crate) fn records_indexed(
    c: &Connection,
    path: &Path,
    tenant: TenantId,
    hash: &[u8],
) -> Result<Vec<String>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT DISTINCT i.record FROM record_index i JOIN records r ON r.id = i.record \
             WHERE i.value_hash = ?1 AND r.tenant = ?2 ORDER BY i.record",
        )
        .map_err(sql(path))?;
    let rows = stmt
        .query_map(params![hash, tenant.to_string()], |r| r.get(0))
        .map_err(sql(path))?;
    rows.collect::<rusqlite::Result<Vec<String>>>()
        .map_err(sql(path))
}

/// Deletes the tenant's records that carry the index hash `hash`, their index rows and the
/// documents of `child_kinds` whose parent they are (attachments). Returns the records deleted.
pub(crate) fn purge_indexed(
    c: &Connection,
    path: &Path,
    tenant: TenantId,
    hash: &[u8],
    child_kinds: &[&str],
) -> Result<u64> {
    let records = records_indexed(c, path, tenant, hash)?;
    for record in &records {
        for kind in child_kinds {
            c.execute(
                "DELETE FROM docs WHERE kind = ?1 AND parent = ?2",
                params![kind, record],
            )
            .map_err(sql(path))?;
        }
        c.execute(
            "DELETE FROM record_index WHERE record = ?1",
            params![record],
        )
        .map_err(sql(path))?;
        c.execute("DELETE FROM records WHERE id = ?1", params![record])
            .map_err(sql(path))?;
    }
    Ok(records.len() as u64)
}

/// Up to `limit` of the tenant's record ids, in id order.
pub(crate) fn record_ids(
    c: &Connection,
    path: &Path,
    tenant: TenantId,
    limit: u32,
) -> Result<Vec<String>> {
    let mut stmt = c
        .prepare_cached("SELECT id FROM records WHERE tenant = ?1 ORDER BY id LIMIT ?2")
        .map_err(sql(path))?;
    let rows = stmt
        .query_map(params![tenant.to_string(), limit], |r| r.get(0))
        .map_err(sql(path))?;
    rows.collect::<rusqlite::Result<Vec<String>>>()
        .map_err(sql(path))
}

/// Deletes the records `ids` that belong to the tenant (others are left), their index rows and
/// the documents of `child_kinds` under them, set-wise through a temporary table of the ids.
/// Returns how many records went.
pub(crate) fn purge_records(
    c: &Connection,
    path: &Path,
    tenant: TenantId,
    ids: &[String],
    child_kinds: &[&str],
) -> Result<u64> {
    c.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS purge_ids (id TEXT PRIMARY KEY) WITHOUT ROWID; \
         DELETE FROM temp.purge_ids;",
    )
    .map_err(sql(path))?;
    {
        let mut put = c
            .prepare_cached("INSERT OR IGNORE INTO temp.purge_ids (id) SELECT id FROM records WHERE id = ?1 AND tenant = ?2")
            .map_err(sql(path))?;
        let owner = tenant.to_string();
        for id in ids {
            put.execute(params![id, owner]).map_err(sql(path))?;
        }
    }
    for kind in child_kinds {
        c.execute(
            "DELETE FROM docs WHERE kind = ?1 AND parent IN (SELECT id FROM temp.purge_ids)",
            params![kind],
        )
        .map_err(sql(path))?;
    }
    c.execute(
        "DELETE FROM record_index WHERE record IN (SELECT id FROM temp.purge_ids)",
        [],
    )
    .map_err(sql(path))?;
    let purged = c
        .execute(
            "DELETE FROM records WHERE id IN (SELECT id FROM temp.purge_ids)",
            [],
        )
        .map_err(sql(path))? as u64;
    c.execute("DELETE FROM temp.purge_ids", [])
        .map_err(sql(path))?;
    Ok(purged)
}
