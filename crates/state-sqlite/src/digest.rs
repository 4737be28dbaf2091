//! A canonical digest of the whole state, used to prove that `rebuild-state` reproduces the live
//! database exactly (and, through [`hash_rows`], of one tenant's rows: `tenant.rs`). Every
//! table is walked in a fixed order, rows by primary key, each value tagged with its type and
//! length-prefixed, so no two different states hash alike.

use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::schema::TABLES;
use crate::{Error, Result};

pub(crate) fn compute(c: &Connection, path: &Path) -> Result<[u8; 32]> {
    let mut buf = crypto::Sha256::new();
    for table in ["meta"].iter().chain(TABLES) {
        let order = match *table {
            "meta" => "applied_seq",
            "docs" => "kind, id",
            "record_index" => "collection, value_hash, record",
            _ => "1",
        };
        let query = format!("SELECT * FROM {table} ORDER BY {order}");
        hash_rows(c, path, &mut buf, table, &query, &[])?;
    }
    Ok(buf.finish())
}

/// Adds `table`'s name and then every row `query` returns to `buf`, each value tagged with its
/// type and length-prefixed.
pub(crate) fn hash_rows(
    c: &Connection,
    path: &Path,
    buf: &mut crypto::Sha256,
    table: &str,
    query: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<()> {
    let err = |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    };
    push(buf, b't', table.as_bytes());
    let mut stmt = c.prepare(query).map_err(err)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(args).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        buf.update(b"r");
        for i in 0..columns {
            match row.get_ref(i).map_err(err)? {
                ValueRef::Null => buf.update(b"n"),
                ValueRef::Integer(v) => push(buf, b'i', &v.to_be_bytes()),
                ValueRef::Real(v) => push(buf, b'f', &v.to_be_bytes()),
                ValueRef::Text(v) => push(buf, b's', v),
                ValueRef::Blob(v) => push(buf, b'b', v),
            }
        }
    }
    Ok(())
}

fn push(buf: &mut crypto::Sha256, tag: u8, bytes: &[u8]) {
    buf.update(&[tag]);
    buf.update(&(bytes.len() as u64).to_be_bytes());
    buf.update(bytes);
}
