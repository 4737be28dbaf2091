//! Typed rows and the read queries over them.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};
use types::{TenantId, Timestamp};

use crate::{Error, Result};

/// The journal position the state reflects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub seq: u64,
    pub hash: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<TenantStatus> {
        match s {
            "active" => Some(TenantStatus::Active),
            "suspended" => Some(TenantStatus::Suspended),
            _ => None,
        }
    }
}

/// A tenant as stored: its name is sealed under the tenant's own key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub id: TenantId,
    pub name_sealed: Vec<u8>,
    pub status: TenantStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn corrupt(path: &Path, table: &'static str, reason: String) -> Error {
    Error::Corrupt {
        path: path.to_owned(),
        table,
        reason,
    }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn applied(c: &Connection, path: &Path) -> Result<Applied> {
    let (seq, hash): (i64, Vec<u8>) = c
        .prepare_cached("SELECT applied_seq, applied_hash FROM meta")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql(path))?;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| corrupt(path, "meta", "applied_hash is not 32 bytes".into()))?;
    Ok(Applied {
        seq: seq as u64,
        hash,
    })
}

type RawTenant = (String, Vec<u8>, String, i64, i64);

fn raw_tenant(r: &Row<'_>) -> rusqlite::Result<RawTenant> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn tenant(path: &Path, raw: RawTenant) -> Result<TenantRow> {
    let (id, name_sealed, status, created_at, updated_at) = raw;
    Ok(TenantRow {
        id: id
            .parse()
            .map_err(|e| corrupt(path, "tenants", format!("{e}")))?,
        name_sealed,
        status: TenantStatus::parse(&status)
            .ok_or_else(|| corrupt(path, "tenants", format!("unknown status {status:?}")))?,
        created_at: Timestamp(created_at),
        updated_at: Timestamp(updated_at),
    })
}

const TENANT_COLUMNS: &str = "id, name_sealed, status, created_at, updated_at";

pub(crate) fn find_tenant(c: &Connection, path: &Path, id: TenantId) -> Result<Option<TenantRow>> {
    let raw = c
        .prepare_cached(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"
        ))
        .and_then(|mut s| s.query_row(params![id.to_string()], raw_tenant))
        .optional()
        .map_err(sql(path))?;
    raw.map(|r| tenant(path, r)).transpose()
}

pub(crate) fn list_tenants(
    c: &Connection,
    path: &Path,
    after: Option<TenantId>,
    limit: u32,
) -> Result<Vec<TenantRow>> {
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))
        .map_err(sql(path))?;
    let raws = stmt
        .query_map(params![after, limit], raw_tenant)
        .map_err(sql(path))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql(path))?;
    raws.into_iter().map(|r| tenant(path, r)).collect()
}
