//! The schema of the derived state and its one-way migrations.
//!
//! Columns hold ids, timestamps, counters, keyed hashes and sealed blobs only; never plaintext
//! a tenant or user supplied.

use std::path::Path;

use rusqlite::Connection;

use crate::{Error, Result};

pub(crate) const SCHEMA_VERSION: i64 = 2;

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

/// Version 2: a tenant's records found without a scan (a deletion's purge, a tenant's data and
/// digest). Indexes only: no row and no digest changes.
const MIGRATE_V2: &str = "
CREATE INDEX IF NOT EXISTS records_tenant ON records (tenant, id);
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
                "BEGIN; {SCHEMA_V1} {MIGRATE_V2} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(err)?;
            Ok(())
        }
        1 => {
            conn.execute_batch(&format!(
                "BEGIN; {MIGRATE_V2} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 database opens as version 2: the tenant index is added, no row changes, the
    /// digest is the same.
    #[test]
    fn a_version_1_state_is_migrated_without_changing_its_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sqlite");
        let before = {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V1} PRAGMA user_version = 1; \
                 INSERT INTO tenants VALUES ('tn_a', x'00', 'active', 1, 2); \
                 INSERT INTO records VALUES ('rc_a', 'tn_a', 'co_a', 'us_a', 1, 2, 1, x'01'); \
                 COMMIT;"
            ))
            .expect("a version 1 database");
            crate::digest::compute(&conn, &path).expect("digest")
        };
        let store = crate::StateStore::open(&path).expect("migrated");
        assert_eq!(store.digest().expect("digest"), before);
        drop(store);
        let conn = Connection::open(&path).expect("open");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let indexed: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'records_tenant'",
                [],
                |r| r.get(0),
            )
            .expect("index");
        assert_eq!(indexed, 1);
    }
}
