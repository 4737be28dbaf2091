//! What callers see: documents with their sealed fields opened, secrets never included.

use std::collections::BTreeMap;

use access::{CollectionRights, TokenScope};
use engine::fields::FieldRef;
use engine::model::{
    InvitationDoc, RoleDoc, SessionDoc, SettingsDoc, TokenDoc, UserDoc, UserKind, UserStatus,
};
use types::{InvitationId, RoleId, SessionId, TenantId, TokenId, UserId};

use crate::{Identity, Result, scope_of};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub tenant: Option<TenantId>,
    pub email: String,
    #[schema(schema_with = user_kind_schema)]
    pub kind: UserKind,
    pub role: String,
    #[schema(schema_with = user_status_schema)]
    pub status: UserStatus,
    pub mfa: bool,
    pub locked: bool,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: SessionId,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub restricted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: TokenId,
    pub owner: Option<UserId>,
    pub scopes: Vec<TokenScope>,
    pub label: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: InvitationId,
    pub tenant: Option<TenantId>,
    pub email: String,
    pub role: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub id: RoleId,
    pub name: String,
    pub collections: BTreeMap<String, CollectionRights>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SettingsView {
    pub mfa_required: bool,
    #[schema(minimum = 1, maximum = 100)]
    #[serde(deserialize_with = "types::lenient::u32")]
    pub lockout_threshold: u32,
    #[schema(minimum = 8, maximum = 64)]
    #[serde(deserialize_with = "types::lenient::u32")]
    pub min_password_len: u32,
    /// Largest attachment in bytes; absent or `null`: the system's limit. A tenant can lower
    /// the system's limit, not raise it (a larger value acts as the system's limit).
    #[schema(minimum = 1, maximum = 1_073_741_824)]
    #[serde(default, deserialize_with = "types::lenient::opt_u32")]
    pub attachment_max_bytes: Option<u32>,
}

/// `UserKind` in OpenAPI (the engine's enum carries no schema).
fn user_kind_schema() -> utoipa::openapi::Object {
    string_enum(&["human", "service"])
}

/// `UserStatus` in OpenAPI.
fn user_status_schema() -> utoipa::openapi::Object {
    string_enum(&["active", "disabled"])
}

fn string_enum(values: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// Where a sealed identity field lives.
pub(crate) fn field<'a>(
    tenant: Option<TenantId>,
    table: &'a str,
    row: &'a str,
    name: &'a str,
) -> FieldRef<'a> {
    FieldRef {
        scope: scope_of(tenant),
        table,
        row,
        field: name,
    }
}

impl Identity {
    pub(crate) fn open_text(&self, at: FieldRef<'_>, sealed: &[u8]) -> Result<String> {
        let plain = self.inner.engine.open_field(at, sealed)?;
        Ok(String::from_utf8_lossy(&plain).into_owned())
    }

    pub(crate) fn seal_text(&self, at: FieldRef<'_>, text: &str) -> Result<engine::event::Blob> {
        Ok(engine::event::Blob(
            self.inner.engine.seal_field(at, text.as_bytes())?,
        ))
    }

    pub(crate) fn user_view(&self, u: &UserDoc) -> Result<UserView> {
        let id = u.id.to_string();
        Ok(UserView {
            id: u.id,
            tenant: u.tenant,
            email: self.open_text(field(u.tenant, "users", &id, "email"), &u.email.0)?,
            kind: u.kind,
            role: u.role.clone(),
            status: u.status,
            mfa: u.has_mfa(),
            locked: u.locked_at.is_some(),
            last_login_at: u.last_login_at,
            created_at: u.created_at,
        })
    }

    pub(crate) fn session_view(&self, s: &SessionDoc) -> SessionView {
        SessionView {
            id: s.id,
            created_at: s.created_at,
            last_seen_at: self.inner.activity.last_seen(s),
            expires_at: s.expires_at,
            restricted: s.restricted,
        }
    }

    pub(crate) fn token_scopes(&self, t: &TokenDoc) -> Result<Vec<TokenScope>> {
        let Some(sealed) = &t.scopes else {
            return Ok(Vec::new());
        };
        let id = t.id.to_string();
        let json = self.open_text(field(t.tenant, "tokens", &id, "scopes"), &sealed.0)?;
        serde_json::from_str(&json)
            .map_err(|e| crate::Error::Credentials(format!("token scopes: {e}")))
    }

    pub(crate) fn token_view(&self, t: &TokenDoc) -> Result<TokenView> {
        let id = t.id.to_string();
        let label = match &t.label {
            Some(l) => Some(self.open_text(field(t.tenant, "tokens", &id, "label"), &l.0)?),
            None => None,
        };
        Ok(TokenView {
            id: t.id,
            owner: t.owner,
            scopes: self.token_scopes(t)?,
            label,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked: t.revoked_at.is_some(),
        })
    }

    pub(crate) fn invitation_view(&self, i: &InvitationDoc) -> Result<InvitationView> {
        let id = i.id.to_string();
        Ok(InvitationView {
            id: i.id,
            tenant: i.tenant,
            email: self.open_text(field(i.tenant, "invitations", &id, "email"), &i.email.0)?,
            role: i.role.clone(),
            expires_at: i.expires_at,
        })
    }

    pub(crate) fn role_view(&self, r: &RoleDoc) -> Result<RoleView> {
        let id = r.id.to_string();
        let name = self.open_text(field(Some(r.tenant), "roles", &id, "name"), &r.name.0)?;
        let def = self.role_def(r)?;
        Ok(RoleView {
            id: r.id,
            name,
            collections: def.collections,
        })
    }

    pub(crate) fn role_def(&self, r: &RoleDoc) -> Result<access::RoleDef> {
        let id = r.id.to_string();
        let json = self.open_text(field(Some(r.tenant), "roles", &id, "def"), &r.def.0)?;
        serde_json::from_str(&json)
            .map_err(|e| crate::Error::Credentials(format!("role definition: {e}")))
    }
}

impl From<&SettingsDoc> for SettingsView {
    fn from(s: &SettingsDoc) -> Self {
        SettingsView {
            mfa_required: s.mfa_required,
            lockout_threshold: s.lockout_threshold,
            min_password_len: s.min_password_len,
            attachment_max_bytes: s.attachment_max_bytes,
        }
    }
}
