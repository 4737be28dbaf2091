//! The second factor: TOTP enrolment (after re-authentication), confirmation with a code (which
//! issues ten recovery codes), removal and regeneration; and checking codes at login.

use credentials::TotpSecret;
use crypto::{Secret, Zeroizing};
use engine::event::{Blob, Event, UserChange};
use engine::model::{SessionDoc, UserDoc};

use crate::views::field;
use crate::{Caller, Credential, Error, Identity, Result, scope_of};

/// What the user needs to add the account to an authenticator app. Shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Enrollment {
    /// Base32 secret for manual entry.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

const RECOVERY_DOMAIN_TABLE: &str = "users";

impl Identity {
    fn totp_secret(&self, user: &UserDoc) -> Result<Option<TotpSecret>> {
        let Some(sealed) = &user.totp else {
            return Ok(None);
        };
        let plain = self.inner.engine.open_field(
            field(user.tenant, "users", &user.id.to_string(), "totp"),
            &sealed.0,
        )?;
        Ok(Some(TotpSecret::from_bytes(plain.to_vec())?))
    }

    /// The step a valid, unused code belongs to; None for a wrong or replayed code.
    pub(crate) fn check_totp(
        &self,
        user: &UserDoc,
        code: &str,
        now_ms: i64,
    ) -> Result<Option<u64>> {
        let Some(secret) = self.totp_secret(user)?.filter(|_| user.totp_confirmed) else {
            return Ok(None);
        };
        Ok(credentials::totp::verify(
            &secret,
            code,
            (now_ms / 1000) as u64,
            user.totp_last_step,
        ))
    }

    fn recovery_key(&self, user: &UserDoc) -> Result<crypto::Key256> {
        // Recovery codes are hashed under a key derived from the realm's index key.
        let seed = self.inner.engine.blind_index(
            scope_of(user.tenant),
            "strongroom/recovery-key/v1",
            RECOVERY_DOMAIN_TABLE.as_bytes(),
        )?;
        Ok(crypto::Key256::from_bytes(seed))
    }

    /// The hash of an unused recovery code that matches, if any.
    pub(crate) fn check_recovery_code(&self, user: &UserDoc, code: &str) -> Result<Option<Blob>> {
        let hash = credentials::recovery_code_hash(&self.recovery_key(user)?, code);
        Ok(user
            .recovery
            .iter()
            .find(|rc| rc.used_at.is_none() && crypto::ct_eq(&rc.hash.0, &hash))
            .map(|rc| rc.hash.clone()))
    }

    /// Re-authenticates and starts a TOTP enrolment (replacing an unconfirmed one).
    pub async fn begin_totp(
        &self,
        caller: &Caller,
        password: Zeroizing<String>,
    ) -> Result<Enrollment> {
        let user = caller.account()?.clone();
        if user.has_mfa() {
            return Err(Error::Conflict(
                "a second factor is already enrolled; remove it first".into(),
            ));
        }
        self.reauthenticate(&user, password).await?;
        let secret = TotpSecret::generate();
        let row = user.id.to_string();
        let sealed = Blob(
            self.inner
                .engine
                .seal_field(field(user.tenant, "users", &row, "totp"), secret.expose())?,
        );
        let email = self.open_text(field(user.tenant, "users", &row, "email"), &user.email.0)?;
        let uri = credentials::totp::otpauth_uri(&secret, &self.inner.config.issuer, &email);
        let qr_svg = credentials::totp::qr_svg(&uri)?;
        self.inner
            .engine
            .commit(
                scope_of(user.tenant),
                &Event::UserChanged {
                    user: user.id,
                    change: UserChange::TotpPending { secret: sealed },
                },
            )
            .await?;
        Ok(Enrollment {
            secret: secret.base32().to_string(),
            otpauth_uri: uri,
            qr_svg,
        })
    }

    fn new_recovery_codes(&self, user: &UserDoc) -> Result<(Vec<Secret<String>>, Vec<Blob>)> {
        let key = self.recovery_key(user)?;
        let codes = credentials::generate_recovery_codes();
        let hashes = codes
            .iter()
            .map(|c| Blob(credentials::recovery_code_hash(&key, c.expose()).to_vec()))
            .collect();
        Ok((codes, hashes))
    }

    /// Confirms the pending TOTP secret with a code; returns the recovery codes (shown once).
    /// A restricted session becomes a full one.
    pub async fn confirm_totp(&self, caller: &Caller, code: &str) -> Result<Vec<Secret<String>>> {
        let user = self.user(caller.tenant, caller.account()?.id)?;
        let Some(secret) = self.totp_secret(&user)?.filter(|_| !user.totp_confirmed) else {
            return Err(Error::Conflict(
                "no pending enrolment; start one first".into(),
            ));
        };
        let step = credentials::totp::verify(&secret, code, (self.now() / 1000) as u64, None)
            .ok_or(Error::MfaInvalid)?;
        let (codes, hashes) = self.new_recovery_codes(&user)?;
        let mut events = vec![
            Event::UserChanged {
                user: user.id,
                change: UserChange::TotpConfirmed { step },
            },
            Event::UserChanged {
                user: user.id,
                change: UserChange::RecoveryCodes { hashes },
            },
        ];
        if let Credential::Session {
            id,
            restricted: true,
        } = caller.credential
            && let Some(mut session) = self.inner.engine.get_doc::<SessionDoc>(&id.to_string())?
        {
            session.restricted = false;
            events.push(Event::SessionCreated { doc: session });
        }
        self.inner
            .engine
            .commit_all(scope_of(user.tenant), &events)
            .await?;
        Ok(codes)
    }

    async fn reauthenticate_with_code(
        &self,
        user: &UserDoc,
        password: Zeroizing<String>,
        code: &str,
    ) -> Result<u64> {
        self.reauthenticate(user, password).await?;
        match self.check_totp(user, code, self.now())? {
            Some(step) => Ok(step),
            None => self.reauth_failed(user).await,
        }
    }

    /// Re-authenticates the caller before an irreversible act (a tenant's deletion): a session
    /// only, the account's password, and a current TOTP code when the account has a second
    /// factor (the code's step is recorded, so it can not be replayed). A failure counts toward
    /// the account's lockout like a failed sign-in.
    pub async fn reconfirm(
        &self,
        caller: &Caller,
        password: Zeroizing<String>,
        code: Option<&str>,
    ) -> Result<()> {
        if !matches!(caller.credential, Credential::Session { .. }) {
            return Err(Error::Forbidden(
                "re-authentication needs a signed-in session, not a token",
            ));
        }
        let user = self.user(caller.tenant, caller.account()?.id)?;
        if !user.has_mfa() {
            return self.reauthenticate(&user, password).await;
        }
        let step = self
            .reauthenticate_with_code(&user, password, code.unwrap_or_default())
            .await?;
        self.inner
            .engine
            .commit(
                scope_of(user.tenant),
                &Event::UserChanged {
                    user: user.id,
                    change: UserChange::LoginSucceeded {
                        totp_step: Some(step),
                        recovery_code: None,
                    },
                },
            )
            .await?;
        Ok(())
    }

    /// Removes the second factor (refused when it is mandatory for the account).
    pub async fn remove_totp(
        &self,
        caller: &Caller,
        password: Zeroizing<String>,
        code: &str,
    ) -> Result<()> {
        let user = self.user(caller.tenant, caller.account()?.id)?;
        if self.mfa_mandatory(&user)? {
            return Err(Error::Forbidden(
                "a second factor is mandatory for this account",
            ));
        }
        let step = self.reauthenticate_with_code(&user, password, code).await?;
        let events = [
            Event::UserChanged {
                user: user.id,
                change: UserChange::LoginSucceeded {
                    totp_step: Some(step),
                    recovery_code: None,
                },
            },
            Event::UserChanged {
                user: user.id,
                change: UserChange::TotpRemoved,
            },
        ];
        self.inner
            .engine
            .commit_all(scope_of(user.tenant), &events)
            .await?;
        Ok(())
    }

    /// Replaces the recovery codes (the old ones stop working).
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Caller,
        password: Zeroizing<String>,
        code: &str,
    ) -> Result<Vec<Secret<String>>> {
        let user = self.user(caller.tenant, caller.account()?.id)?;
        let step = self.reauthenticate_with_code(&user, password, code).await?;
        let (codes, hashes) = self.new_recovery_codes(&user)?;
        let events = [
            Event::UserChanged {
                user: user.id,
                change: UserChange::LoginSucceeded {
                    totp_step: Some(step),
                    recovery_code: None,
                },
            },
            Event::UserChanged {
                user: user.id,
                change: UserChange::RecoveryCodes { hashes },
            },
        ];
        self.inner
            .engine
            .commit_all(scope_of(user.tenant), &events)
            .await?;
        Ok(codes)
    }
}
