//! Sessions and API tokens at request time: authenticate a secret, enforce idle and absolute
//! expiry, and record activity (in memory at once, in the journal at most once per interval).

use std::collections::HashMap;
use std::sync::Mutex;

use access::Via;
use engine::event::Event;
use engine::model::{SessionDoc, TokenDoc, UserDoc, UserStatus};
use types::{SessionId, TokenId};

use crate::callers::Credential as Cached;
use crate::{Caller, Credential, Error, Identity, Result, SessionView, scope_of};

/// In-memory activity: last seen per session, last journaled touch per session and token.
#[derive(Default)]
pub(crate) struct Activity {
    sessions: Mutex<HashMap<SessionId, (i64, i64)>>,
    tokens: Mutex<HashMap<TokenId, i64>>,
}

impl Activity {
    pub(crate) fn last_seen(&self, s: &SessionDoc) -> i64 {
        let map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&s.id)
            .map_or(s.last_seen_at, |(seen, _)| (*seen).max(s.last_seen_at))
    }

    /// Records activity; true when it is time to journal it.
    fn touch_session(&self, s: &SessionDoc, now: i64, interval: i64) -> bool {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(s.id).or_insert((s.last_seen_at, s.last_seen_at));
        entry.0 = entry.0.max(now);
        if now - entry.1 >= interval {
            entry.1 = now;
            true
        } else {
            false
        }
    }

    fn touch_token(&self, t: &TokenDoc, now: i64, interval: i64) -> bool {
        let mut map = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let last = map
            .entry(t.id)
            .or_insert(t.last_used_at.unwrap_or(i64::MIN / 2));
        if now - *last >= interval {
            *last = now;
            true
        } else {
            false
        }
    }
}

impl Identity {
    fn live_user(&self, user: &UserDoc) -> Result<()> {
        if user.status != UserStatus::Active {
            return Err(Error::Unauthenticated);
        }
        if let Some(t) = user.tenant {
            let row = self
                .inner
                .engine
                .state()
                .find_tenant(t)
                .map_err(engine::Error::from)?;
            if !row.is_some_and(|r| r.status == engine::TenantStatus::Active) {
                return Err(Error::Unauthenticated);
            }
        }
        Ok(())
    }

    /// The caller behind a session secret, or `Unauthenticated`.
    pub async fn authenticate_session(&self, secret: &str) -> Result<Caller> {
        let now = self.now();
        let hash = crypto::token_hash(secret);
        let (session, caller) = self.session_caller(&hash)?;
        let idle_since = self.inner.activity.last_seen(&session);
        if session.revoked_at.is_some()
            || now >= session.expires_at
            || now - idle_since >= self.inner.config.session_idle_ms
        {
            return Err(Error::Unauthenticated);
        }
        if self
            .inner
            .activity
            .touch_session(&session, now, self.inner.config.touch_interval_ms)
        {
            self.inner
                .engine
                .commit(
                    scope_of(session.tenant),
                    &Event::SessionTouched {
                        session: session.id,
                    },
                )
                .await?;
        }
        Ok(caller)
    }

    /// The session behind a secret's hash and the caller it makes, from the cache or the state
    /// (then cached). Checks the account and tenant; the caller checks times and revocation.
    fn session_caller(&self, hash: &[u8; 32]) -> Result<(SessionDoc, Caller)> {
        let epoch = self.inner.engine.epoch();
        if let Some((Cached::Session(session), caller)) = self.inner.callers.get(hash, epoch) {
            return Ok((session, caller));
        }
        let session = self
            .inner
            .engine
            .find_doc::<SessionDoc>("sessions", hash)?
            .ok_or(Error::Unauthenticated)?;
        if session.revoked_at.is_some() {
            return Err(Error::Unauthenticated);
        }
        let user = self
            .user(session.tenant, session.user)
            .map_err(|_| Error::Unauthenticated)?;
        self.live_user(&user)?;
        let principal = self.principal_for(
            &user,
            Via::Session {
                restricted: session.restricted,
            },
        )?;
        let caller = Caller {
            principal,
            credential: Credential::Session {
                id: session.id,
                restricted: session.restricted,
            },
            tenant: session.tenant,
            user: Some(user),
        };
        self.inner.callers.put(
            *hash,
            epoch,
            Cached::Session(session.clone()),
            caller.clone(),
        );
        Ok((session, caller))
    }

    /// The caller behind an API token secret, or `Unauthenticated`.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Caller> {
        let now = self.now();
        let hash = crypto::token_hash(secret);
        let (token, caller) = self.token_caller(&hash)?;
        if token.revoked_at.is_some() || token.expires_at.is_some_and(|e| now >= e) {
            return Err(Error::Unauthenticated);
        }
        if self
            .inner
            .activity
            .touch_token(&token, now, self.inner.config.touch_interval_ms)
        {
            self.inner
                .engine
                .commit(
                    scope_of(token.tenant),
                    &Event::TokenUsed { token: token.id },
                )
                .await?;
        }
        Ok(caller)
    }

    /// The token behind a secret's hash and the caller it makes, from the cache or the state
    /// (then cached). Checks the owner's account and tenant; the caller checks expiry.
    fn token_caller(&self, hash: &[u8; 32]) -> Result<(TokenDoc, Caller)> {
        let epoch = self.inner.engine.epoch();
        if let Some((Cached::Token(token), caller)) = self.inner.callers.get(hash, epoch) {
            return Ok((token, caller));
        }
        let token = self
            .inner
            .engine
            .find_doc::<TokenDoc>("tokens", hash)?
            .ok_or(Error::Unauthenticated)?;
        if token.revoked_at.is_some() {
            return Err(Error::Unauthenticated);
        }
        let caller = match (token.principal, token.owner) {
            (engine::TokenPrincipal::SystemAdmin, _) => Caller {
                principal: access::Principal::SystemAdmin {
                    user: None,
                    via: Via::BootstrapToken,
                },
                credential: Credential::Bootstrap { id: token.id },
                tenant: None,
                user: None,
            },
            (engine::TokenPrincipal::User, Some(owner)) => {
                let user = self
                    .user(token.tenant, owner)
                    .map_err(|_| Error::Unauthenticated)?;
                self.live_user(&user)?;
                let principal = self.principal_for(
                    &user,
                    Via::Token {
                        scopes: self.token_scopes(&token)?,
                    },
                )?;
                Caller {
                    principal,
                    credential: Credential::Token { id: token.id },
                    tenant: token.tenant,
                    user: Some(user),
                }
            }
            (engine::TokenPrincipal::User, None) => return Err(Error::Unauthenticated),
        };
        self.inner
            .callers
            .put(*hash, epoch, Cached::Token(token.clone()), caller.clone());
        Ok((token, caller))
    }

    /// Ends the caller's session.
    pub async fn logout(&self, caller: &Caller) -> Result<()> {
        let Credential::Session { id, .. } = caller.credential else {
            return Err(Error::Forbidden(
                "only a session can log out; revoke tokens instead",
            ));
        };
        self.inner
            .engine
            .commit(
                scope_of(caller.tenant),
                &Event::SessionRevoked { session: id },
            )
            .await?;
        Ok(())
    }

    /// The caller's live sessions.
    pub fn list_sessions(&self, caller: &Caller) -> Result<Vec<SessionView>> {
        let user = caller.account()?;
        let now = self.now();
        let docs = self
            .inner
            .engine
            .children::<SessionDoc>(&user.id.to_string())?;
        Ok(docs
            .iter()
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
            .filter(|s| now - self.inner.activity.last_seen(s) < self.inner.config.session_idle_ms)
            .map(|s| self.session_view(s))
            .collect())
    }

    /// How many sessions are live in every realm: not revoked, not expired, and seen within the
    /// idle timeout as journaled (activity is journaled at most once a minute, so a session
    /// near its idle limit may leave the count up to a minute early). For the metrics.
    pub fn count_active_sessions(&self) -> Result<u64> {
        let seen_after = self.now() - self.inner.config.session_idle_ms;
        Ok(self.inner.engine.count_live_sessions(seen_after)?)
    }

    /// Revokes one of the caller's own sessions.
    pub async fn revoke_session(&self, caller: &Caller, id: SessionId) -> Result<()> {
        let user = caller.account()?;
        match self.inner.engine.get_doc::<SessionDoc>(&id.to_string())? {
            Some(s) if s.user == user.id => {
                self.inner
                    .engine
                    .commit(
                        scope_of(caller.tenant),
                        &Event::SessionRevoked { session: id },
                    )
                    .await?;
                Ok(())
            }
            _ => Err(Error::NotFound("session")),
        }
    }
}
