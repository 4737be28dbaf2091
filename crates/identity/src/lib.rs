//! The identity service (P2–P5): accounts, invitations, passwords, the second factor, login with
//! throttling and lockout, sessions, API tokens, roles, tenant settings and the access review.
//!
//! Knows neither HTTP nor SQL: the edge hands it requests, the engine keeps its state. It never
//! logs or stores a password, a TOTP secret or a token secret; they exist only in memory for the
//! duration of a call. Callers authorise (`access::authorize`) before calling an administrative
//! function; the functions that take a [`Caller`] check ownership themselves.

mod callers;
mod error;
mod hasher;
mod login;
mod mfa;
mod passwords;
mod principal;
mod review;
mod roles;
mod sessions;
mod throttle;
mod tokens;
mod users;
mod views;

use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, Scope};
use types::TenantId;

pub use error::{Error, Result};
pub use hasher::Hasher;
pub use login::{LoginOutcome, NewSession};
pub use mfa::Enrollment;
pub use principal::{Caller, Credential};
pub use review::{AccessReview, ReviewSession, ReviewToken, ReviewUser};
pub use tokens::NewToken;
pub use views::{InvitationView, RoleView, SessionView, SettingsView, TokenView, UserView};

/// Tunables; defaults follow `docs/design/identity.md`.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub hash_params: credentials::HashParams,
    /// Argon2 computations in flight at once (each uses `m_kib` of memory).
    pub hash_concurrency: usize,
    /// Longest a request waits for a hashing slot before it is refused as busy.
    pub hash_wait: Duration,
    pub session_idle_ms: i64,
    pub session_absolute_ms: i64,
    pub mfa_challenge_ms: i64,
    pub invitation_ms: i64,
    /// Lifetime of a password-reset secret.
    pub reset_ms: i64,
    /// Activity is journaled at most this often per session or token.
    pub touch_interval_ms: i64,
    /// Days without use after which the access review flags an account or token as stale.
    pub stale_days: i64,
    /// Longest API token lifetime.
    pub max_token_days: i64,
    /// Issuer shown in authenticator apps.
    pub issuer: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            hash_params: credentials::HashParams::OWASP,
            hash_concurrency: cores * 2,
            hash_wait: Duration::from_secs(10),
            session_idle_ms: 30 * 60 * 1000,
            session_absolute_ms: 12 * 60 * 60 * 1000,
            mfa_challenge_ms: 5 * 60 * 1000,
            invitation_ms: 7 * 24 * 60 * 60 * 1000,
            reset_ms: 24 * 60 * 60 * 1000,
            touch_interval_ms: 60 * 1000,
            stale_days: 90,
            max_token_days: 365,
            issuer: "Strongroom".to_owned(),
        }
    }
}

/// The identity service; cheap to clone.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: IdentityConfig,
    hasher: Hasher,
    throttle: throttle::Throttle,
    challenges: login::Challenges,
    activity: sessions::Activity,
    callers: callers::Callers,
}

impl Identity {
    pub fn new(engine: Engine, config: IdentityConfig) -> Identity {
        let hasher = Hasher::new(
            config.hash_params,
            config.hash_concurrency,
            config.hash_wait,
        );
        Identity {
            inner: Arc::new(Inner {
                engine,
                hasher,
                config,
                throttle: throttle::Throttle::default(),
                challenges: login::Challenges::default(),
                activity: sessions::Activity::default(),
                callers: callers::Callers::default(),
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.inner.config
    }

    pub fn hasher(&self) -> &Hasher {
        &self.inner.hasher
    }

    fn now(&self) -> i64 {
        self.inner.engine.now().millis()
    }
}

/// The sealing scope of a realm.
pub(crate) fn scope_of(tenant: Option<TenantId>) -> Scope {
    tenant.map_or(Scope::System, Scope::Tenant)
}

/// The blind-index domain for email lookups.
pub(crate) const EMAIL_INDEX: &str = "strongroom/index/v1|users|email";
