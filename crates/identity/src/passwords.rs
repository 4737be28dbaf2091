//! Passwords of existing accounts: the policy check with the realm's context, changes with
//! re-authentication, administrator-issued resets, and the first system administrator.

use crypto::{Secret, Zeroizing};
use engine::event::{Blob, Event, UserChange};
use engine::model::{InvitationDoc, UserDoc, UserKind};
use types::{InvitationId, TenantId, UserId};

use crate::error::invalid;
use crate::principal::SYSTEM_ADMIN_ROLE;
use crate::users::normalize_email;
use crate::views::field;
use crate::{Caller, Error, Identity, Result, UserView, scope_of};

impl Identity {
    /// Applies the password policy of the realm, naming every rule that fails.
    pub(crate) fn check_password(
        &self,
        tenant: Option<TenantId>,
        email: &str,
        password: &str,
        has_mfa: bool,
    ) -> Result<()> {
        let min = match tenant {
            Some(t) => self.settings_doc(t)?.min_password_len as usize,
            None => credentials::PasswordPolicy::default().min_len,
        };
        let policy = credentials::PasswordPolicy {
            min_len: min,
            min_len_without_mfa: min.max(15),
            ..Default::default()
        };
        let local = email.split('@').next().unwrap_or_default().to_owned();
        let tenant_name = match tenant {
            Some(t) => self.tenant_name(t)?,
            None => String::new(),
        };
        let words: Vec<&str> = [local.as_str(), tenant_name.as_str()]
            .into_iter()
            .filter(|w| !w.is_empty())
            .collect();
        let ctx = credentials::PolicyContext {
            has_mfa,
            context_words: &words,
        };
        credentials::password::check(&policy, password, &ctx).map_err(Error::PasswordRejected)
    }

    fn tenant_name(&self, tenant: TenantId) -> Result<String> {
        let row = self
            .inner
            .engine
            .state()
            .find_tenant(tenant)
            .map_err(engine::Error::from)?;
        let Some(row) = row else {
            return Err(Error::NotFound("tenant"));
        };
        let id = tenant.to_string();
        let at = engine::fields::FieldRef {
            scope: engine::Scope::Tenant(tenant),
            table: "tenants",
            row: &id,
            field: "name",
        };
        self.open_text(at, &row.name_sealed)
    }

    /// Changes the caller's password after checking the current one; ends every other session.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: Zeroizing<String>,
        new: Zeroizing<String>,
    ) -> Result<()> {
        let user = caller.account()?.clone();
        self.reauthenticate(&user, current).await?;
        let email = self.open_text(
            field(user.tenant, "users", &user.id.to_string(), "email"),
            &user.email.0,
        )?;
        self.check_password(user.tenant, &email, &new, user.has_mfa())?;
        let phc = self.inner.hasher.hash(new).await?;
        let sealed = self.seal_text(
            field(user.tenant, "users", &user.id.to_string(), "password"),
            &phc,
        )?;
        let except = match caller.credential {
            crate::Credential::Session { id, .. } => Some(id),
            _ => None,
        };
        let events = [
            Event::UserChanged {
                user: user.id,
                change: UserChange::Password { hash: sealed },
            },
            Event::UserSessionsRevoked {
                user: user.id,
                except,
            },
        ];
        self.inner
            .engine
            .commit_all(scope_of(user.tenant), &events)
            .await?;
        Ok(())
    }

    /// Issues a single-use password-reset secret for an account (an administrator hands it to
    /// the person). Using it sets a new password, ends every session and lifts a lock.
    pub async fn start_password_reset(
        &self,
        by: &Caller,
        tenant: Option<TenantId>,
        id: UserId,
    ) -> Result<(i64, Secret<String>)> {
        let user = self.user(tenant, id)?;
        if user.kind != UserKind::Human {
            return Err(invalid("user", "service accounts have no password"));
        }
        let email = self.open_text(
            field(tenant, "users", &id.to_string(), "email"),
            &user.email.0,
        )?;
        let secret = crypto::generate_token("srp_");
        let inv = InvitationId::random();
        let row = inv.to_string();
        let now = self.now();
        let expires_at = now + self.inner.config.reset_ms;
        let doc = InvitationDoc {
            id: inv,
            tenant,
            email: self.seal_text(field(tenant, "invitations", &row, "email"), &email)?,
            email_index: user.email_index.clone(),
            role: user.role.clone(),
            hash: Blob(crypto::token_hash(secret.expose()).to_vec()),
            invited_by: by.user_id(),
            created_at: now,
            expires_at,
            accepted_at: None,
            reset_user: Some(id),
        };
        self.inner
            .engine
            .commit(scope_of(tenant), &Event::InvitationCreated { doc })
            .await?;
        Ok((expires_at, secret))
    }

    /// Uses a password-reset secret: sets the new password, ends every session, lifts a lock.
    /// Refused when the account's role changed since the reset was issued (an administrator must
    /// not keep a way into an account that has since become more privileged, such as an owner).
    pub async fn finish_password_reset(
        &self,
        secret: &str,
        password: Zeroizing<String>,
    ) -> Result<UserView> {
        let inv = self.pending_invitation(secret, true)?;
        let id = inv.reset_user.ok_or(Error::NotFound("password reset"))?;
        let row = inv.id.to_string();
        let email = self.open_text(
            field(inv.tenant, "invitations", &row, "email"),
            &inv.email.0,
        )?;
        let user = self.user(inv.tenant, id)?;
        if user.role != inv.role {
            return Err(Error::Conflict(
                "the account's role changed since this reset was issued; ask for a new one".into(),
            ));
        }
        self.check_password(inv.tenant, &email, &password, user.has_mfa())?;
        let phc = self.inner.hasher.hash(password).await?;
        let sealed = self.seal_text(
            field(inv.tenant, "users", &id.to_string(), "password"),
            &phc,
        )?;
        let events = [
            Event::UserChanged {
                user: id,
                change: UserChange::Password { hash: sealed },
            },
            Event::UserSessionsRevoked {
                user: id,
                except: None,
            },
            Event::InvitationAccepted { invitation: inv.id },
        ];
        self.inner
            .engine
            .commit_all(scope_of(inv.tenant), &events)
            .await?;
        self.user_view_of(inv.tenant, id)
    }

    /// Checks the account's current password (for changes to credentials). Guesses count like
    /// failed logins: the same progressive delay, the same lockout, so a stolen session can not
    /// be used to guess the password at leisure.
    pub(crate) async fn reauthenticate(
        &self,
        user: &UserDoc,
        password: Zeroizing<String>,
    ) -> Result<()> {
        if user.locked_at.is_some() {
            return Err(Error::ReauthFailed);
        }
        crate::login::check_delay(user.failed_logins, user.last_failure_at, self.now())?;
        let phc = match &user.password {
            Some(p) => {
                let plain = self.inner.engine.open_field(
                    field(user.tenant, "users", &user.id.to_string(), "password"),
                    &p.0,
                )?;
                Some(Zeroizing::new(String::from_utf8_lossy(&plain).into_owned()))
            }
            None => None,
        };
        if self.inner.hasher.verify(password, phc).await? {
            Ok(())
        } else {
            self.reauth_failed(user).await
        }
    }

    /// Counts a failed re-authentication (password or code) as a failed login.
    pub(crate) async fn reauth_failed<T>(&self, user: &UserDoc) -> Result<T> {
        let threshold = self.lockout_threshold(user.tenant)?;
        self.count_failure(
            user.tenant,
            user.id,
            user.failed_logins,
            threshold,
            engine::event::Attempt::Reauthentication,
        )
        .await?;
        Err(Error::ReauthFailed)
    }

    /// Creates a system administrator with a password (the CLI's `admin create`); the account
    /// must enrol a second factor at first login.
    pub fn create_system_admin_blocking(&self, email: &str, password: &str) -> Result<UserView> {
        let email = normalize_email(email)?;
        if self.find_user_by_email(None, &email)?.is_some() {
            return Err(Error::Conflict(
                "a system administrator with this email already exists".into(),
            ));
        }
        self.check_password(None, &email, password, false)?;
        let phc = self.inner.hasher.hash_blocking(password)?;
        let user = self.new_user(
            None,
            &email,
            UserKind::Human,
            SYSTEM_ADMIN_ROLE.to_owned(),
            Some(&phc),
        )?;
        self.inner.engine.commit_blocking(
            engine::Scope::System,
            &Event::UserCreated { doc: user.clone() },
        )?;
        self.user_view(&user)
    }
}
