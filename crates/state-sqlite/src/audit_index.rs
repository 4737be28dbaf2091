//! The index of the audit log, in a SQLite file of its own (`audit-index.sqlite`): one row per
//! event with its position, scope, time, actor id, action and outcome — ids, times and fixed
//! names, never free text. The events themselves stay sealed in the audit journal; a reader
//! finds positions here and opens the events there.
//!
//! Like the derived state, the index is rebuilt from the audit journal when it is missing or does
//! not match it. It is kept out of the state database so that the state's digest, which proves a
//! rebuild from the main journal exact, does not depend on the audit trail.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, params};
use types::TenantId;

use crate::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_meta (
    last_seq  INTEGER NOT NULL,
    last_hash BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS audit_events (
    seq     INTEGER PRIMARY KEY,
    event   TEXT NOT NULL,
    source  INTEGER NOT NULL,
    tenant  TEXT,
    at      INTEGER NOT NULL,
    actor   TEXT,
    action  TEXT NOT NULL,
    outcome TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_by_tenant ON audit_events (tenant, seq);
CREATE UNIQUE INDEX IF NOT EXISTS audit_by_event ON audit_events (event);
CREATE INDEX IF NOT EXISTS audit_by_source ON audit_events (source) WHERE source > 0;
";

/// One indexed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// The event's position in the audit journal.
    pub seq: u64,
    /// The event's id (`ev_…`).
    pub event: String,
    /// The main journal entry that carries it too (0: none).
    pub source: u64,
    /// `None`: the system scope.
    pub tenant: Option<TenantId>,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub outcome: String,
}

/// Which scopes a query covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditScope {
    /// Every scope (system administrators).
    All,
    System,
    Tenant(TenantId),
}

/// A filtered page of the index, newest first.
#[derive(Debug, Clone)]
pub struct AuditQuery<'a> {
    pub scope: AuditScope,
    /// Inclusive bounds, Unix milliseconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub actor: Option<&'a str>,
    /// An exact action (`login.failed`) or a family (`login.*`).
    pub action: Option<&'a str>,
    pub outcome: Option<&'a str>,
    /// Only positions below this one (the cursor of the previous page).
    pub before: Option<u64>,
    pub limit: u32,
}

/// The audit index.
pub struct AuditIndex {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for AuditIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditIndex")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditIndex {
    /// Opens (creating when absent) the index at `path`.
    pub fn open(path: &Path) -> Result<AuditIndex> {
        let err = |source| Error::Sqlite {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM audit_meta", [], |r| r.get(0))
            .map_err(err)?;
        if rows == 0 {
            conn.execute(
                "INSERT INTO audit_meta (last_seq, last_hash) VALUES (0, zeroblob(32))",
                [],
            )
            .map_err(err)?;
        }
        Ok(AuditIndex {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The last audit journal position indexed: its seq and chain hash.
    pub fn last(&self) -> Result<(u64, [u8; 32])> {
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        let (seq, hash): (i64, Vec<u8>) = conn
            .query_row("SELECT last_seq, last_hash FROM audit_meta", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(self.err())?;
        let hash: [u8; 32] = hash.try_into().map_err(|_| Error::Corrupt {
            path: self.path.clone(),
            table: "audit_meta",
            reason: "last_hash is not 32 bytes".into(),
        })?;
        Ok((seq as u64, hash))
    }

    /// Adds `rows` and moves the indexed position to `last` (seq, chain hash), in one
    /// transaction. Positions of entries that are not events (checkpoints) advance `last` only.
    pub fn add(&self, rows: &[AuditRow], last: (u64, [u8; 32])) -> Result<()> {
        let mut conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        let tx = conn.transaction().map_err(self.err())?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO audit_events \
                     (seq, event, source, tenant, at, actor, action, outcome) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(self.err())?;
            for row in rows {
                insert
                    .execute(params![
                        row.seq as i64,
                        row.event,
                        row.source as i64,
                        row.tenant.map(|t| t.to_string()),
                        row.at,
                        row.actor,
                        row.action,
                        row.outcome
                    ])
                    .map_err(self.err())?;
            }
            tx.execute(
                "UPDATE audit_meta SET last_seq = ?1, last_hash = ?2 WHERE last_seq <= ?1",
                params![last.0 as i64, &last.1[..]],
            )
            .map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    /// The highest main journal seq any indexed event records (0: none).
    pub fn max_source(&self) -> Result<u64> {
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        let max: Option<i64> = conn
            .query_row("SELECT max(source) FROM audit_events", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(max.unwrap_or(0) as u64)
    }

    /// The lowest main journal seq any indexed event records (0: none).
    pub fn min_source(&self) -> Result<u64> {
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        let min: Option<i64> = conn
            .query_row(
                "SELECT min(source) FROM audit_events WHERE source > 0",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        Ok(min.unwrap_or(0) as u64)
    }

    /// Whether the event with this id is indexed (so in the audit log).
    pub fn has_event(&self, event: &str) -> Result<bool> {
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM audit_events WHERE event = ?1",
                [event],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Drops the rows of positions below `seq`: retention removed those events from the log.
    pub fn forget_before(&self, seq: u64) -> Result<()> {
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        conn.execute("DELETE FROM audit_events WHERE seq < ?1", [seq as i64])
            .map_err(self.err())?;
        Ok(())
    }

    /// Drops the rows of a tenant's scope: its keys were destroyed, its events no longer open.
    pub fn forget_tenant(&self, tenant: TenantId) -> Result<()> {
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        conn.execute(
            "DELETE FROM audit_events WHERE tenant = ?1",
            [tenant.to_string()],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Forgets everything (the index belongs to another audit journal).
    pub fn reset(&self) -> Result<()> {
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        conn.execute_batch(
            "BEGIN; DELETE FROM audit_events; \
             UPDATE audit_meta SET last_seq = 0, last_hash = zeroblob(32); COMMIT;",
        )
        .map_err(self.err())
    }

    /// One page of matching rows, newest first.
    pub fn query(&self, q: &AuditQuery<'_>) -> Result<Vec<AuditRow>> {
        let mut sql = String::from(
            "SELECT seq, event, source, tenant, at, actor, action, outcome FROM audit_events \
             WHERE 1 = 1",
        );
        use rusqlite::types::Value;
        let mut args: Vec<Value> = Vec::new();
        // Appends `clause`, numbering its `?` placeholders after those already bound.
        let mut add = |sql: &mut String, clause: &str, values: Vec<Value>| {
            let mut parts = clause.split('?');
            sql.push_str(parts.next().unwrap_or_default());
            for (part, value) in parts.zip(values) {
                args.push(value);
                sql.push_str(&format!("?{}{part}", args.len()));
            }
        };
        match q.scope {
            AuditScope::All => {}
            AuditScope::System => sql.push_str(" AND tenant IS NULL"),
            AuditScope::Tenant(t) => add(
                &mut sql,
                " AND tenant = ?",
                vec![Value::Text(t.to_string())],
            ),
        }
        if let Some(from) = q.from {
            add(&mut sql, " AND at >= ?", vec![Value::Integer(from)]);
        }
        if let Some(to) = q.to {
            add(&mut sql, " AND at <= ?", vec![Value::Integer(to)]);
        }
        if let Some(actor) = q.actor {
            add(
                &mut sql,
                " AND actor = ?",
                vec![Value::Text(actor.to_owned())],
            );
        }
        match q.action.map(|a| (a, a.strip_suffix('*'))) {
            Some((_, Some(prefix))) => add(
                &mut sql,
                " AND substr(action, 1, ?) = ?",
                vec![
                    Value::Integer(prefix.chars().count() as i64),
                    Value::Text(prefix.to_owned()),
                ],
            ),
            Some((action, None)) => {
                add(
                    &mut sql,
                    " AND action = ?",
                    vec![Value::Text(action.to_owned())],
                );
            }
            None => {}
        }
        if let Some(outcome) = q.outcome {
            add(
                &mut sql,
                " AND outcome = ?",
                vec![Value::Text(outcome.to_owned())],
            );
        }
        if let Some(before) = q.before {
            add(
                &mut sql,
                " AND seq < ?",
                vec![Value::Integer(before as i64)],
            );
        }
        add(
            &mut sql,
            " ORDER BY seq DESC LIMIT ?",
            vec![Value::Integer(i64::from(q.limit))],
        );
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        let mut stmt = conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ),
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let ((seq, event, source), tenant, at, actor, action, outcome) =
                row.map_err(self.err())?;
            let tenant = tenant
                .map(|t| t.parse::<TenantId>())
                .transpose()
                .map_err(|e| Error::Corrupt {
                    path: self.path.clone(),
                    table: "audit_events",
                    reason: e.to_string(),
                })?;
            out.push(AuditRow {
                seq: seq as u64,
                event,
                source: source as u64,
                tenant,
                at,
                actor,
                action,
                outcome,
            });
        }
        Ok(out)
    }
}
