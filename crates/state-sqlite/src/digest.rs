//! A canonical digest of the whole state, used to prove that `rebuild-state` reproduces the live
//! database exactly. Every table is walked in a fixed order, rows by primary key, each value
//! tagged with its type and length-prefixed, so no two different states hash alike.

use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::schema::TABLES;
use crate::{Error, Result};

pub(crate) fn compute(c: &Connection, path: &Path) -> Result<[u8; 32]> {
    let err = |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    };
    let mut buf: Vec<u8> = Vec::new();
    for table in ["meta"].iter().chain(TABLES) {
        push(&mut buf, b't', table.as_bytes());
        let order = if *table == "meta" { "applied_seq" } else { "1" };
        let mut stmt = c
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .map_err(err)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            buf.push(b'r');
            for i in 0..columns {
                match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => buf.push(b'n'),
                    ValueRef::Integer(v) => push(&mut buf, b'i', &v.to_be_bytes()),
                    ValueRef::Real(v) => push(&mut buf, b'f', &v.to_be_bytes()),
                    ValueRef::Text(v) => push(&mut buf, b's', v),
                    ValueRef::Blob(v) => push(&mut buf, b'b', v),
                }
            }
        }
    }
    Ok(crypto::sha256(&buf))
}

fn push(buf: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    buf.push(tag);
    buf.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    buf.extend_from_slice(bytes);
}
