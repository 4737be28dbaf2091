//! The access review: every user, token and live session of a tenant with last activity, the
//! stale ones flagged.

use engine::model::{SessionDoc, TokenDoc};
use types::TenantId;

use crate::{Identity, Result, TokenView, UserView};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewUser {
    #[serde(flatten)]
    pub user: UserView,
    pub stale: bool,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewToken {
    #[serde(flatten)]
    pub token: TokenView,
    pub expired: bool,
    pub stale: bool,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewSession {
    pub id: types::SessionId,
    pub user: types::UserId,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AccessReview {
    pub tenant: TenantId,
    pub generated_at: i64,
    pub stale_after_days: i64,
    pub roles: Vec<crate::RoleView>,
    pub users: Vec<ReviewUser>,
    pub tokens: Vec<ReviewToken>,
    pub sessions: Vec<ReviewSession>,
}

impl Identity {
    pub fn access_review(&self, tenant: TenantId) -> Result<AccessReview> {
        let now = self.now();
        let stale_ms = self.inner.config.stale_days * DAY_MS;
        let (mut users, mut tokens, mut sessions) = (Vec::new(), Vec::new(), Vec::new());
        for u in &self.users_of(tenant)? {
            let owner = u.id.to_string();
            let mut last_activity = u.last_login_at.unwrap_or(u.created_at);
            for t in self.inner.engine.children::<TokenDoc>(&owner)? {
                let last = t.last_used_at.unwrap_or(t.created_at);
                last_activity = last_activity.max(last);
                tokens.push(ReviewToken {
                    expired: t.expires_at.is_some_and(|e| e <= now),
                    stale: t.revoked_at.is_none() && now - last >= stale_ms,
                    token: self.token_view(&t)?,
                });
            }
            for s in self.inner.engine.children::<SessionDoc>(&owner)? {
                let seen = self.inner.activity.last_seen(&s);
                if s.revoked_at.is_none()
                    && s.expires_at > now
                    && now - seen < self.inner.config.session_idle_ms
                {
                    sessions.push(ReviewSession {
                        id: s.id,
                        user: s.user,
                        created_at: s.created_at,
                        last_seen_at: seen,
                        expires_at: s.expires_at,
                    });
                }
            }
            users.push(ReviewUser {
                stale: now - last_activity >= stale_ms,
                user: self.user_view(u)?,
            });
        }
        Ok(AccessReview {
            tenant,
            generated_at: now,
            stale_after_days: self.inner.config.stale_days,
            roles: self.list_roles(tenant)?,
            users,
            tokens,
            sessions,
        })
    }
}
