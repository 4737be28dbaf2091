//! Turning an authenticated session or token into an `access::Principal`.

use std::sync::Arc;

use access::{Principal, RoleRef, Via};
use engine::model::{RoleDoc, UserDoc};
use types::{SessionId, TenantId, TokenId, UserId};

use crate::{Error, Identity, Result};

/// The role name of system administrators (system realm).
pub(crate) const SYSTEM_ADMIN_ROLE: &str = "system_admin";

/// How a caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A login session, and whether it came as a cookie (then CSRF rules apply).
    Session {
        id: SessionId,
        restricted: bool,
    },
    Token {
        id: TokenId,
    },
    Bootstrap {
        id: TokenId,
    },
}

/// An authenticated caller: who (for `authorize`) and through what.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub credential: Credential,
    pub tenant: Option<TenantId>,
    /// The account, when the caller is a user (not the bootstrap token).
    pub user: Option<UserDoc>,
}

impl Caller {
    pub fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().map(|u| u.id)
    }

    /// The caller's account or `Forbidden` (the bootstrap token has none).
    pub fn account(&self) -> Result<&UserDoc> {
        self.user
            .as_ref()
            .ok_or(Error::Forbidden("this credential has no account"))
    }
}

impl Identity {
    /// The principal a user acts as, through `via`.
    pub(crate) fn principal_for(&self, user: &UserDoc, via: Via) -> Result<Principal> {
        let Some(tenant) = user.tenant else {
            return Ok(Principal::SystemAdmin {
                user: Some(user.id),
                via,
            });
        };
        let role: RoleRef = user
            .role
            .parse()
            .map_err(|_| Error::Credentials(format!("user {} has an unknown role", user.id)))?;
        let custom = match role {
            RoleRef::Custom(id) => match self.inner.engine.get_doc::<RoleDoc>(&id.to_string())? {
                Some(doc) if doc.tenant == tenant => Some(Arc::new(self.role_def(&doc)?)),
                // A deleted role grants nothing.
                _ => Some(Arc::new(access::RoleDef::default())),
            },
            RoleRef::Builtin(_) => None,
        };
        Ok(Principal::Member {
            tenant,
            user: user.id,
            role,
            custom,
            via,
        })
    }

    /// Whether this account must use a second factor.
    pub(crate) fn mfa_mandatory(&self, user: &UserDoc) -> Result<bool> {
        let Some(tenant) = user.tenant else {
            return Ok(true);
        };
        if user.role.parse::<RoleRef>().is_ok_and(|r| r.requires_mfa()) {
            return Ok(true);
        }
        Ok(self.settings_doc(tenant)?.mfa_required)
    }
}
