//! The documents the derived state keeps for identity and access: users, sessions, API tokens,
//! invitations, custom roles and tenant settings. Each is serialised (JSON) into the state's
//! document table beside its lookup columns.
//!
//! Fields a person typed (emails, names, role definitions, token labels) are [`Blob`]s sealed
//! under the realm's key; secrets are present only as hashes. Nothing here may hold plaintext.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use types::{CollectionId, InvitationId, RoleId, SessionId, TenantId, TokenId, UserId};

use crate::event::{Blob, TokenPrincipal};

/// A typed document of the state's document table.
pub trait Document: Serialize + DeserializeOwned {
    const KIND: &'static str;
    fn id(&self) -> String;
    fn realm(&self) -> String;
    fn lookup(&self) -> Option<Vec<u8>> {
        None
    }
    fn parent(&self) -> Option<String> {
        None
    }
}

/// The realm name of the system administrators.
pub const SYSTEM_REALM: &str = "system";

/// `system` or the tenant id.
pub fn realm_name(tenant: Option<TenantId>) -> String {
    tenant.map_or_else(|| SYSTEM_REALM.to_owned(), |t| t.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    Human,
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
}

/// One recovery code: its keyed hash and when it was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    pub hash: Blob,
    pub used_at: Option<i64>,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDoc {
    pub id: UserId,
    pub tenant: Option<TenantId>,
    /// Sealed email address.
    pub email: Blob,
    /// Keyed hash of the normalised email under the realm's index key.
    pub email_index: Blob,
    pub kind: UserKind,
    /// `owner`, `admin`, `editor`, `viewer` or a custom role id; `system_admin` in the system realm.
    pub role: String,
    pub status: UserStatus,
    /// Sealed Argon2id PHC string.
    pub password: Option<Blob>,
    pub password_changed_at: Option<i64>,
    /// Sealed TOTP secret; `totp_confirmed` once a code proved the enrolment.
    pub totp: Option<Blob>,
    pub totp_confirmed: bool,
    pub totp_last_step: Option<u64>,
    pub recovery: Vec<RecoveryCode>,
    pub failed_logins: u32,
    pub last_failure_at: Option<i64>,
    pub locked_at: Option<i64>,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserDoc {
    pub fn has_mfa(&self) -> bool {
        self.totp.is_some() && self.totp_confirmed
    }
}

impl Document for UserDoc {
    const KIND: &'static str = "user";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn realm(&self) -> String {
        realm_name(self.tenant)
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.email_index.0.clone())
    }
}

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDoc {
    pub id: SessionId,
    pub tenant: Option<TenantId>,
    pub user: UserId,
    /// SHA-256 of the session secret.
    pub hash: Blob,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub restricted: bool,
    pub revoked_at: Option<i64>,
}

impl Document for SessionDoc {
    const KIND: &'static str = "session";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn realm(&self) -> String {
        // Sessions are found by the hash of their secret alone: one realm keeps it unique.
        "sessions".to_owned()
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.hash.0.clone())
    }
    fn parent(&self) -> Option<String> {
        Some(self.user.to_string())
    }
}

/// An API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDoc {
    pub id: TokenId,
    pub tenant: Option<TenantId>,
    pub principal: TokenPrincipal,
    /// The user the token acts for (None for the bootstrap token).
    pub owner: Option<UserId>,
    /// SHA-256 of the token secret.
    pub hash: Blob,
    /// Sealed JSON list of scopes (collection names are tenant data).
    pub scopes: Option<Blob>,
    /// Sealed label.
    pub label: Option<Blob>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl Document for TokenDoc {
    const KIND: &'static str = "token";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn realm(&self) -> String {
        // Tokens are found by hash across realms: one realm for all keeps the lookup unique.
        "tokens".to_owned()
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.hash.0.clone())
    }
    fn parent(&self) -> Option<String> {
        self.owner.map(|u| u.to_string())
    }
}

/// An invitation to join a realm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationDoc {
    pub id: InvitationId,
    pub tenant: Option<TenantId>,
    pub email: Blob,
    pub email_index: Blob,
    pub role: String,
    /// SHA-256 of the invitation secret.
    pub hash: Blob,
    pub invited_by: Option<UserId>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    /// Set for a password reset of an existing account instead of an invitation.
    #[serde(default)]
    pub reset_user: Option<UserId>,
}

impl Document for InvitationDoc {
    const KIND: &'static str = "invitation";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn realm(&self) -> String {
        "invitations".to_owned()
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.hash.0.clone())
    }
    fn parent(&self) -> Option<String> {
        Some(realm_name(self.tenant))
    }
}

/// A custom role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDoc {
    pub id: RoleId,
    pub tenant: TenantId,
    /// Sealed name.
    pub name: Blob,
    /// Sealed JSON of `access::RoleDef`.
    pub def: Blob,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Document for RoleDoc {
    const KIND: &'static str = "role";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn realm(&self) -> String {
        self.tenant.to_string()
    }
}

/// A tenant's identity settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsDoc {
    pub tenant: TenantId,
    pub mfa_required: bool,
    pub lockout_threshold: u32,
    pub min_password_len: u32,
    /// Largest attachment in bytes, when the tenant set one below the system's limit.
    #[serde(default)]
    pub attachment_max_bytes: Option<u32>,
    pub updated_at: i64,
}

impl SettingsDoc {
    pub fn defaults(tenant: TenantId) -> Self {
        Self {
            tenant,
            mfa_required: false,
            lockout_threshold: 20,
            min_password_len: 12,
            attachment_max_bytes: None,
            updated_at: 0,
        }
    }
}

impl Document for SettingsDoc {
    const KIND: &'static str = "settings";
    fn id(&self) -> String {
        self.tenant.to_string()
    }
    fn realm(&self) -> String {
        self.tenant.to_string()
    }
}

/// A collection of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionDoc {
    pub id: CollectionId,
    pub tenant: TenantId,
    /// Sealed name.
    pub name: Blob,
    /// Keyed hash of the name under the tenant's index key.
    pub name_index: Blob,
    /// Sealed JSON schema.
    pub schema: Blob,
    pub version: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Document for CollectionDoc {
    const KIND: &'static str = "collection";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn realm(&self) -> String {
        self.tenant.to_string()
    }
    fn lookup(&self) -> Option<Vec<u8>> {
        Some(self.name_index.0.clone())
    }
}

/// A remembered `Idempotency-Key`: which record a key created, and a hash of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyDoc {
    /// Hex of the keyed hash of (principal, key).
    pub id: String,
    pub tenant: TenantId,
    pub record: types::RecordId,
    /// Keyed hash of the request body.
    pub request: Blob,
    pub created_at: i64,
}

impl Document for IdempotencyDoc {
    const KIND: &'static str = "idempotency";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn realm(&self) -> String {
        self.tenant.to_string()
    }
}

/// A file attached to a record; its bytes live sealed in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentDoc {
    pub id: types::AttachmentId,
    pub tenant: TenantId,
    pub collection: CollectionId,
    pub record: types::RecordId,
    /// Sealed file name (only ever used in `Content-Disposition`).
    pub name: Blob,
    /// One of the tenant's allowed content types.
    pub content_type: String,
    pub size: u64,
    pub chunks: u32,
    /// Keyed hash of the plaintext (tenant index key).
    pub digest: Blob,
    pub created_at: i64,
}

impl Document for AttachmentDoc {
    const KIND: &'static str = "attachment";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn realm(&self) -> String {
        self.tenant.to_string()
    }
    fn parent(&self) -> Option<String> {
        Some(self.record.to_string())
    }
}

/// Where a tenant deletion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionStatus {
    /// Requested; the tenant is suspended until `execute_after`.
    Pending,
    /// Cancelled before it was carried out.
    Cancelled,
    /// The keys are destroyed and the rows purged; the receipt is not yet stored.
    Destroyed,
    /// Done: the receipt is stored.
    Completed,
}

/// A tenant's deletion request (P15), kept in the system realm so that it outlives the tenant's
/// keys. Holds ids, times and the receipt, which carries no tenant plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionDoc {
    pub tenant: TenantId,
    pub status: DeletionStatus,
    pub requested_at: i64,
    /// Who asked: a user id, or `system administrator <id>`, or `operator` (the CLI).
    pub requested_by: String,
    /// The end of the grace period: the deletion is carried out from then on.
    pub execute_after: i64,
    /// `requested_at` + 30 days: the promise (P15).
    pub deadline: i64,
    /// The tenant's status before the request, restored by a cancellation.
    pub previous_status: crate::event::Status,
    /// Hash of the cancellation code shown once to the requester: the members of a suspended
    /// tenant can not sign in, so the code is how the owner cancels.
    pub cancel_hash: Option<Blob>,
    pub cancelled_at: Option<i64>,
    pub keys_destroyed_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// The signed receipt (JSON), once stored.
    pub receipt: Option<String>,
}

impl Document for DeletionDoc {
    const KIND: &'static str = "tenant_deletion";
    fn id(&self) -> String {
        self.tenant.to_string()
    }
    fn realm(&self) -> String {
        SYSTEM_REALM.to_owned()
    }
}

/// Where a tenant export stands (P14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Requested; waiting for a free slot.
    Queued,
    /// Being written.
    Running,
    /// The archive is ready to download.
    Completed,
    Failed,
    /// Completed, then its archive was deleted (7 days after completion).
    Expired,
}

/// A tenant export: the request, its deadline, its progress and its archive's size and digest.
/// Holds no secret (the passphrase is never stored) and no tenant plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDoc {
    pub id: types::ExportId,
    pub tenant: TenantId,
    /// The member who asked.
    pub requested_by: UserId,
    pub requested_at: i64,
    /// `requested_at` + 30 days: the promise (P14).
    pub deadline: i64,
    pub status: ExportStatus,
    /// Items written and to write (records, attachments, users, roles, audit events).
    pub done: u64,
    pub total: u64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// Size of the sealed archive in bytes, and its SHA-256 (hex).
    pub size: Option<u64>,
    pub digest: Option<String>,
    /// Why it failed (no tenant data).
    pub error: Option<String>,
    pub downloads: u32,
    pub expired_at: Option<i64>,
}

impl Document for ExportDoc {
    const KIND: &'static str = "export";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn realm(&self) -> String {
        self.tenant.to_string()
    }
    fn parent(&self) -> Option<String> {
        Some(self.tenant.to_string())
    }
}

/// The document kinds that are a tenant's *data*, which a point-in-time restore of the tenant
/// brings back (with its records): every other kind is identity, which it leaves as it is.
pub const TENANT_DATA_KINDS: &[&str] = &[
    CollectionDoc::KIND,
    AttachmentDoc::KIND,
    IdempotencyDoc::KIND,
];

/// Builds the state row of a document.
pub fn to_doc<T: Document>(value: &T) -> Result<state_sqlite::Doc, serde_json::Error> {
    Ok(state_sqlite::Doc {
        kind: T::KIND,
        id: value.id(),
        realm: value.realm(),
        lookup: value.lookup(),
        parent: value.parent(),
        body: serde_json::to_vec(value)?,
    })
}

/// Reads a document back.
pub fn from_doc<T: Document>(doc: &state_sqlite::Doc) -> Result<T, serde_json::Error> {
    serde_json::from_slice(&doc.body)
}
