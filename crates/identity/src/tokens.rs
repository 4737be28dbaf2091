//! API tokens of users and service accounts: scoped (collection × action, never beyond the
//! owner's role), expiring (at most `max_token_days`), shown once, stored as a hash, revocable.

use access::{Action, Resource, TokenScope, Via};
use crypto::Secret;
use engine::TokenPrincipal;
use engine::event::{Blob, Event};
use engine::model::{TokenDoc, UserDoc, UserKind};
use types::{TenantId, TokenId, UserId};

use crate::error::invalid;
use crate::views::field;
use crate::{Caller, Error, Identity, Result, TokenView, scope_of};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A token just created; the secret is shown once.
pub struct NewToken {
    pub token: TokenView,
    pub secret: Secret<String>,
}

/// A collection name in a token scope or role (`*` for every collection).
pub(crate) fn valid_collection(name: &str) -> bool {
    name == "*"
        || (!name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

impl Identity {
    /// Creates a token for `owner` (the caller itself, or a service account of the caller's
    /// tenant when `for_service` is set; the edge has authorised `ManageTokens` for that).
    pub async fn create_token(
        &self,
        caller: &Caller,
        for_service: Option<UserId>,
        scopes: Vec<TokenScope>,
        expires_in_days: u32,
        label: Option<&str>,
    ) -> Result<NewToken> {
        let tenant = caller.tenant.ok_or(Error::Forbidden(
            "system administrators use sessions, not tokens",
        ))?;
        let owner: UserDoc = match for_service {
            None => caller.account()?.clone(),
            Some(id) => {
                let u = self.user(Some(tenant), id)?;
                if u.kind != UserKind::Service {
                    return Err(invalid(
                        "user",
                        "tokens for others can only be made for service accounts",
                    ));
                }
                u
            }
        };
        if expires_in_days == 0 || i64::from(expires_in_days) > self.inner.config.max_token_days {
            return Err(invalid(
                "expires_in_days",
                format!("must be 1 to {}", self.inner.config.max_token_days),
            ));
        }
        if scopes.is_empty() || scopes.len() > 100 {
            return Err(invalid("scopes", "give 1 to 100 scopes"));
        }
        let owner_principal = self.principal_for(&owner, Via::Session { restricted: false })?;
        for scope in &scopes {
            if !valid_collection(&scope.collection) || scope.actions.is_empty() {
                return Err(invalid(
                    "scopes",
                    "each scope needs a collection name (letters, digits, _ or -, or *) and actions",
                ));
            }
            for action in &scope.actions {
                let resource = Resource::Collection {
                    tenant,
                    name: &scope.collection,
                };
                if access::authorize(&owner_principal, Action::Record(*action), &resource).is_err()
                {
                    return Err(invalid(
                        "scopes",
                        format!(
                            "the owner's role does not allow {action:?} on {}",
                            scope.collection
                        ),
                    ));
                }
            }
        }
        if let Some(l) = label
            && (l.chars().count() > 100 || l.chars().any(char::is_control))
        {
            return Err(invalid(
                "label",
                "at most 100 characters without control characters",
            ));
        }
        let secret = crypto::generate_token("srt_");
        let id = TokenId::random();
        let row = id.to_string();
        let now = self.now();
        let scopes_json =
            serde_json::to_string(&scopes).map_err(|e| Error::Credentials(e.to_string()))?;
        let doc = TokenDoc {
            id,
            tenant: Some(tenant),
            principal: TokenPrincipal::User,
            owner: Some(owner.id),
            hash: Blob(crypto::token_hash(secret.expose()).to_vec()),
            scopes: Some(
                self.seal_text(field(Some(tenant), "tokens", &row, "scopes"), &scopes_json)?,
            ),
            label: match label {
                Some(l) => Some(self.seal_text(field(Some(tenant), "tokens", &row, "label"), l)?),
                None => None,
            },
            created_at: now,
            expires_at: Some(now + i64::from(expires_in_days) * DAY_MS),
            last_used_at: None,
            revoked_at: None,
        };
        self.inner
            .engine
            .commit(
                scope_of(Some(tenant)),
                &Event::TokenIssued { doc: doc.clone() },
            )
            .await?;
        Ok(NewToken {
            token: self.token_view(&doc)?,
            secret,
        })
    }

    /// Tokens of one user.
    pub fn list_tokens_of(
        &self,
        tenant: Option<TenantId>,
        owner: UserId,
    ) -> Result<Vec<TokenView>> {
        let docs = self.inner.engine.children::<TokenDoc>(&owner.to_string())?;
        docs.iter()
            .filter(|t| t.tenant == tenant)
            .map(|t| self.token_view(t))
            .collect()
    }

    /// Revokes a token; `admin` may revoke any token of the tenant, others only their own.
    pub async fn revoke_token(&self, caller: &Caller, id: TokenId, admin: bool) -> Result<()> {
        let token = self
            .inner
            .engine
            .get_doc::<TokenDoc>(&id.to_string())?
            .filter(|t| t.tenant == caller.tenant && t.tenant.is_some())
            .filter(|t| admin || t.owner == caller.user_id())
            .ok_or(Error::NotFound("token"))?;
        self.inner
            .engine
            .commit(
                scope_of(token.tenant),
                &Event::TokenRevoked { token: token.id },
            )
            .await?;
        Ok(())
    }
}
