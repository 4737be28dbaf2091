//! Login: password, then (when enrolled) the second factor, then a session. Unknown accounts
//! take the same path as known ones (dummy hash, in-memory failure counter), throttling refuses
//! early attempts without evaluating them, and a locked account is never evaluated.

use std::collections::HashMap;
use std::sync::Mutex;

use crypto::{Secret, Zeroizing};
use engine::event::{Attempt, Blob, Event, UserChange};
use engine::model::{SessionDoc, UserDoc, UserKind, UserStatus, realm_name};
use types::{SessionId, TenantId, UserId};

use crate::throttle::next_allowed;
use crate::users::normalize_email;
use crate::views::field;
use crate::{Error, Identity, Result, SessionView, scope_of};

/// A session just created; the secret is shown once.
pub struct NewSession {
    pub session: SessionView,
    pub secret: Secret<String>,
    /// The CSRF token that cookie-authenticated requests must echo.
    pub csrf: String,
}

/// What a correct password leads to.
pub enum LoginOutcome {
    /// Logged in.
    Session(NewSession),
    /// The account has a second factor: finish with [`Identity::complete_mfa`].
    MfaRequired {
        challenge: Secret<String>,
        expires_at: i64,
    },
    /// A second factor is mandatory but not enrolled: a restricted session that can only enrol.
    EnrollmentRequired(NewSession),
}

struct Challenge {
    tenant: Option<TenantId>,
    user: UserId,
    expires_at: i64,
}

/// Pending MFA challenges (single use, short-lived), keyed by the hash of their secret.
#[derive(Default)]
pub(crate) struct Challenges(Mutex<HashMap<[u8; 32], Challenge>>);

impl Challenges {
    fn insert(&self, hash: [u8; 32], c: Challenge, now: i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, c| c.expires_at > now);
        map.insert(hash, c);
    }

    fn take(&self, hash: &[u8; 32]) -> Option<Challenge> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(hash)
    }
}

impl Identity {
    pub(crate) fn lockout_threshold(&self, tenant: Option<TenantId>) -> Result<u32> {
        Ok(match tenant {
            Some(t) => self.settings_doc(t)?.lockout_threshold,
            None => 20,
        })
    }

    fn tenant_is_active(&self, tenant: Option<TenantId>) -> Result<bool> {
        let Some(t) = tenant else { return Ok(true) };
        let row = self
            .inner
            .engine
            .state()
            .find_tenant(t)
            .map_err(engine::Error::from)?;
        Ok(row.is_some_and(|r| r.status == engine::TenantStatus::Active))
    }

    fn open_password(&self, user: &UserDoc) -> Result<Option<Zeroizing<String>>> {
        let Some(sealed) = &user.password else {
            return Ok(None);
        };
        let plain = self.inner.engine.open_field(
            field(user.tenant, "users", &user.id.to_string(), "password"),
            &sealed.0,
        )?;
        Ok(Some(Zeroizing::new(
            String::from_utf8_lossy(&plain).into_owned(),
        )))
    }

    /// Step one: email and password.
    pub async fn login(
        &self,
        tenant: Option<TenantId>,
        email: &str,
        password: Zeroizing<String>,
    ) -> Result<LoginOutcome> {
        let now = self.now();
        let email = normalize_email(email).map_err(|_| Error::InvalidCredentials)?;
        // A tenant that does not exist (or is suspended) has no key to compute an index with:
        // it is treated exactly like an unknown account (dummy hash, same answer), never as an
        // error that would tell which tenant ids exist.
        let active_tenant = self.tenant_is_active(tenant)?;
        let index = if active_tenant {
            self.email_index(tenant, &email)?
        } else {
            Blob(crypto::sha256(format!("{}\0{email}", realm_name(tenant)).as_bytes()).to_vec())
        };
        let user = if active_tenant {
            self.inner
                .engine
                .find_doc::<UserDoc>(&realm_name(tenant), &index.0)?
                .filter(|u| u.kind == UserKind::Human)
        } else {
            None
        };
        let throttle_key = [realm_name(tenant).as_bytes(), &index.0].concat();
        let threshold = self.lockout_threshold(tenant)?;
        let (failures, last_failure, locked) = match &user {
            Some(u) => (u.failed_logins, u.last_failure_at, u.locked_at.is_some()),
            None => {
                let (n, at) = self.inner.throttle.get(&throttle_key);
                (n, at, n >= threshold)
            }
        };
        if locked {
            return Err(Error::InvalidCredentials);
        }
        check_delay(failures, last_failure, now)?;
        let phc = match &user {
            Some(u) => self.open_password(u)?,
            None => None,
        };
        let verified = self.inner.hasher.verify(password, phc).await?;
        let known = user.as_ref().map(|u| u.id);
        let Some(user) = user.filter(|u| verified && u.status == UserStatus::Active) else {
            return self
                .fail_login(tenant, known, &throttle_key, failures, threshold)
                .await;
        };
        if user.has_mfa() {
            let challenge = crypto::generate_token("src_");
            let expires_at = now + self.inner.config.mfa_challenge_ms;
            let c = Challenge {
                tenant,
                user: user.id,
                expires_at,
            };
            self.inner
                .challenges
                .insert(crypto::token_hash(challenge.expose()), c, now);
            return Ok(LoginOutcome::MfaRequired {
                challenge,
                expires_at,
            });
        }
        let restricted = self.mfa_mandatory(&user)?;
        let session = self.start_session(&user, restricted, None, None).await?;
        Ok(if restricted {
            LoginOutcome::EnrollmentRequired(session)
        } else {
            LoginOutcome::Session(session)
        })
    }

    async fn fail_login<T>(
        &self,
        tenant: Option<TenantId>,
        known: Option<UserId>,
        throttle_key: &[u8],
        failures: u32,
        threshold: u32,
    ) -> Result<T> {
        match known {
            Some(user) => {
                self.count_failure(tenant, user, failures, threshold, Attempt::Password)
                    .await?
            }
            None => {
                self.inner.throttle.fail(throttle_key, self.now());
                // One durable write, like a known account's failure: equal response times.
                self.inner
                    .engine
                    .commit(engine::Scope::System, &Event::LoginFailedUnknownAccount {})
                    .await?;
            }
        }
        Err(Error::InvalidCredentials)
    }

    /// Journals one more consecutive failure of a known account (a login or a
    /// re-authentication), locking it when that reaches the tenant's threshold.
    pub(crate) async fn count_failure(
        &self,
        tenant: Option<TenantId>,
        user: UserId,
        failures: u32,
        threshold: u32,
        during: Attempt,
    ) -> Result<()> {
        let change = UserChange::LoginFailed {
            lock: failures + 1 >= threshold,
            during,
        };
        self.inner
            .engine
            .commit(scope_of(tenant), &Event::UserChanged { user, change })
            .await?;
        Ok(())
    }

    /// Step two: a TOTP code or a recovery code for a pending challenge. A wrong code consumes
    /// the challenge and counts as a failed login.
    pub async fn complete_mfa(
        &self,
        challenge: &str,
        code: Option<&str>,
        recovery_code: Option<&str>,
    ) -> Result<NewSession> {
        let now = self.now();
        let c = self
            .inner
            .challenges
            .take(&crypto::token_hash(challenge))
            .ok_or(Error::ChallengeExpired)?;
        if c.expires_at <= now {
            return Err(Error::ChallengeExpired);
        }
        let user = self
            .user(c.tenant, c.user)
            .map_err(|_| Error::ChallengeExpired)?;
        if user.locked_at.is_some() || user.status != UserStatus::Active {
            return Err(Error::MfaInvalid);
        }
        let threshold = self.lockout_threshold(c.tenant)?;
        let (step, used_code) = match (code, recovery_code) {
            (Some(code), None) => (self.check_totp(&user, code, now)?, None),
            (None, Some(rc)) => (None, self.check_recovery_code(&user, rc)?),
            _ => {
                return Err(crate::error::invalid(
                    "code",
                    "give exactly one of code or recovery_code",
                ));
            }
        };
        if step.is_none() && used_code.is_none() {
            self.count_failure(
                c.tenant,
                user.id,
                user.failed_logins,
                threshold,
                Attempt::SecondFactor,
            )
            .await?;
            return Err(Error::MfaInvalid);
        }
        self.start_session(&user, false, step, used_code).await
    }

    /// Creates a session (and records the successful login) in one journal entry.
    pub(crate) async fn start_session(
        &self,
        user: &UserDoc,
        restricted: bool,
        totp_step: Option<u64>,
        recovery_code: Option<Blob>,
    ) -> Result<NewSession> {
        let now = self.now();
        let secret = crypto::generate_token("srs_");
        let doc = SessionDoc {
            id: SessionId::random(),
            tenant: user.tenant,
            user: user.id,
            hash: Blob(crypto::token_hash(secret.expose()).to_vec()),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.inner.config.session_absolute_ms,
            restricted,
            revoked_at: None,
        };
        let events = [
            Event::UserChanged {
                user: user.id,
                change: UserChange::LoginSucceeded {
                    totp_step,
                    recovery_code,
                },
            },
            Event::SessionCreated { doc: doc.clone() },
        ];
        self.inner
            .engine
            .commit_all(scope_of(user.tenant), &events)
            .await?;
        let csrf = self.csrf_token(secret.expose())?;
        Ok(NewSession {
            session: self.session_view(&doc),
            secret,
            csrf,
        })
    }

    /// The CSRF token bound to a session secret (recomputable, never stored).
    pub fn csrf_token(&self, session_secret: &str) -> Result<String> {
        let mac = self.inner.engine.blind_index(
            engine::Scope::System,
            "strongroom/csrf/v1",
            session_secret.as_bytes(),
        )?;
        Ok(crypto::hex(mac))
    }
}

/// Refuses an attempt made inside the progressive delay after `failures` consecutive failures.
pub(crate) fn check_delay(failures: u32, last_failure: Option<i64>, now: i64) -> Result<()> {
    match next_allowed(failures, last_failure) {
        Some(allowed) if now < allowed => Err(Error::Throttled {
            retry_after_secs: ((allowed - now) as u64).div_ceil(1000),
        }),
        _ => Ok(()),
    }
}
