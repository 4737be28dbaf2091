//! Roles: the four built-ins and custom roles with per-collection rights.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use types::RoleId;

use crate::{Action, RecordAction};

/// The roles every tenant has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinRole {
    Owner,
    Admin,
    Editor,
    Viewer,
}

/// A role as assigned to a user: a built-in or a tenant's custom role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleRef {
    Builtin(BuiltinRole),
    Custom(RoleId),
}

impl RoleRef {
    pub const OWNER: RoleRef = RoleRef::Builtin(BuiltinRole::Owner);
    pub const ADMIN: RoleRef = RoleRef::Builtin(BuiltinRole::Admin);
    pub const EDITOR: RoleRef = RoleRef::Builtin(BuiltinRole::Editor);
    pub const VIEWER: RoleRef = RoleRef::Builtin(BuiltinRole::Viewer);

    /// Owners and admins must use a second factor.
    pub fn requires_mfa(self) -> bool {
        matches!(
            self,
            RoleRef::Builtin(BuiltinRole::Owner | BuiltinRole::Admin)
        )
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleRef::Builtin(BuiltinRole::Owner) => f.write_str("owner"),
            RoleRef::Builtin(BuiltinRole::Admin) => f.write_str("admin"),
            RoleRef::Builtin(BuiltinRole::Editor) => f.write_str("editor"),
            RoleRef::Builtin(BuiltinRole::Viewer) => f.write_str("viewer"),
            RoleRef::Custom(id) => write!(f, "{id}"),
        }
    }
}

impl FromStr for RoleRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "owner" => RoleRef::OWNER,
            "admin" => RoleRef::ADMIN,
            "editor" => RoleRef::EDITOR,
            "viewer" => RoleRef::VIEWER,
            other => RoleRef::Custom(other.parse().map_err(|_| {
                format!(
                    "unknown role `{}`: use owner, admin, editor, viewer or a role id (ro_…)",
                    other.chars().take(40).collect::<String>()
                )
            })?),
        })
    }
}

impl serde::Serialize for RoleRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RoleRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Rights on one collection.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(deny_unknown_fields, default)]
pub struct CollectionRights {
    pub read: bool,
    pub create: bool,
    pub update: bool,
    pub delete: bool,
    /// Read, update and delete apply only to records the user owns.
    pub owner_only: bool,
}

impl CollectionRights {
    pub const ALL: CollectionRights = CollectionRights {
        read: true,
        create: true,
        update: true,
        delete: true,
        owner_only: false,
    };
    pub const READ: CollectionRights = CollectionRights {
        read: true,
        create: false,
        update: false,
        delete: false,
        owner_only: false,
    };
    pub const NONE: CollectionRights = CollectionRights {
        read: false,
        create: false,
        update: false,
        delete: false,
        owner_only: false,
    };

    pub fn allows(&self, action: RecordAction) -> bool {
        match action {
            RecordAction::Read => self.read,
            RecordAction::Create => self.create,
            RecordAction::Update => self.update,
            RecordAction::Delete => self.delete,
        }
    }
}

/// A custom role: rights per collection name, `*` for every collection without its own entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    pub collections: BTreeMap<String, CollectionRights>,
}

pub(crate) fn collection_rights(
    role: RoleRef,
    custom: Option<&RoleDef>,
    collection: &str,
) -> CollectionRights {
    match role {
        RoleRef::Builtin(BuiltinRole::Owner | BuiltinRole::Admin | BuiltinRole::Editor) => {
            CollectionRights::ALL
        }
        RoleRef::Builtin(BuiltinRole::Viewer) => CollectionRights::READ,
        RoleRef::Custom(_) => custom
            .and_then(|def| {
                def.collections
                    .get(collection)
                    .or_else(|| def.collections.get("*"))
            })
            .copied()
            .unwrap_or(CollectionRights::NONE),
    }
}

pub(crate) fn grants_admin(role: RoleRef, action: Action) -> bool {
    use Action as A;
    match role {
        RoleRef::Builtin(BuiltinRole::Owner) => matches!(
            action,
            A::ReadUsers
                | A::ManageUsers
                | A::ManageOwners
                | A::ManageRoles
                | A::ManageTokens
                | A::ManageSettings
                | A::ReadAccessReview
                | A::ReadAudit
                | A::ManageCollections
                | A::DeleteTenant
                | A::EraseSubject
                | A::ExportTenant
        ),
        RoleRef::Builtin(BuiltinRole::Admin) => matches!(
            action,
            A::ReadUsers
                | A::ManageUsers
                | A::ManageRoles
                | A::ManageTokens
                | A::ManageSettings
                | A::ReadAccessReview
                | A::ReadAudit
                | A::ManageCollections
                | A::EraseSubject
                | A::ExportTenant
        ),
        _ => false,
    }
}
