//! The plaintext of an export: a POSIX (ustar) tar stream of one tenant, written member by
//! member into any writer (the sealing writer of the `.srx` file). Members, in order:
//!
//! ```text
//! collections/<name>.schema.json, collections/<name>.ndjson, collections/<name>.csv  (each collection)
//! attachments/<record id>/<attachment id>   (each attachment's bytes)
//! attachments.ndjson, users.ndjson, roles.ndjson, audit.ndjson
//! manifest.json                              (last: it holds the digests of all the others)
//! ```
//!
//! Records are read page by page through the records service and each written once to the NDJSON
//! and the CSV scratch files (sealed, see `spool.rs`); memory holds a page, one attachment, and
//! 48 bytes per record for the manifest. Users come without password hashes, TOTP secrets,
//! recovery codes or token secrets (the identity service's views hold none).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use access::{Action, Principal, RoleRef, Via};
use engine::model::AttachmentDoc;
use engine::{AuditQuery, AuditScope, Engine};
use identity::Identity;
use records::{ListOptions, Records};
use serde::Serialize;
use types::{ExportId, RecordId, TenantId, UserId};

use crate::csv_cells;
use crate::manifest::{self, AttachmentDigest, AttachmentLine, Counts, Draft, Member};
use crate::spool::Spool;
use crate::{Error, Result};

/// Where a tenant is read from.
#[derive(Clone)]
pub struct Sources {
    pub engine: Engine,
    pub records: Records,
    pub identity: Identity,
}

/// Told as items (records and attachments) are written: `(done, total)`.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Records read per page.
const PAGE: u32 = 200;
/// Audit events and users read per page.
const EVENTS_PAGE: u32 = 500;

/// The tar stream being written and the manifest's entries so far.
struct Members<W: Write> {
    tar: tar::Builder<W>,
    members: Vec<Member>,
    mtime: u64,
}

impl<W: Write> Members<W> {
    fn header(&self, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o600);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        h
    }

    fn add(&mut self, path: &str, size: u64, sha256: [u8; 32], data: impl Read) -> Result<()> {
        let mut header = self.header(size);
        self.tar.append_data(&mut header, path, data).map_err(
            |e| match crate::sealed::unwrap_io(e) {
                Error::Io { source, .. } => Error::io("writing the archive")(source),
                other => other,
            },
        )?;
        self.members.push(Member {
            path: path.to_owned(),
            size,
            sha256: crypto::hex(sha256),
        });
        Ok(())
    }

    fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.add(path, bytes.len() as u64, crypto::sha256(bytes), bytes)
    }

    fn add_spool(&mut self, path: &str, spool: Spool) -> Result<()> {
        let done = spool.finish()?;
        self.add(path, done.size, done.sha256, done.reader)
    }
}

fn line<T: Serialize>(out: &mut impl Write, value: &T) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|e| Error::Format(e.to_string()))?;
    out.write_all(b"\n")
        .map_err(Error::io("writing a scratch file"))
}

fn spool_err(e: std::io::Error) -> Error {
    crate::sealed::unwrap_io(e)
}

/// Writes the whole tar stream of `tenant` into `out` and returns `out`.
pub fn write(
    src: &Sources,
    tenant: TenantId,
    export: ExportId,
    created_at: i64,
    scratch: &Path,
    out: impl Write,
    progress: Progress<'_>,
) -> Result<()> {
    let mut m = Members {
        tar: tar::Builder::new(out),
        members: Vec::new(),
        mtime: (created_at / 1000).max(0) as u64,
    };
    let collections = src.records.list_collections(tenant)?;
    let attachments = attachment_docs(&src.engine, tenant)?;
    let mut total = attachments.len() as u64;
    for c in &collections {
        let id = c.id.to_string();
        total += src
            .engine
            .state()
            .count_records(&id)
            .map_err(engine::Error::from)? as u64;
    }
    let mut counts = Counts {
        collections: collections.len() as u64,
        ..Counts::default()
    };
    let mut done = 0;
    progress(done, total);
    let mut digests: Vec<(RecordId, [u8; 32])> = Vec::new();
    for c in &collections {
        let schema =
            serde_json::to_vec_pretty(&c.schema).map_err(|e| Error::Format(e.to_string()))?;
        m.add_bytes(&format!("collections/{}.schema.json", c.name), &schema)?;
        let before = digests.len();
        let (ndjson, csv) = collection(src, tenant, c, scratch, &mut digests, &mut |n| {
            done += n;
            progress(done, total);
        })?;
        counts.records += (digests.len() - before) as u64;
        m.add_spool(&format!("collections/{}.ndjson", c.name), ndjson)?;
        m.add_spool(&format!("collections/{}.csv", c.name), csv)?;
    }
    let names: HashMap<String, String> = collections
        .iter()
        .map(|c| (c.id.to_string(), c.name.clone()))
        .collect();
    let mut lines = Spool::new(scratch)?;
    let mut attached = Vec::new();
    for doc in &attachments {
        let name = names.get(&doc.collection.to_string()).ok_or(Error::Format(
            "an attachment's collection is missing".into(),
        ))?;
        let file = src.records.download(tenant, name, doc.record, doc.id)?;
        let sha = crypto::sha256(&file.bytes);
        m.add(
            &format!("attachments/{}/{}", doc.record, doc.id),
            file.bytes.len() as u64,
            sha,
            file.bytes.as_slice(),
        )?;
        let entry = AttachmentLine {
            id: doc.id,
            record: doc.record,
            collection: name.clone(),
            name: file.view.name,
            content_type: file.view.content_type,
            size: file.bytes.len() as u64,
            created_at: doc.created_at,
            sha256: crypto::hex(sha),
        };
        line(&mut lines, &entry)?;
        attached.push(AttachmentDigest {
            id: doc.id.to_string(),
            record: doc.record.to_string(),
            size: entry.size,
            sha256: entry.sha256,
        });
        done += 1;
        progress(done, total);
    }
    counts.attachments = attached.len() as u64;
    m.add_spool("attachments.ndjson", lines)?;
    let (users, n) = users(src, tenant, scratch)?;
    counts.users = n;
    m.add_spool("users.ndjson", users)?;
    let (roles, n) = roles(src, tenant, scratch)?;
    counts.roles = n;
    m.add_spool("roles.ndjson", roles)?;
    let (trail, n) = trail(&src.engine, tenant, scratch)?;
    counts.audit_events = n;
    m.add_spool("audit.ndjson", trail)?;
    let (tenant_text, export_text) = (tenant.to_string(), export.to_string());
    let draft = Draft {
        tenant: &tenant_text,
        export: &export_text,
        created_at,
        counts,
        members: &m.members,
        records: &digests,
        attachments: &attached,
    };
    let mut spool = Spool::new(scratch)?;
    serde_json::to_writer(&mut spool, &draft).map_err(|e| Error::Format(e.to_string()))?;
    m.add_spool(manifest::NAME, spool)?;
    m.tar
        .into_inner()
        .map_err(Error::io("writing the archive"))?;
    Ok(())
}

/// Every attachment document of the tenant, by id.
fn attachment_docs(engine: &Engine, tenant: TenantId) -> Result<Vec<AttachmentDoc>> {
    let realm = tenant.to_string();
    let mut out: Vec<AttachmentDoc> = Vec::new();
    loop {
        let after = out.last().map(|d| d.id.to_string()).unwrap_or_default();
        let page = engine.list_docs::<AttachmentDoc>(&realm, &after, 500)?;
        let full = page.len() == 500;
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// One collection's records into an NDJSON and a CSV scratch file; every record's digest into
/// `digests`; `step(n)` after each page of `n` records.
fn collection(
    src: &Sources,
    tenant: TenantId,
    c: &records::CollectionView,
    scratch: &Path,
    digests: &mut Vec<(RecordId, [u8; 32])>,
    step: &mut dyn FnMut(u64),
) -> Result<(Spool, Spool)> {
    let mut ndjson = Spool::new(scratch)?;
    let mut csv = csv_cells::writer(Spool::new(scratch)?);
    let fields: Vec<String> = c.schema.fields.iter().map(|f| f.name.clone()).collect();
    let header = csv_cells::META
        .iter()
        .map(|s| (*s).to_owned())
        .chain(fields.iter().cloned());
    csv.write_record(header).map_err(csv_error)?;
    let mut after = None;
    loop {
        let opts = ListOptions {
            after: after.take(),
            limit: Some(PAGE),
            ..ListOptions::default()
        };
        let page = src.records.list_records(tenant, &c.name, &opts)?;
        for r in &page.items {
            let text = manifest::record_line(r);
            digests.push((r.id, crypto::sha256(&text)));
            ndjson.write_all(&text).map_err(spool_err)?;
            ndjson.write_all(b"\n").map_err(spool_err)?;
            let meta = [
                r.id.to_string(),
                r.version.to_string(),
                r.owner.to_string(),
                r.created_at.to_string(),
                r.updated_at.to_string(),
            ];
            csv_cells::write_row(&mut csv, meta, &fields, &r.data.to_map()?).map_err(csv_error)?;
        }
        step(page.items.len() as u64);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let csv = csv
        .into_inner()
        .map_err(|e| Error::io("writing a scratch file")(std::io::Error::other(e.to_string())))?;
    Ok((ndjson, csv))
}

fn csv_error(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => spool_err(io),
        other => Error::Format(format!("CSV: {other:?}")),
    }
}

/// `users.ndjson`: the identity service's view of each account (no secret of any kind).
fn users(src: &Sources, tenant: TenantId, scratch: &Path) -> Result<(Spool, u64)> {
    let mut out = Spool::new(scratch)?;
    let (mut after, mut n): (Option<UserId>, u64) = (None, 0);
    loop {
        let page = src.identity.list_users(Some(tenant), after, EVENTS_PAGE)?;
        for u in &page {
            line(&mut out, u)?;
        }
        n += page.len() as u64;
        if page.len() < EVENTS_PAGE as usize {
            return Ok((out, n));
        }
        after = page.last().map(|u| u.id);
    }
}

/// What a role may do, for `roles.ndjson`.
#[derive(Serialize)]
struct RoleLine {
    id: String,
    name: String,
    builtin: bool,
    /// Rights per collection (`*`: every collection without its own entry).
    collections: std::collections::BTreeMap<String, access::CollectionRights>,
    /// Tenant administration rights.
    administration: Vec<String>,
}

/// The administration actions a role is granted, read from `access::authorize` itself.
fn administration(role: RoleRef, tenant: TenantId) -> Vec<String> {
    let principal = Principal::Member {
        tenant,
        user: UserId::from_bytes([0; 16]),
        role,
        custom: None,
        via: Via::Session { restricted: false },
    };
    [
        Action::ReadUsers,
        Action::ManageUsers,
        Action::ManageOwners,
        Action::ManageRoles,
        Action::ManageTokens,
        Action::ManageSettings,
        Action::ReadAccessReview,
        Action::ReadAudit,
        Action::ManageCollections,
        Action::ReadCollections,
        Action::ExportTenant,
    ]
    .into_iter()
    .filter(|a| access::authorize(&principal, *a, &access::Resource::Tenant(tenant)).is_ok())
    .map(|a| format!("{a:?}"))
    .collect()
}

/// `roles.ndjson`: the four built-in roles, then the tenant's custom roles.
fn roles(src: &Sources, tenant: TenantId, scratch: &Path) -> Result<(Spool, u64)> {
    let mut out = Spool::new(scratch)?;
    let mut n = 0;
    for (role, rights) in [
        (RoleRef::OWNER, access::CollectionRights::ALL),
        (RoleRef::ADMIN, access::CollectionRights::ALL),
        (RoleRef::EDITOR, access::CollectionRights::ALL),
        (RoleRef::VIEWER, access::CollectionRights::READ),
    ] {
        let entry = RoleLine {
            id: role.to_string(),
            name: role.to_string(),
            builtin: true,
            collections: [("*".to_owned(), rights)].into_iter().collect(),
            administration: administration(role, tenant),
        };
        line(&mut out, &entry)?;
        n += 1;
    }
    for r in src.identity.list_roles(tenant)? {
        let entry = RoleLine {
            id: r.id.to_string(),
            name: r.name,
            builtin: false,
            collections: r.collections,
            administration: administration(RoleRef::Custom(r.id), tenant),
        };
        line(&mut out, &entry)?;
        n += 1;
    }
    Ok((out, n))
}

fn trail_page(
    engine: &Engine,
    tenant: TenantId,
    before: Option<u64>,
) -> Result<Vec<engine::Recorded>> {
    let query = AuditQuery {
        scope: AuditScope::Tenant(tenant),
        from: None,
        to: None,
        actor: None,
        action: None,
        outcome: None,
        before,
        limit: EVENTS_PAGE,
    };
    Ok(engine.audit_page(&query)?)
}

/// `audit.ndjson`: the tenant's trail, oldest first, one event per line. The reading route
/// pages newest first: a first pass finds the pages' bounds (fixed from the head seen then, so
/// events recorded meanwhile do not shift them), a second reads them from the oldest.
fn trail(engine: &Engine, tenant: TenantId, scratch: &Path) -> Result<(Spool, u64)> {
    let mut bounds = Vec::new();
    let mut before = None;
    loop {
        let page = trail_page(engine, tenant, before)?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            break;
        };
        bounds.push(before.unwrap_or(first.seq + 1));
        before = Some(last.seq);
        if page.len() < EVENTS_PAGE as usize {
            break;
        }
    }
    let mut out = Spool::new(scratch)?;
    let mut n = 0;
    for bound in bounds.into_iter().rev() {
        for recorded in trail_page(engine, tenant, Some(bound))?.iter().rev() {
            line(&mut out, &recorded.event)?;
            n += 1;
        }
    }
    Ok((out, n))
}
