//! The derived state: a SQLite database rebuilt from the journal at will.
//!
//! It holds only ciphertext, ids, timestamps, counters and keyed hashes; callers hand it sealed
//! bytes and it never sees a key. It is the only crate that writes SQL. It must never be treated
//! as the system of record: every row here can be recomputed by replaying the journal, and
//! [`StateStore::digest`] proves that a rebuild matches.

mod audit_index;
mod digest;
mod docs;
mod records;
mod rows;
mod schema;
mod tenant;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, params};
use types::TenantId;

pub use audit_index::{AuditIndex, AuditQuery, AuditRow, AuditScope};
pub use docs::{Doc, DocCount};
pub use records::{RecordQuery, RecordRow, Sort};
pub use rows::{Applied, TenantRow, TenantStatus};
pub use tenant::{DataRecord, TenantData};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("state database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("state database {path} has schema version {found}, this build expects {expected}")]
    Schema {
        path: PathBuf,
        found: i64,
        expected: i64,
    },
    #[error("state database {path} holds a malformed row in {table}: {reason}")]
    Corrupt {
        path: PathBuf,
        table: &'static str,
        reason: String,
    },
    #[error("state database lock poisoned by a panic in another thread")]
    Poisoned,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Prepared statements kept per connection: every fixed query, and the list queries' shapes.
/// (Preparing a statement cost more CPU than running it: about a fifth of a GET's.)
const STATEMENT_CACHE: usize = 64;

/// The derived state store: one writer connection, a few readers (WAL mode).
pub struct StateStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens (creating when absent) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<StateStore> {
        let path = path.to_owned();
        let conn = Connection::open(&path).map_err(|source| Error::Sqlite {
            path: path.clone(),
            source,
        })?;
        schema::prepare(&conn, &path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(StateStore {
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` inside one write transaction; it commits only when `f` succeeds.
    pub fn write<T>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().map_err(|_| Error::Poisoned)?;
        let tx = conn.transaction().map_err(self.err())?;
        let mut wtx = WriteTx {
            tx,
            path: &self.path,
        };
        let out = f(&mut wtx)?;
        wtx.tx.commit().map_err(self.err())?;
        Ok(out)
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().map_err(|_| Error::Poisoned)?.pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let c = Connection::open_with_flags(&self.path, flags).map_err(self.err())?;
                c.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(self.err())?;
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < 8
        {
            pool.push(conn);
        }
        out
    }

    /// Empties every table and rewinds to journal position 0, in one transaction.
    pub fn reset(&self) -> Result<()> {
        self.write(|tx| {
            for table in schema::TABLES {
                tx.tx
                    .execute(&format!("DELETE FROM {table}"), [])
                    .map_err(tx.err())?;
            }
            tx.set_applied(Applied {
                seq: 0,
                hash: [0; 32],
            })
        })
    }

    /// The journal position this state reflects.
    pub fn applied(&self) -> Result<Applied> {
        self.with_reader(|c| rows::applied(c, &self.path))
    }

    pub fn find_tenant(&self, id: TenantId) -> Result<Option<TenantRow>> {
        self.with_reader(|c| rows::find_tenant(c, &self.path, id))
    }

    /// Tenants ordered by id, strictly after `after`, at most `limit`.
    pub fn list_tenants(&self, after: Option<TenantId>, limit: u32) -> Result<Vec<TenantRow>> {
        self.with_reader(|c| rows::list_tenants(c, &self.path, after, limit))
    }

    pub fn get_doc(&self, kind: &'static str, id: &str) -> Result<Option<Doc>> {
        self.with_reader(|c| docs::get(c, &self.path, kind, id))
    }

    /// The document of `kind` in `realm` whose unique lookup key is `lookup`.
    pub fn find_doc(&self, kind: &'static str, realm: &str, lookup: &[u8]) -> Result<Option<Doc>> {
        self.with_reader(|c| docs::find_by_lookup(c, &self.path, kind, realm, lookup))
    }

    /// Documents of `kind` in `realm` ordered by id, strictly after `after`, at most `limit`.
    pub fn list_docs(
        &self,
        kind: &'static str,
        realm: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<Doc>> {
        self.with_reader(|c| docs::list(c, &self.path, kind, realm, after, limit))
    }

    /// Documents of `kind` belonging to `parent`.
    pub fn children(&self, kind: &'static str, parent: &str) -> Result<Vec<Doc>> {
        self.with_reader(|c| docs::list_by_parent(c, &self.path, kind, parent))
    }

    /// How many documents match `q` (live sessions, for the metrics).
    pub fn count_docs(&self, q: &DocCount<'_>) -> Result<i64> {
        self.with_reader(|c| docs::count(c, &self.path, q))
    }

    pub fn get_record(&self, id: &str) -> Result<Option<RecordRow>> {
        self.with_reader(|c| records::get(c, &self.path, id))
    }

    pub fn list_records(&self, q: &RecordQuery<'_>) -> Result<Vec<RecordRow>> {
        self.with_reader(|c| records::list(c, &self.path, q))
    }

    pub fn count_records(&self, collection: &str) -> Result<i64> {
        self.with_reader(|c| records::count(c, &self.path, collection))
    }

    /// Writes a consistent copy of the whole state to `to` (a new file; refused when it exists)
    /// and returns the journal position the copy reflects: `VACUUM INTO` on a read transaction,
    /// so writes go on meanwhile and none of them is half in the copy. For backups.
    pub fn snapshot(&self, to: &Path) -> Result<Applied> {
        if to.exists() {
            return Err(Error::Sqlite {
                path: to.to_owned(),
                source: rusqlite::Error::InvalidPath(to.to_owned()),
            });
        }
        let target = to.to_str().ok_or_else(|| Error::Sqlite {
            path: to.to_owned(),
            source: rusqlite::Error::InvalidPath(to.to_owned()),
        })?;
        // One statement, one read transaction: the copy is a consistent state. Its position is
        // read from the copy itself, so it can not belong to another moment.
        self.with_reader(|c| {
            c.execute("VACUUM INTO ?1", [target])
                .map_err(|source| Error::Sqlite {
                    path: to.to_owned(),
                    source,
                })
                .map(drop)
        })?;
        let copy = Connection::open_with_flags(to, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
            |source| Error::Sqlite {
                path: to.to_owned(),
                source,
            },
        )?;
        rows::applied(&copy, to)
    }

    /// SHA-256 over a canonical dump of every table, ordered by primary key.
    pub fn digest(&self) -> Result<[u8; 32]> {
        self.with_reader(|c| digest::compute(c, &self.path))
    }

    /// `tenant`'s data: its documents of `kinds` (the caller's data kinds), its records and
    /// their index rows, ordered deterministically (see [`TenantData`]).
    pub fn tenant_data(&self, tenant: TenantId, kinds: &[&'static str]) -> Result<TenantData> {
        self.with_reader(|c| {
            // One read transaction: the rows of one moment while writes go on.
            let tx = c.unchecked_transaction().map_err(self.err())?;
            tenant::read(&tx, &self.path, tenant, kinds)
        })
    }

    /// The bytes [`StateStore::tenant_data`] would read (bodies, lookups, hashes), without
    /// reading them.
    pub fn tenant_data_bytes(&self, tenant: TenantId, kinds: &[&'static str]) -> Result<u64> {
        self.with_reader(|c| tenant::size(c, &self.path, tenant, kinds))
    }

    /// SHA-256 over a canonical dump of every row `tenant` owns: its tenant row, the documents
    /// of its realm and those whose parent is the tenant or one of them (sessions, tokens,
    /// invitations), its records and their index rows. Equal digests: equal rows.
    pub fn tenant_digest(&self, tenant: TenantId) -> Result<[u8; 32]> {
        self.with_reader(|c| {
            let tx = c.unchecked_transaction().map_err(self.err())?;
            tenant::digest(&tx, &self.path, tenant)
        })
    }

    /// Up to `limit` of `tenant`'s record ids, in id order.
    pub fn record_ids(&self, tenant: TenantId, limit: u32) -> Result<Vec<String>> {
        self.with_reader(|c| tenant::record_ids(c, &self.path, tenant, limit))
    }

    /// `tenant`'s records carrying the index hash `hash`, by id.
    pub fn records_indexed(&self, tenant: TenantId, hash: &[u8]) -> Result<Vec<String>> {
        self.with_reader(|c| tenant::records_indexed(c, &self.path, tenant, hash))
    }

    /// How many rows `tenant` owns (those [`WriteTx::purge_tenant`] deletes).
    pub fn tenant_rows(&self, tenant: TenantId) -> Result<u64> {
        self.with_reader(|c| {
            let tx = c.unchecked_transaction().map_err(self.err())?;
            tenant::count(&tx, &self.path, tenant)
        })
    }

    /// Number of rows in each table, for reports.
    pub fn counts(&self) -> Result<Vec<(&'static str, i64)>> {
        self.with_reader(|c| {
            schema::TABLES
                .iter()
                .map(|t| {
                    let n: i64 = c
                        .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                        .map_err(|source| Error::Sqlite {
                            path: self.path.clone(),
                            source,
                        })?;
                    Ok((*t, n))
                })
                .collect()
        })
    }
}

/// The write side, only reachable inside [`StateStore::write`].
pub struct WriteTx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl WriteTx<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Sqlite {
            path: self.path.to_owned(),
            source,
        }
    }

    pub fn applied(&self) -> Result<Applied> {
        rows::applied(&self.tx, self.path)
    }

    pub fn set_applied(&mut self, applied: Applied) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE meta SET applied_seq = ?1, applied_hash = ?2")
            .and_then(|mut s| s.execute(params![applied.seq as i64, &applied.hash[..]]))
            .map_err(self.err())?;
        Ok(())
    }

    pub fn create_tenant(&mut self, row: &TenantRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO tenants (id, name_sealed, status, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    row.id.to_string(),
                    row.name_sealed,
                    row.status.as_str(),
                    row.created_at.millis(),
                    row.updated_at.millis()
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Sets a tenant's status; returns false when the tenant does not exist.
    pub fn update_tenant_status(
        &mut self,
        id: TenantId,
        status: TenantStatus,
        at: types::Timestamp,
    ) -> Result<bool> {
        let n = self
            .tx
            .execute(
                "UPDATE tenants SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.to_string(), status.as_str(), at.millis()],
            )
            .map_err(self.err())?;
        Ok(n == 1)
    }

    /// Inserts or replaces a record and its index entries.
    pub fn put_record(&mut self, rec: &RecordRow, index: &[Vec<u8>]) -> Result<()> {
        records::put(&self.tx, self.path, rec, index)
    }

    pub fn delete_record(&mut self, id: &str) -> Result<bool> {
        records::delete(&self.tx, self.path, id)
    }

    pub fn get_record(&self, id: &str) -> Result<Option<RecordRow>> {
        records::get(&self.tx, self.path, id)
    }

    /// Inserts or replaces a document.
    pub fn put_doc(&mut self, doc: &Doc) -> Result<()> {
        docs::put(&self.tx, self.path, doc)
    }

    pub fn delete_doc(&mut self, kind: &str, id: &str) -> Result<bool> {
        docs::delete(&self.tx, self.path, kind, id)
    }

    pub fn get_doc(&self, kind: &'static str, id: &str) -> Result<Option<Doc>> {
        docs::get(&self.tx, self.path, kind, id)
    }

    pub fn children(&self, kind: &'static str, parent: &str) -> Result<Vec<Doc>> {
        docs::list_by_parent(&self.tx, self.path, kind, parent)
    }

    pub fn find_tenant(&self, id: TenantId) -> Result<Option<TenantRow>> {
        rows::find_tenant(&self.tx, self.path, id)
    }

    /// Replaces `tenant`'s data (documents of `kinds` in its realm, its records and their index
    /// rows) with `data`; touches no other row. Rows are written into the tenant whatever
    /// `data` says; documents of other kinds and rows whose key another tenant holds are
    /// skipped.
    pub fn replace_tenant_data(
        &mut self,
        tenant: TenantId,
        kinds: &[&'static str],
        data: &TenantData,
    ) -> Result<()> {
        tenant::replace(&self.tx, self.path, tenant, kinds, data)
    }

    /// Deletes `tenant`'s records carrying the index hash `hash`, their index rows and the
    /// documents of `child_kinds` under them; returns how many records went (a data subject's
    /// records, erased).
    pub fn purge_indexed(
        &mut self,
        tenant: TenantId,
        hash: &[u8],
        child_kinds: &[&str],
    ) -> Result<u64> {
        tenant::purge_indexed(&self.tx, self.path, tenant, hash, child_kinds)
    }

    /// Deletes those of the records `ids` that belong to `tenant`, their index rows and the
    /// documents of `child_kinds` under them; returns how many records went (a deleted tenant's
    /// records, purged in chunks).
    pub fn purge_records(
        &mut self,
        tenant: TenantId,
        ids: &[String],
        child_kinds: &[&str],
    ) -> Result<u64> {
        tenant::purge_records(&self.tx, self.path, tenant, ids, child_kinds)
    }

    /// Deletes every row `tenant` owns (those [`StateStore::tenant_digest`] covers) and returns
    /// how many went: a deleted tenant's derived state.
    pub fn purge_tenant(&mut self, tenant: TenantId) -> Result<u64> {
        tenant::purge(&self.tx, self.path, tenant)
    }
}

/// Returns true when a state database file exists at `path`.
pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// Removes a state database and its WAL side files.
pub fn remove(path: &Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(PathBuf::from(p)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
