//! Which audit events a committed change stands for: an exhaustive match over every journal
//! event, so that a new kind of change can not be added without saying what it records.

use audit::{Actor, ActorKind, Outcome};
use types::TenantId;

use super::Draft;
use crate::Scope;
use crate::event::{Attempt, Event, Status, TokenPrincipal, UserChange};
use crate::model::UserStatus;

fn user_actor(tenant: Option<TenantId>, id: impl ToString) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some(id.to_string()),
        tenant: tenant.map(|t| t.to_string()),
    }
}

pub(super) fn tenant_of(scope: Scope) -> Option<TenantId> {
    match scope {
        Scope::System => None,
        Scope::Tenant(t) => Some(t),
    }
}

/// The audit events a committed change stands for (none for record data and activity, which
/// the journal itself keeps and metrics count).
pub(crate) fn describe(scope: Scope, event: &Event) -> Vec<Draft> {
    use Outcome::{Failure, Success};
    let tenant = tenant_of(scope);
    let one = |d: Draft| vec![d];
    match event {
        Event::TenantCreated { tenant, .. } => {
            one(Draft::new("tenant.created", Success).on("tenant", tenant))
        }
        Event::TenantStatusChanged { tenant, status } => {
            let action = match status {
                Status::Active => "tenant.resumed",
                Status::Suspended => "tenant.suspended",
            };
            one(Draft::new(action, Success).on("tenant", tenant))
        }
        Event::TokenIssued { doc } => {
            let mut d = Draft::new("token.created", Success)
                .on("token", doc.id)
                .with(
                    "principal",
                    match doc.principal {
                        TokenPrincipal::SystemAdmin => "system_admin",
                        TokenPrincipal::User => "user",
                    },
                );
            if let Some(owner) = doc.owner {
                d = d.with("owner", owner.to_string());
            }
            if let Some(expires) = doc.expires_at {
                d = d.with("expires_at", expires);
            }
            one(d)
        }
        Event::TokenUsed { token } => {
            one(Draft::new("token.used", Success)
                .on("token", token)
                .by(Actor {
                    kind: ActorKind::Token,
                    id: Some(token.to_string()),
                    tenant: tenant.map(|t| t.to_string()),
                }))
        }
        Event::TokenRevoked { token } => {
            one(Draft::new("token.revoked", Success).on("token", token))
        }
        Event::KeyRotated { scope, version } => one(Draft::new("key.rotated", Success)
            .on("key", scope)
            .with("version", *version)),
        Event::UserCreated { doc } => one(Draft::new("user.created", Success)
            .on("user", doc.id)
            .with("role", doc.role.clone())
            .with("kind", format!("{:?}", doc.kind).to_lowercase())),
        Event::UserChanged { user, change } => describe_user_change(tenant, *user, change),
        Event::UserDeleted { user } => one(Draft::new("user.deleted", Success).on("user", user)),
        Event::SessionCreated { doc } => one(Draft::new("session.started", Success)
            .on("session", doc.id)
            .with("user", doc.user.to_string())
            .with("restricted", doc.restricted)
            .by(user_actor(doc.tenant, doc.user))),
        Event::SessionRevoked { session } => one(Draft::new("session.ended", Success)
            .on("session", session)
            .because("revoked")),
        Event::UserSessionsRevoked { user, except } => {
            let mut d = Draft::new("session.ended", Success)
                .on("user", user)
                .because("all_sessions_revoked");
            if let Some(kept) = except {
                d = d.with("kept", kept.to_string());
            }
            one(d)
        }
        Event::InvitationCreated { doc } => one(match doc.reset_user {
            Some(user) => Draft::new("password.reset_issued", Success)
                .on("user", user)
                .with("expires_at", doc.expires_at),
            None => Draft::new("user.invited", Success)
                .on("invitation", doc.id)
                .with("role", doc.role.clone())
                .with("expires_at", doc.expires_at),
        }),
        Event::InvitationAccepted { invitation } => {
            one(Draft::new("invitation.accepted", Success).on("invitation", invitation))
        }
        Event::RoleSaved { doc } => {
            let action = if doc.created_at == doc.updated_at {
                "role.created"
            } else {
                "role.changed"
            };
            one(Draft::new(action, Success).on("role", doc.id))
        }
        Event::RoleDeleted { role } => one(Draft::new("role.deleted", Success).on("role", role)),
        Event::SettingsChanged { doc } => one(Draft::new("settings.changed", Success)
            .on("settings", doc.tenant)
            .with("mfa_required", doc.mfa_required)
            .with("lockout_threshold", doc.lockout_threshold)
            .with("min_password_len", doc.min_password_len)
            .with("attachment_max_bytes", doc.attachment_max_bytes)),
        Event::CollectionSaved { doc } => {
            let action = if doc.version <= 1 {
                "collection.created"
            } else {
                "collection.changed"
            };
            one(Draft::new(action, Success)
                .on("collection", doc.id)
                .with("version", doc.version))
        }
        Event::CollectionDeleted { collection } => {
            one(Draft::new("collection.deleted", Success).on("collection", collection))
        }
        Event::TenantDeletionRequested { doc } => {
            one(Draft::new("tenant.deletion_requested", Success)
                .on("tenant", doc.tenant)
                .with("execute_after", doc.execute_after)
                .with("deadline", doc.deadline))
        }
        Event::TenantDeletionCancelled { tenant } => {
            one(Draft::new("tenant.deletion_cancelled", Success).on("tenant", tenant))
        }
        // Part of a deletion the trail records as `tenant.keys_destroyed` and `tenant.deleted`.
        Event::TenantRecordsPurged { .. } => Vec::new(),
        Event::TenantDeleted {
            tenant,
            keys_destroyed_at,
        } => one(Draft::new("tenant.keys_destroyed", Success)
            .on("tenant", tenant)
            .with("keys_destroyed_at", *keys_destroyed_at)),
        Event::TenantDeletionReceipt { tenant, .. } => {
            one(Draft::new("tenant.deleted", Success).on("tenant", tenant))
        }
        Event::SubjectErased { records, .. } => one(Draft::new("subject.erased", Success)
            .on("tenant", tenant.map(|t| t.to_string()).unwrap_or_default())
            .with("records", *records)),
        Event::TenantDataRestored {
            tenant,
            cut,
            at,
            data,
        } => {
            let counts = data.counts();
            one(Draft::new("tenant.restored", Success)
                .on("tenant", tenant)
                .with("cut", *cut)
                .with("moment", *at)
                .with("collections", counts.collections)
                .with("records", counts.records)
                .with("attachments", counts.attachments)
                .with("idempotency", counts.idempotency)
                .with("index_entries", counts.index_entries))
        }
        Event::LoginFailedUnknownAccount {} => one(Draft::new("login.failed", Failure)
            .because("invalid_credentials")
            .by(Actor {
                kind: ActorKind::Anonymous,
                id: None,
                tenant: None,
            })),
        Event::ExportRequested { doc } => one(Draft::new("export.requested", Success)
            .on("export", doc.id)
            .with("deadline", doc.deadline)),
        Event::ExportProgressed {
            export,
            done,
            total,
        } => one(Draft::new("export.progress", Success)
            .on("export", export)
            .with("done", *done)
            .with("total", *total)),
        Event::ExportCompleted {
            export,
            size,
            digest,
        } => one(Draft::new("export.completed", Success)
            .on("export", export)
            .with("size", *size)
            .with("sha256", digest.clone())),
        Event::ExportFailed { export, reason } => one(Draft::new("export.failed", Failure)
            .on("export", export)
            .because(reason)),
        Event::ExportDownloaded { export } => {
            one(Draft::new("export.downloaded", Success).on("export", export))
        }
        Event::ExportExpired { export } => {
            one(Draft::new("export.expired", Success).on("export", export))
        }
        Event::RecordCreated { .. }
        | Event::RecordUpdated { .. }
        | Event::RecordDeleted { .. }
        | Event::IdempotencySaved { .. }
        | Event::AttachmentAdded { .. }
        | Event::AttachmentDeleted { .. }
        | Event::SessionTouched { .. } => Vec::new(),
    }
}

fn describe_user_change(
    tenant: Option<TenantId>,
    user: types::UserId,
    change: &UserChange,
) -> Vec<Draft> {
    use Outcome::{Failure, Success};
    let on_user = |action: &str, outcome| Draft::new(action, outcome).on("user", user);
    match change {
        UserChange::Role { role } => {
            vec![on_user("role.assigned", Success).with("role", role.clone())]
        }
        UserChange::Status { status } => vec![on_user(
            match status {
                UserStatus::Active => "user.enabled",
                UserStatus::Disabled => "user.disabled",
            },
            Success,
        )],
        UserChange::Password { .. } => vec![on_user("password.changed", Success)],
        UserChange::TotpPending { .. } => vec![on_user("mfa.enrollment_started", Success)],
        UserChange::TotpConfirmed { .. } => vec![on_user("mfa.enrolled", Success)],
        UserChange::TotpRemoved => vec![on_user("mfa.removed", Success)],
        UserChange::RecoveryCodes { .. } => vec![on_user("recovery_codes.regenerated", Success)],
        UserChange::LoginFailed { lock, during } => {
            let action = match during {
                Attempt::Password => "login.failed",
                Attempt::SecondFactor => "mfa.failed",
                Attempt::Reauthentication => "reauth.failed",
            };
            let mut out = vec![
                on_user(action, Failure)
                    .because("invalid_credentials")
                    .by(user_actor(tenant, user)),
            ];
            if *lock {
                out.push(
                    on_user("login.locked", Failure)
                        .because("too_many_failures")
                        .by(user_actor(tenant, user)),
                );
            }
            out
        }
        UserChange::LoginSucceeded {
            recovery_code,
            totp_step,
        } => {
            let factor = match (totp_step, recovery_code) {
                (_, Some(_)) => "recovery_code",
                (Some(_), None) => "totp",
                (None, None) => "password",
            };
            let mut out = vec![
                on_user("login.succeeded", Success)
                    .with("factor", factor)
                    .by(user_actor(tenant, user)),
            ];
            if recovery_code.is_some() {
                out.push(on_user("recovery_code.used", Success).by(user_actor(tenant, user)));
            }
            out
        }
        UserChange::Unlocked => vec![on_user("user.unlocked", Success)],
    }
}
