//! The schema of the derived state and its one-way migrations.
//!
//! Columns hold ids, timestamps, counters, keyed hashes and sealed blobs only; never plaintext
//! a tenant or user supplied.

use std::path::Path;

use rusqlite::Connection;

use crate::{Error, Result};

pub(crate) const SCHEMA_VERSION: i64 = 1;

/// Every table, in the fixed order the digest walks them.
pub(crate) const TABLES: &[&str] = &["tenants", "docs", "records", "record_index"];

const SCHEMA_V1: &str = "
CREATE TABLE meta (
    applied_seq  INTEGER NOT NULL,
    applied_hash BLOB NOT NULL
) STRICT;
INSERT INTO meta (applied_seq, applied_hash) VALUES (0, zeroblob(32));
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name_sealed BLOB NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE TABLE docs (
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    realm   TEXT NOT NULL,
    lookup  BLOB,
    parent  TEXT,
    doc     BLOB NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;
CREATE UNIQUE INDEX docs_lookup ON docs (kind, realm, lookup) WHERE lookup IS NOT NULL;
CREATE INDEX docs_parent ON docs (kind, parent) WHERE parent IS NOT NULL;
CREATE INDEX docs_realm ON docs (kind, realm, id);
CREATE TABLE records (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    collection  TEXT NOT NULL,
    owner       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    body        BLOB NOT NULL
) STRICT;
CREATE INDEX records_created ON records (collection, created_at, id);
CREATE INDEX records_updated ON records (collection, updated_at, id);
CREATE INDEX records_owner ON records (collection, owner, created_at, id);
CREATE TABLE record_index (
    collection  TEXT NOT NULL,
    value_hash  BLOB NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (collection, value_hash, record)
) STRICT, WITHOUT ROWID;
CREATE INDEX record_index_record ON record_index (record);
";

pub(crate) fn prepare(conn: &Connection, path: &Path) -> Result<()> {
    let err = |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    };
    // WAL + NORMAL: a commit is not fsynced, which is safe because the journal is the system of
    // record and replay restores anything a crash loses; the database never corrupts.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(err)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err)?;
    match version {
        0 => {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(err)?;
            Ok(())
        }
        SCHEMA_VERSION => Ok(()),
        found => Err(Error::Schema {
            path: path.to_owned(),
            found,
            expected: SCHEMA_VERSION,
        }),
    }
}
