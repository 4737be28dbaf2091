//! Accounts: invitations and their acceptance, service accounts, administration (status, role,
//! unlock, delete), password changes, and the first system administrator.

use access::RoleRef;
use crypto::{Secret, Zeroizing};
use engine::event::{Blob, Event, UserChange};
use engine::model::{InvitationDoc, RoleDoc, UserDoc, UserKind, UserStatus, realm_name};
use types::{InvitationId, TenantId, UserId};
use unicode_normalization::UnicodeNormalization;

use crate::error::invalid;
use crate::principal::SYSTEM_ADMIN_ROLE;
use crate::views::field;
use crate::{Caller, EMAIL_INDEX, Error, Identity, InvitationView, Result, UserView, scope_of};

/// Longest email address accepted (RFC 5321 path limit).
const MAX_EMAIL: usize = 254;

/// NFKC, trimmed, lower-cased; refuses what cannot be an address.
pub(crate) fn normalize_email(raw: &str) -> Result<String> {
    let email: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    let bad = |why: &str| invalid("email", why.to_owned());
    if email.is_empty() || email.chars().count() > MAX_EMAIL {
        return Err(bad("must be 1 to 254 characters"));
    }
    if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("must not contain spaces or control characters"));
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email)
        }
        _ => Err(bad("must look like name@domain")),
    }
}

impl Identity {
    pub(crate) fn email_index(&self, tenant: Option<TenantId>, email: &str) -> Result<Blob> {
        Ok(Blob(
            self.inner
                .engine
                .blind_index(scope_of(tenant), EMAIL_INDEX, email.as_bytes())?
                .to_vec(),
        ))
    }

    pub(crate) fn find_user_by_email(
        &self,
        tenant: Option<TenantId>,
        email: &str,
    ) -> Result<Option<UserDoc>> {
        let index = self.email_index(tenant, email)?;
        Ok(self
            .inner
            .engine
            .find_doc::<UserDoc>(&realm_name(tenant), &index.0)?)
    }

    /// A user of `tenant` (None: the system realm), or NotFound.
    pub fn user(&self, tenant: Option<TenantId>, id: UserId) -> Result<UserDoc> {
        match self.inner.engine.get_doc::<UserDoc>(&id.to_string())? {
            Some(u) if u.tenant == tenant => Ok(u),
            _ => Err(Error::NotFound("user")),
        }
    }

    pub fn user_view_of(&self, tenant: Option<TenantId>, id: UserId) -> Result<UserView> {
        self.user_view(&self.user(tenant, id)?)
    }

    /// Users of a realm, ordered by id.
    pub fn list_users(
        &self,
        tenant: Option<TenantId>,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserView>> {
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        let docs = self.inner.engine.list_docs::<UserDoc>(
            &realm_name(tenant),
            &after,
            limit.clamp(1, 500),
        )?;
        docs.iter().map(|u| self.user_view(u)).collect()
    }

    /// Checks that `role` names a role that exists in the realm.
    pub(crate) fn valid_role(&self, tenant: Option<TenantId>, role: &str) -> Result<String> {
        let Some(tenant) = tenant else {
            return if role == SYSTEM_ADMIN_ROLE {
                Ok(role.to_owned())
            } else {
                Err(invalid("role", "must be system_admin"))
            };
        };
        let parsed: RoleRef = role.parse().map_err(|e: String| invalid("role", e))?;
        if let RoleRef::Custom(id) = parsed {
            match self.inner.engine.get_doc::<RoleDoc>(&id.to_string())? {
                Some(r) if r.tenant == tenant => {}
                _ => return Err(invalid("role", format!("no role {id} in this tenant"))),
            }
        }
        Ok(parsed.to_string())
    }

    /// Invites `email` into a realm with `role`; the returned secret is shown once.
    pub async fn invite(
        &self,
        by: &Caller,
        tenant: Option<TenantId>,
        email: &str,
        role: &str,
    ) -> Result<(InvitationView, Secret<String>)> {
        let email = normalize_email(email)?;
        let role = self.valid_role(tenant, role)?;
        if self.find_user_by_email(tenant, &email)?.is_some() {
            return Err(Error::Conflict(
                "a user with this email already exists".into(),
            ));
        }
        let secret = crypto::generate_token("sri_");
        let id = InvitationId::random();
        let row = id.to_string();
        let now = self.now();
        let doc = InvitationDoc {
            id,
            tenant,
            email: self.seal_text(field(tenant, "invitations", &row, "email"), &email)?,
            email_index: self.email_index(tenant, &email)?,
            role,
            hash: Blob(crypto::token_hash(secret.expose()).to_vec()),
            invited_by: by.user_id(),
            created_at: now,
            expires_at: now + self.inner.config.invitation_ms,
            accepted_at: None,
            reset_user: None,
        };
        self.inner
            .engine
            .commit(
                scope_of(tenant),
                &Event::InvitationCreated { doc: doc.clone() },
            )
            .await?;
        Ok((self.invitation_view(&doc)?, secret))
    }

    /// A pending invitation (or, with `reset`, a pending password reset) by its secret.
    pub(crate) fn pending_invitation(&self, secret: &str, reset: bool) -> Result<InvitationDoc> {
        let hash = crypto::token_hash(secret);
        let what = if reset {
            "password reset (unknown, used or expired)"
        } else {
            "invitation (unknown, used or expired)"
        };
        self.inner
            .engine
            .find_doc::<InvitationDoc>("invitations", &hash)?
            .filter(|i| i.accepted_at.is_none() && i.expires_at > self.now())
            .filter(|i| i.reset_user.is_some() == reset)
            .ok_or(Error::NotFound(what))
    }

    /// Accepts an invitation: creates the account with `password`. Single use; expires.
    pub async fn accept_invitation(
        &self,
        secret: &str,
        password: Zeroizing<String>,
    ) -> Result<UserView> {
        let inv = self.pending_invitation(secret, false)?;
        let row = inv.id.to_string();
        let email = self.open_text(
            field(inv.tenant, "invitations", &row, "email"),
            &inv.email.0,
        )?;
        if self.find_user_by_email(inv.tenant, &email)?.is_some() {
            return Err(Error::Conflict(
                "a user with this email already exists".into(),
            ));
        }
        self.check_password(inv.tenant, &email, &password, false)?;
        let phc = self.inner.hasher.hash(password).await?;
        let user = self.new_user(
            inv.tenant,
            &email,
            UserKind::Human,
            inv.role.clone(),
            Some(&phc),
        )?;
        let events = [
            Event::UserCreated { doc: user.clone() },
            Event::InvitationAccepted { invitation: inv.id },
        ];
        self.inner
            .engine
            .commit_all(scope_of(inv.tenant), &events)
            .await?;
        self.user_view(&user)
    }

    pub(crate) fn new_user(
        &self,
        tenant: Option<TenantId>,
        email: &str,
        kind: UserKind,
        role: String,
        phc: Option<&str>,
    ) -> Result<UserDoc> {
        let id = UserId::random();
        let row = id.to_string();
        let now = self.now();
        let password = match phc {
            Some(p) => Some(self.seal_text(field(tenant, "users", &row, "password"), p)?),
            None => None,
        };
        Ok(UserDoc {
            id,
            tenant,
            email: self.seal_text(field(tenant, "users", &row, "email"), email)?,
            email_index: self.email_index(tenant, email)?,
            kind,
            role,
            status: UserStatus::Active,
            password_changed_at: password.as_ref().map(|_| now),
            password,
            totp: None,
            totp_confirmed: false,
            totp_last_step: None,
            recovery: Vec::new(),
            failed_logins: 0,
            last_failure_at: None,
            locked_at: None,
            last_login_at: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Creates a service account (no password; acts through API tokens only).
    pub async fn create_service_account(
        &self,
        tenant: TenantId,
        name: &str,
        role: &str,
    ) -> Result<UserView> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(invalid(
                "name",
                "must be 1 to 100 characters without control characters",
            ));
        }
        let label = format!("service:{}", name.to_lowercase());
        let role = self.valid_role(Some(tenant), role)?;
        if role == RoleRef::OWNER.to_string() {
            return Err(invalid("role", "a service account cannot be an owner"));
        }
        if self.find_user_by_email(Some(tenant), &label)?.is_some() {
            return Err(Error::Conflict(
                "a service account with this name already exists".into(),
            ));
        }
        let user = self.new_user(Some(tenant), &label, UserKind::Service, role, None)?;
        self.inner
            .engine
            .commit(
                engine::Scope::Tenant(tenant),
                &Event::UserCreated { doc: user.clone() },
            )
            .await?;
        self.user_view(&user)
    }

    async fn change_user(&self, user: &UserDoc, events: &[Event]) -> Result<UserView> {
        self.inner
            .engine
            .commit_all(scope_of(user.tenant), events)
            .await?;
        self.user_view_of(user.tenant, user.id)
    }

    /// Every user of a tenant, page by page, in id order.
    pub(crate) fn users_of(&self, tenant: TenantId) -> Result<Vec<UserDoc>> {
        const PAGE: u32 = 500;
        let mut all: Vec<UserDoc> = Vec::new();
        loop {
            let after = all.last().map(|u| u.id.to_string()).unwrap_or_default();
            let page = self
                .inner
                .engine
                .list_docs::<UserDoc>(&tenant.to_string(), &after, PAGE)?;
            let full = page.len() == PAGE as usize;
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    fn count_owners(&self, tenant: TenantId) -> Result<usize> {
        Ok(self
            .users_of(tenant)?
            .iter()
            .filter(|u| u.role == "owner" && u.status == UserStatus::Active)
            .count())
    }

    fn keep_an_owner(&self, user: &UserDoc) -> Result<()> {
        if let Some(t) = user.tenant
            && user.role == "owner"
            && self.count_owners(t)? <= 1
        {
            return Err(Error::Conflict(
                "the tenant's last owner cannot be removed, disabled or demoted".into(),
            ));
        }
        Ok(())
    }

    /// Disables (ending every session) or re-enables an account.
    pub async fn set_status(
        &self,
        tenant: Option<TenantId>,
        id: UserId,
        status: UserStatus,
    ) -> Result<UserView> {
        let user = self.user(tenant, id)?;
        if status == UserStatus::Disabled {
            self.keep_an_owner(&user)?;
        }
        let mut events = vec![Event::UserChanged {
            user: id,
            change: UserChange::Status { status },
        }];
        if status == UserStatus::Disabled {
            events.push(Event::UserSessionsRevoked {
                user: id,
                except: None,
            });
        }
        self.change_user(&user, &events).await
    }

    pub async fn set_role(&self, tenant: TenantId, id: UserId, role: &str) -> Result<UserView> {
        let user = self.user(Some(tenant), id)?;
        let role = self.valid_role(Some(tenant), role)?;
        if user.role == "owner" && role != "owner" {
            self.keep_an_owner(&user)?;
        }
        self.change_user(
            &user,
            &[Event::UserChanged {
                user: id,
                change: UserChange::Role { role },
            }],
        )
        .await
    }

    /// Lifts a lock after repeated failures.
    pub async fn unlock(&self, tenant: Option<TenantId>, id: UserId) -> Result<UserView> {
        let user = self.user(tenant, id)?;
        self.change_user(
            &user,
            &[Event::UserChanged {
                user: id,
                change: UserChange::Unlocked,
            }],
        )
        .await
    }

    pub async fn delete_user(&self, tenant: TenantId, id: UserId) -> Result<()> {
        let user = self.user(Some(tenant), id)?;
        self.keep_an_owner(&user)?;
        self.inner
            .engine
            .commit(
                engine::Scope::Tenant(tenant),
                &Event::UserDeleted { user: id },
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_validated() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").ok().as_deref(),
            Some("alice@example.com")
        );
        for bad in ["", "alice", "@x", "a@", "a b@x", "a@b@c", "a\n@x"] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }
}
