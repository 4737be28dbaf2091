//! Need-to-know (P5): who is asking ([`Principal`]), what for ([`Action`]), on what
//! ([`Resource`]), and the one function that decides, [`authorize`].
//!
//! Pure rules: no I/O, no clock, no storage. Deny by default: anything not explicitly granted
//! below is refused, and nothing ever crosses from one realm to another. Handlers must not make
//! role checks of their own; they call `authorize`.

mod roles;

use std::collections::BTreeMap;
use std::sync::Arc;

use types::{TenantId, UserId};

pub use roles::{BuiltinRole, CollectionRights, RoleDef, RoleRef};

/// What may be done to records of a collection.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordAction {
    Read,
    Create,
    Update,
    Delete,
}

impl RecordAction {
    pub const ALL: [RecordAction; 4] = [
        RecordAction::Read,
        RecordAction::Create,
        RecordAction::Update,
        RecordAction::Delete,
    ];
}

/// One grant of an API token: a collection (or `*`) and the actions on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenScope {
    /// A collection name, or `*` for every collection.
    #[schema(pattern = r"^(\*|[A-Za-z0-9_-]{1,64})$")]
    pub collection: String,
    #[schema(min_items = 1)]
    pub actions: Vec<RecordAction>,
}

/// How the principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A login session; `restricted` while a mandatory second factor is not yet enrolled.
    Session { restricted: bool },
    /// An API token limited to its scopes (and never more than its owner's role).
    Token { scopes: Vec<TokenScope> },
    /// The bootstrap system-administrator token.
    BootstrapToken,
}

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A system administrator (system realm).
    SystemAdmin { user: Option<UserId>, via: Via },
    /// A member of one tenant.
    Member {
        tenant: TenantId,
        user: UserId,
        role: RoleRef,
        /// The definition of a custom role (None for built-ins).
        custom: Option<Arc<RoleDef>>,
        via: Via,
    },
}

impl Principal {
    pub fn tenant(&self) -> Option<TenantId> {
        match self {
            Principal::Member { tenant, .. } => Some(*tenant),
            Principal::SystemAdmin { .. } => None,
        }
    }

    pub fn user(&self) -> Option<UserId> {
        match self {
            Principal::Member { user, .. } => Some(*user),
            Principal::SystemAdmin { user, .. } => *user,
        }
    }

    fn via(&self) -> &Via {
        match self {
            Principal::Member { via, .. } | Principal::SystemAdmin { via, .. } => via,
        }
    }
}

/// What is being attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Create, list, show, suspend tenants.
    ManageTenants,
    /// Invite a tenant's first owner (system administrators).
    InviteOwner,
    /// List and read a tenant's users.
    ReadUsers,
    /// Invite, create, disable, enable, unlock, delete and change roles of non-owners.
    ManageUsers,
    /// The same for owners, and making someone an owner.
    ManageOwners,
    /// Create, change and delete custom roles.
    ManageRoles,
    /// Create tokens for service accounts; list and revoke any token of the tenant.
    ManageTokens,
    /// Change tenant settings (MFA requirement, lockout threshold, password length).
    ManageSettings,
    /// Read the access review.
    ReadAccessReview,
    /// Read the audit trail: a tenant's own (owners and administrators), or every scope's
    /// (system administrators, sessions and tokens alike, for SIEM export).
    ReadAudit,
    /// Take backups, read their status, restore a tenant to a moment (system administrators
    /// only: a restore acts on the whole installation or across a tenant's data).
    ManageBackups,
    /// Request (and cancel) the deletion of a whole tenant (P15): its owners, re-authenticated,
    /// and system administrators.
    DeleteTenant,
    /// Erase a data subject: every record and attachment about one person made unreadable
    /// (owners and administrators).
    EraseSubject,
    /// Create, change (a new schema version) and delete collections.
    ManageCollections,
    /// List collections and read their schemas.
    ReadCollections,
    /// Own sessions, password, second factor, own tokens.
    ManageOwnAccount,
    /// Enrol a second factor (the one thing a restricted session may do).
    EnrollMfa,
    /// Records of a collection.
    Record(RecordAction),
    /// Export the whole tenant (P14): request an export, follow it, make its download link
    /// (owners and administrators, through a session).
    ExportTenant,
}

/// What it is attempted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The installation itself (tenant lifecycle).
    System,
    /// A tenant as a whole (its users, roles, settings, tokens).
    Tenant(TenantId),
    /// The principal's own account.
    OwnAccount,
    /// A collection (list, create).
    Collection { tenant: TenantId, name: &'a str },
    /// One record with its owner.
    Record {
        tenant: TenantId,
        collection: &'a str,
        owner: UserId,
    },
}

/// A refusal, with the rule that refused (for logs and tests; never shown to attackers as more
/// than "forbidden").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("denied: {reason}")]
pub struct Denied {
    pub reason: &'static str,
}

fn deny(reason: &'static str) -> Result<(), Denied> {
    Err(Denied { reason })
}

/// The one decision. See `docs/design/identity.md` for the rules in prose.
pub fn authorize(
    principal: &Principal,
    action: Action,
    resource: &Resource<'_>,
) -> Result<(), Denied> {
    if let Via::Session { restricted: true } = principal.via() {
        return match (action, resource) {
            (Action::EnrollMfa, Resource::OwnAccount) => Ok(()),
            _ => deny("restricted session: enrol a second factor first"),
        };
    }
    match principal {
        Principal::SystemAdmin { via, .. } => authorize_system(via, action, resource),
        Principal::Member {
            tenant,
            user,
            role,
            custom,
            via,
        } => {
            let member = Member {
                tenant: *tenant,
                user: *user,
                role: *role,
                custom: custom.as_deref(),
                via,
            };
            authorize_member(&member, action, resource)
        }
    }
}

fn authorize_system(via: &Via, action: Action, resource: &Resource<'_>) -> Result<(), Denied> {
    match (action, resource) {
        (Action::ManageTenants, Resource::System | Resource::Tenant(_)) => Ok(()),
        (Action::InviteOwner, Resource::Tenant(_)) => Ok(()),
        (Action::ReadAudit, Resource::System | Resource::Tenant(_)) => Ok(()),
        (Action::ManageBackups, Resource::System | Resource::Tenant(_)) => Ok(()),
        (Action::DeleteTenant, Resource::Tenant(_)) => Ok(()),
        (Action::ManageOwnAccount | Action::EnrollMfa, Resource::OwnAccount) => match via {
            Via::Session { .. } => Ok(()),
            _ => deny("tokens cannot change accounts"),
        },
        (Action::Record(_), _) => deny("system administrators hold no right over tenant records"),
        _ => deny("not a system administration action"),
    }
}

struct Member<'a> {
    tenant: TenantId,
    user: UserId,
    role: RoleRef,
    custom: Option<&'a RoleDef>,
    via: &'a Via,
}

fn resource_tenant(resource: &Resource<'_>) -> Option<TenantId> {
    match resource {
        Resource::Tenant(t) => Some(*t),
        Resource::Collection { tenant, .. } | Resource::Record { tenant, .. } => Some(*tenant),
        Resource::System | Resource::OwnAccount => None,
    }
}

fn authorize_member(m: &Member<'_>, action: Action, resource: &Resource<'_>) -> Result<(), Denied> {
    if let Some(t) = resource_tenant(resource)
        && t != m.tenant
    {
        return deny("another tenant");
    }
    match (action, resource) {
        (Action::ManageOwnAccount | Action::EnrollMfa, Resource::OwnAccount) => match m.via {
            Via::Session { .. } => Ok(()),
            _ => deny("tokens cannot change accounts"),
        },
        (Action::Record(act), Resource::Collection { name, .. }) => {
            record_right(m, act, name, None)
        }
        (
            Action::Record(act),
            Resource::Record {
                collection, owner, ..
            },
        ) => record_right(m, act, collection, Some(*owner)),
        (Action::Record(_), _) => deny("record actions apply to collections and records"),
        // Every member (session or token) may read the schemas of its own tenant.
        (Action::ReadCollections, Resource::Tenant(_)) => Ok(()),
        (admin, Resource::Tenant(_)) => {
            if !matches!(m.via, Via::Session { .. }) {
                return deny("tokens cannot administer a tenant");
            }
            if roles::grants_admin(m.role, admin) {
                Ok(())
            } else {
                deny("the role does not grant this")
            }
        }
        _ => deny("no rule allows this"),
    }
}

fn record_right(
    m: &Member<'_>,
    act: RecordAction,
    collection: &str,
    owner: Option<UserId>,
) -> Result<(), Denied> {
    let rights = roles::collection_rights(m.role, m.custom, collection);
    if !rights.allows(act) {
        return deny("the role does not grant this on the collection");
    }
    if rights.owner_only
        && let Some(owner) = owner
        && owner != m.user
    {
        return deny("owner-only: the record belongs to someone else");
    }
    if let Via::Token { scopes } = m.via {
        let scoped = scopes.iter().any(|s| {
            (s.collection == "*" || s.collection == collection) && s.actions.contains(&act)
        });
        if !scoped {
            return deny("outside the token's scopes");
        }
    }
    Ok(())
}

/// Per-collection rights map type used by custom roles.
pub type Rights = BTreeMap<String, CollectionRights>;
