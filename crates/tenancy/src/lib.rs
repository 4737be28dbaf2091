//! The tenant service: a tenant's lifecycle (create, list, show, suspend, resume) and its
//! deletion by crypto-shredding (`deletion`, with the signed `receipt`).
//!
//! A tenant's name is sealed under the tenant's own key; this service decrypts it only to hand it
//! to an authorised caller. It knows nothing of HTTP or SQL; callers authorise before calling.

pub mod deletion;
pub mod receipt;

use engine::event::{Blob, Event, Status};
use engine::{Engine, Scope, TenantRow, TenantStatus};
use types::{TenantId, Timestamp};

/// Longest tenant name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest page a list returns.
pub const MAX_PAGE: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tenant {0} does not exist")]
    NotFound(TenantId),
    #[error("invalid tenant name: {0}")]
    InvalidName(&'static str),
    #[error("tenant {0} has a deletion pending; cancel it first")]
    DeletionPending(TenantId),
    #[error("tenant {0} has no pending deletion")]
    NoPendingDeletion(TenantId),
    #[error("the deletion of tenant {0} has started; it can no longer be cancelled")]
    DeletionStarted(TenantId),
    #[error("the grace period of tenant {tenant}'s deletion ends at {execute_after} (Unix ms)")]
    GraceNotOver {
        tenant: TenantId,
        execute_after: i64,
    },
    #[error("tenant {0} is already deleted")]
    AlreadyDeleted(TenantId),
    #[error("the cancellation code does not match this tenant's deletion request")]
    WrongCancelCode,
    #[error("the grace period must be 1 to 30 days")]
    InvalidGrace,
    #[error("tenant {0}'s keys are destroyed: its data can not be read")]
    Shredded(TenantId),
    #[error("attachment files: {0}")]
    Files(String),
    #[error(transparent)]
    Engine(#[from] engine::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A tenant as its administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    #[schema(schema_with = status_schema)]
    pub status: &'static str,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The status of a tenant whose keys are destroyed but whose rows are still there.
pub const SHREDDED: &str = "shredded";

/// `status` in OpenAPI: `active`, `suspended` or `shredded` (keys destroyed: nothing opens).
fn status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["active", "suspended", SHREDDED]))
        .build()
}

/// One page of tenants, ordered by id; `next` is the cursor for the following page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = TenantPage)]
pub struct Page {
    pub items: Vec<Tenant>,
    pub next: Option<TenantId>,
}

/// Checks a tenant name: 1..=200 characters after trimming, no control characters.
pub fn validate_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidName("must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::InvalidName("must be at most 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidName("must not contain control characters"));
    }
    Ok(name)
}

/// Where a tenant's sealed name belongs: its own scope, its own row.
fn name_field(id: TenantId, row: &str) -> engine::fields::FieldRef<'_> {
    engine::fields::FieldRef {
        scope: Scope::Tenant(id),
        table: "tenants",
        row,
        field: "name",
    }
}

/// The tenant service.
#[derive(Debug, Clone)]
pub struct Tenancy {
    engine: Engine,
    /// Records purged by one journal entry when a tenant is deleted.
    pub purge_chunk: u32,
}

impl Tenancy {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            purge_chunk: deletion::PURGE_CHUNK,
        }
    }

    fn to_tenant(&self, row: TenantRow) -> Result<Tenant> {
        let id = row.id.to_string();
        let (name, status) = match self
            .engine
            .open_field(name_field(row.id, &id), &row.name_sealed)
        {
            Ok(name) => (
                String::from_utf8_lossy(&name).into_owned(),
                row.status.as_str(),
            ),
            // The rows of a tenant whose keys are gone (a system restored from a backup taken
            // before its deletion): there, but nothing opens.
            Err(e) if e.is_shredded() => (String::new(), SHREDDED),
            Err(e) => return Err(e.into()),
        };
        Ok(Tenant {
            id: row.id,
            name,
            status,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    fn created_event(&self, name: &str) -> Result<(TenantId, Event)> {
        let name = validate_name(name)?;
        let id = TenantId::random();
        self.engine.create_scope(Scope::Tenant(id))?;
        let row = id.to_string();
        let sealed = self
            .engine
            .seal_field(name_field(id, &row), name.as_bytes())?;
        Ok((
            id,
            Event::TenantCreated {
                tenant: id,
                name: Blob(sealed),
            },
        ))
    }

    /// Creates a tenant with its own data key.
    pub async fn create(&self, name: &str) -> Result<Tenant> {
        let (id, event) = self.created_event(name)?;
        self.engine.commit(Scope::Tenant(id), &event).await?;
        self.show(id)
    }

    /// [`Tenancy::create`] for the CLI.
    pub fn create_blocking(&self, name: &str) -> Result<Tenant> {
        let (id, event) = self.created_event(name)?;
        self.engine.commit_blocking(Scope::Tenant(id), &event)?;
        self.show(id)
    }

    pub fn show(&self, id: TenantId) -> Result<Tenant> {
        let row = self
            .engine
            .state()
            .find_tenant(id)
            .map_err(engine::Error::from)?;
        self.to_tenant(row.ok_or(Error::NotFound(id))?)
    }

    /// Tenants after the cursor, at most `limit` (capped at [`MAX_PAGE`]).
    pub fn list(&self, after: Option<TenantId>, limit: u32) -> Result<Page> {
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = self
            .engine
            .state()
            .list_tenants(after, limit + 1)
            .map_err(engine::Error::from)?;
        let more = rows.len() > limit as usize;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| self.to_tenant(r))
            .collect::<Result<Vec<_>>>()?;
        let next = if more {
            items.last().map(|t| t.id)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    fn status_event(&self, id: TenantId, status: TenantStatus) -> Result<Option<Event>> {
        let current = self.show(id)?;
        if current.status == SHREDDED {
            return Err(Error::Shredded(id));
        }
        if self
            .deletion(id)?
            .is_some_and(|d| d.status == engine::model::DeletionStatus::Pending)
        {
            return Err(Error::DeletionPending(id));
        }
        if current.status == status.as_str() {
            return Ok(None);
        }
        let status = match status {
            TenantStatus::Active => Status::Active,
            TenantStatus::Suspended => Status::Suspended,
        };
        Ok(Some(Event::TenantStatusChanged { tenant: id, status }))
    }

    /// Suspends or resumes a tenant; setting the status it already has changes nothing.
    pub async fn set_status(&self, id: TenantId, status: TenantStatus) -> Result<Tenant> {
        if let Some(event) = self.status_event(id, status)? {
            self.engine.commit(Scope::Tenant(id), &event).await?;
        }
        self.show(id)
    }

    /// [`Tenancy::set_status`] for the CLI.
    pub fn set_status_blocking(&self, id: TenantId, status: TenantStatus) -> Result<Tenant> {
        if let Some(event) = self.status_event(id, status)? {
            self.engine.commit_blocking(Scope::Tenant(id), &event)?;
        }
        self.show(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert_eq!(validate_name("  Acme Ltd ").ok(), Some("Acme Ltd"));
        for bad in ["", "   ", "a\nb", "a\u{1b}[31m", &"x".repeat(201)] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name(&"é".repeat(200)).is_ok());
    }
}
