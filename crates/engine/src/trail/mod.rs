//! The audit trail (P16) as the engine keeps it: every committed change that matters for
//! security becomes an audit event ([`describe`]), and acts that change nothing durable (a
//! refused request, a throttled login) are recorded through [`Engine::audit`].
//!
//! An event is completed here, before the change commits, with who (the request's authenticated
//! caller, from `audit::context`, or the account the change is about for logins), where (client
//! address, user agent, node) and when; carried sealed in the change's own journal entry; then
//! sealed under its scope's current data key and appended to the audit log (its own journal, two
//! locations) before the acting request is answered; indexed in `audit-index.sqlite` for
//! reading; and announced to subscribers (alerts, metrics, export). A failed audit write refuses
//! every later write until restart (fail closed); the events it could not write are in their
//! entries and are written at the next start (`start.rs`). Which events a change stands for is
//! `describe.rs`.

mod describe;
mod start;

use std::sync::Arc;

use audit::payload::Header as AuditHeader;
use audit::{Actor, ActorKind, AuditEvent, AuditLog, Client, Outcome, Resource};
use describe::{describe, tenant_of};
use serde_json::{Map, Value};
use state_sqlite::{AuditIndex, AuditQuery, AuditRow};
use tokio::sync::broadcast;

use crate::event::Event;
use crate::fields::FieldRef;
use crate::{Engine, Error, Result, Scope, seal};

/// False only in the benchmark build without audit (`--features bench-without-audit`, made by
/// `scripts/bench-records` to measure what the audit log costs; it listens on loopback only).
const RECORDING: bool = !cfg!(feature = "bench-without-audit");

/// Events a slow subscriber may fall behind by before it misses some (it is told how many).
pub(crate) const FEED_CAPACITY: usize = 4096;

/// An audit event before the engine adds who, where and when.
#[derive(Debug, Clone)]
pub struct Draft {
    pub action: String,
    pub outcome: Outcome,
    pub resource: Option<Resource>,
    pub reason: Option<String>,
    pub details: Map<String, Value>,
    /// Who acted, when it is not the request's caller (a login's account, a token in use).
    pub actor: Option<Actor>,
}

impl Draft {
    pub fn new(action: &str, outcome: Outcome) -> Draft {
        Draft {
            action: action.to_owned(),
            outcome,
            resource: None,
            reason: None,
            details: Map::new(),
            actor: None,
        }
    }

    pub fn on(mut self, kind: &str, id: impl ToString) -> Draft {
        self.resource = Some(Resource {
            kind: kind.to_owned(),
            id: Some(audit::event::cap(&id.to_string(), audit::event::MAX_TEXT)),
        });
        self
    }

    pub fn because(mut self, reason: &str) -> Draft {
        self.reason = Some(audit::event::cap(reason, audit::event::MAX_TEXT));
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Draft {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn by(mut self, actor: Actor) -> Draft {
        self.actor = Some(actor);
        self
    }
}

/// An event as recorded, with its position in the audit journal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recorded {
    pub seq: u64,
    pub event: AuditEvent,
}

/// The engine's part of the audit trail.
pub(crate) struct Auditor {
    pub(crate) log: AuditLog,
    pub(crate) index: AuditIndex,
    pub(crate) node: String,
    /// The signing key's file.
    pub(crate) key_file: std::path::PathBuf,
    pub(crate) feed: broadcast::Sender<Arc<Recorded>>,
    /// Why the first failed audit write failed (it names the location); set: writes are
    /// refused until restart.
    pub(crate) failed: std::sync::OnceLock<String>,
}

impl Engine {
    pub(crate) fn auditor(&self) -> &Auditor {
        &self.inner.audit
    }

    /// Completes `draft` with the request's context (who, where, which request), the node and
    /// the time.
    fn complete(&self, draft: Draft) -> AuditEvent {
        let context = audit::context::current();
        let actor = draft
            .actor
            .or_else(|| context.as_ref().and_then(|c| c.actor()))
            .unwrap_or(Actor {
                kind: if context.is_some() {
                    ActorKind::Anonymous
                } else {
                    ActorKind::System
                },
                id: None,
                tenant: None,
            });
        AuditEvent {
            id: audit::EventId::random().to_string(),
            at: self.now().millis(),
            node: self.auditor().node.clone(),
            actor,
            action: draft.action,
            resource: draft.resource,
            outcome: draft.outcome,
            reason: draft.reason,
            client: context
                .as_ref()
                .map_or_else(Client::default, |c| c.client.clone()),
            request_id: context.map(|c| c.request_id.clone()),
            details: draft.details,
        }
    }

    /// The audit log payload of `event`: its clear header and the event sealed under the
    /// scope's current key.
    fn seal_event(&self, scope: Scope, event: &AuditEvent, source: u64) -> Result<Vec<u8>> {
        let id = *event
            .id
            .parse::<audit::EventId>()
            .map_err(|e| Error::Envelope(e.to_string()))?
            .as_bytes();
        let (key_version, key) = self.current(scope)?;
        let header = AuditHeader {
            tenant: tenant_of(scope),
            key_version,
            id,
            at: event.at,
            source,
        };
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(event).map_err(|e| Error::Envelope(e.to_string()))?,
        );
        let sealed = seal::seal(&key, &header.aad(), &json);
        Ok(header.encode(&sealed))
    }

    /// Indexes and announces an event the log took.
    fn recorded(
        &self,
        scope: Scope,
        at: journal::Position,
        source: u64,
        event: AuditEvent,
    ) -> Result<()> {
        let auditor = self.auditor();
        let row = index_row(at.seq, source, tenant_of(scope), &event);
        auditor.index.add(&[row], (at.seq, at.hash))?;
        // No subscriber is not an error.
        let _ = auditor.feed.send(Arc::new(Recorded { seq: at.seq, event }));
        Ok(())
    }

    fn audit_failed(&self, e: audit::LogError) -> Error {
        // The first cause stays.
        let _ = self.auditor().failed.set(e.to_string());
        tracing::error!(error = %e, "audit log write failed; writes now refused");
        Error::Audit(e)
    }

    async fn append(&self, scope: Scope, event: AuditEvent, source: u64) -> Result<()> {
        if !RECORDING {
            return Ok(());
        }
        let payload = self.seal_event(scope, &event, source)?;
        let at = self
            .auditor()
            .log
            .record(payload)
            .await
            .map_err(|e| self.audit_failed(e))?;
        self.recorded(scope, at, source, event)
    }

    fn append_blocking(&self, scope: Scope, event: AuditEvent, source: u64) -> Result<()> {
        if !RECORDING {
            return Ok(());
        }
        let payload = self.seal_event(scope, &event, source)?;
        let at = self
            .auditor()
            .log
            .record_blocking(payload)
            .map_err(|e| self.audit_failed(e))?;
        self.recorded(scope, at, source, event)
    }

    /// Records an act that changed nothing durable (a refusal, a throttled attempt, a start),
    /// under `scope`'s key. Returns once the event is durable in both locations.
    pub async fn audit(&self, scope: Scope, draft: Draft) -> Result<()> {
        let event = self.complete(draft);
        self.append(scope, event, 0).await
    }

    /// Records an event made elsewhere (by the alerts) as it is, under `scope`'s key.
    pub async fn record_event(&self, scope: Scope, event: AuditEvent) -> Result<()> {
        self.append(scope, event, 0).await
    }

    /// Records `draft` like [`Engine::audit`] and returns the completed event whether or not it
    /// could be recorded: an operational event (a degraded mirror) must still reach the alerts
    /// when the audit log is what failed.
    pub async fn audit_or_event(&self, scope: Scope, draft: Draft) -> (AuditEvent, Result<()>) {
        let event = self.complete(draft);
        let recorded = self.append(scope, event.clone(), 0).await;
        (event, recorded)
    }

    /// Removes the audit log's whole segments older than `horizon_ms` (after signing the head;
    /// the removal is a signed record of the chain) and records it as `audit.retention`.
    pub async fn audit_retention(&self, horizon_ms: i64) -> Result<audit::RetentionReport> {
        let auditor = self.auditor();
        let report = auditor
            .log
            .apply_retention(horizon_ms)
            .await
            .map_err(|e| self.audit_failed(e))?;
        if report.segments_removed > 0 {
            auditor.index.forget_before(report.first_seq)?;
            let draft = Draft::new("audit.retention", Outcome::Success)
                .on("audit_log", "segments")
                .with("segments_removed", report.segments_removed)
                .with("events_removed", report.entries_removed)
                .with("first_seq", report.first_seq)
                .with("horizon", horizon_ms);
            self.audit(Scope::System, draft).await?;
        }
        Ok(report)
    }

    /// The node name events carry.
    pub fn audit_node(&self) -> &str {
        &self.auditor().node
    }

    /// [`Engine::audit`] outside an async runtime.
    pub fn audit_blocking(&self, scope: Scope, draft: Draft) -> Result<()> {
        let event = self.complete(draft);
        self.append_blocking(scope, event, 0)
    }

    /// The drafts of a committed entry, with the names the client gave (opened from their
    /// sealed fields: the event is sealed again as a whole) so that the trail says which tenant,
    /// role, collection or account an act concerned.
    fn drafts(&self, scope: Scope, events: &[Event]) -> Vec<Draft> {
        let mut out = Vec::new();
        for event in events {
            let name = self.name_in(scope, event);
            for mut draft in describe(scope, event) {
                if let Some((key, value)) = &name {
                    draft = draft.with(key, audit::event::cap(value, audit::event::MAX_TEXT));
                }
                out.push(draft);
            }
        }
        out
    }

    /// The client-given name an event carries sealed, if any: `("name" | "email", text)`.
    fn name_in(&self, scope: Scope, event: &Event) -> Option<(&'static str, String)> {
        let (table, row, field, sealed): (&str, String, &str, &[u8]) = match event {
            Event::TenantCreated { tenant, name } => {
                let at = FieldRef {
                    scope: Scope::Tenant(*tenant),
                    table: "tenants",
                    row: &tenant.to_string(),
                    field: "name",
                };
                return self.open_text(at, &name.0).map(|n| ("name", n));
            }
            Event::RoleSaved { doc } => ("roles", doc.id.to_string(), "name", &doc.name.0),
            Event::CollectionSaved { doc } => {
                ("collections", doc.id.to_string(), "name", &doc.name.0)
            }
            Event::UserCreated { doc } => ("users", doc.id.to_string(), "email", &doc.email.0),
            Event::InvitationCreated { doc } => {
                ("invitations", doc.id.to_string(), "email", &doc.email.0)
            }
            _ => return None,
        };
        let at = FieldRef {
            scope,
            table,
            row: &row,
            field,
        };
        let key = if field == "email" { "email" } else { "name" };
        self.open_text(at, sealed).map(|n| (key, n))
    }

    fn open_text(&self, at: FieldRef<'_>, sealed: &[u8]) -> Option<String> {
        self.open_field(at, sealed)
            .ok()
            .map(|plain| String::from_utf8_lossy(&plain).into_owned())
    }

    /// The audit events of `events`, complete, to be committed with them.
    pub(crate) fn audit_events(&self, scope: Scope, events: &[Event]) -> Vec<AuditEvent> {
        if !RECORDING {
            return Vec::new();
        }
        self.drafts(scope, events)
            .into_iter()
            .map(|d| self.complete(d))
            .collect()
    }

    /// Writes the audit events of the entry committed at `source` to the audit log. The change
    /// is durable and its events with it (in the entry), so a failure here does not undo it:
    /// it closes writes (the audit log is down) and the events are written from the entry at
    /// the next start.
    pub(crate) async fn audit_committed(&self, scope: Scope, source: u64, events: Vec<AuditEvent>) {
        for event in events {
            if let Err(e) = self.append(scope, event, source).await {
                tracing::error!(error = %e, source, "audit events left in the journal entry for the next start");
                return;
            }
        }
    }

    /// [`Engine::audit_committed`] outside an async runtime.
    pub(crate) fn audit_committed_blocking(
        &self,
        scope: Scope,
        source: u64,
        events: Vec<AuditEvent>,
    ) {
        for event in events {
            if let Err(e) = self.append_blocking(scope, event, source) {
                tracing::error!(error = %e, source, "audit events left in the journal entry for the next start");
                return;
            }
        }
    }

    /// Every event recorded from now on, as it is recorded.
    pub fn audit_feed(&self) -> broadcast::Receiver<Arc<Recorded>> {
        self.auditor().feed.subscribe()
    }

    /// One page of the trail, newest first.
    pub fn audit_page(&self, query: &AuditQuery<'_>) -> Result<Vec<Recorded>> {
        let rows = self.auditor().index.query(query)?;
        let Some(lowest) = rows.last().map(|r| r.seq) else {
            return Ok(Vec::new());
        };
        let wanted: std::collections::HashSet<u64> = rows.iter().map(|r| r.seq).collect();
        let highest = rows[0].seq;
        let mut found = std::collections::HashMap::new();
        for entry in self.auditor().log.read_from(lowest)? {
            let entry = entry?;
            if entry.seq > highest {
                break;
            }
            if wanted.contains(&entry.seq)
                && let Some(event) = self.open_audit(&entry.payload)?
            {
                found.insert(entry.seq, event);
            }
        }
        Ok(rows
            .iter()
            .filter_map(|r| {
                found
                    .remove(&r.seq)
                    .map(|event| Recorded { seq: r.seq, event })
            })
            .collect())
    }

    /// Up to `limit` events after position `after`, oldest first, in every scope (the export
    /// stream).
    pub fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<Recorded>> {
        let mut out = Vec::new();
        for entry in self.auditor().log.read_from(after + 1)? {
            let entry = entry?;
            if AuditHeader::decode(&entry.payload).is_some()
                && let Some(event) = self.open_audit(&entry.payload)?
            {
                out.push(Recorded {
                    seq: entry.seq,
                    event,
                });
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Opens one event payload with its scope's key; `None` when the scope's keys were
    /// destroyed (a deleted tenant: its events are shredded, passed over by every reader).
    fn open_audit(&self, payload: &[u8]) -> Result<Option<AuditEvent>> {
        let (header, sealed) = AuditHeader::decode(payload)
            .ok_or_else(|| Error::Envelope("not an audit event entry".into()))?;
        let scope = header.tenant.map_or(Scope::System, Scope::Tenant);
        let key = match self.key_of(scope, header.key_version) {
            Err(e) if e.is_shredded() => return Ok(None),
            other => other?,
        };
        let json = seal::open(&key, &header.aad(), sealed)?;
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| Error::Envelope(e.to_string()))
    }

    /// Signs the head of the audit chain now (the hourly checkpoint); false when nothing
    /// happened since the last one.
    pub async fn audit_checkpoint(&self) -> Result<bool> {
        let done = self
            .auditor()
            .log
            .checkpoint()
            .await
            .map_err(|e| self.audit_failed(e))?;
        Ok(done.is_some())
    }

    /// The public key that verifies the audit checkpoints.
    pub fn audit_public_key(&self) -> [u8; crypto::PUBLIC_KEY_LEN] {
        self.auditor().log.public_key()
    }

    /// The audit chain's head.
    pub fn audit_head(&self) -> journal::Position {
        self.auditor().log.head()
    }
}

/// The index row of the event at `seq`.
fn index_row(
    seq: u64,
    source: u64,
    tenant: Option<types::TenantId>,
    event: &AuditEvent,
) -> AuditRow {
    AuditRow {
        seq,
        event: event.id.clone(),
        source,
        tenant,
        at: event.at,
        actor: event.actor.id.clone(),
        action: event.action.clone(),
        outcome: outcome_name(event.outcome).to_owned(),
    }
}

/// The stable name of an outcome (as in the event JSON).
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Denied => "denied",
    }
}

pub(crate) use start::{catch_up_index, recover_unaudited};
