//! The events the journal records. An event is serialised to JSON and sealed whole; fields a
//! tenant or user typed are sealed a second time on their own (for the state row), so the state
//! can copy them verbatim and a rebuild is byte-identical.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use types::{RoleId, SessionId, TenantId, TokenId, UserId};

use crate::model::{
    CollectionDoc, IdempotencyDoc, InvitationDoc, RoleDoc, SessionDoc, SettingsDoc, TokenDoc,
    UserDoc, UserStatus,
};

/// Bytes that travel as base64 inside the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl serde::Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

/// Tenant lifecycle status as journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Suspended,
}

/// Who an API token acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPrincipal {
    /// The bootstrap system-administrator token.
    SystemAdmin,
    /// A user of a tenant (a person or a service account).
    User,
}

/// Which proof of identity a failed attempt offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attempt {
    /// Email and password at login.
    #[default]
    Password,
    /// The second step of a login: a TOTP or recovery code.
    SecondFactor,
    /// A re-authentication of a signed-in user (changing the password or the second factor).
    Reauthentication,
}

impl Attempt {
    fn is_password(&self) -> bool {
        *self == Attempt::Password
    }
}

/// A change to one user account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
pub enum UserChange {
    Role {
        role: String,
    },
    Status {
        status: UserStatus,
    },
    /// A new password hash (sealed PHC string).
    Password {
        hash: Blob,
    },
    /// A TOTP secret awaiting confirmation (sealed).
    TotpPending {
        secret: Blob,
    },
    /// The pending TOTP secret was proved with the code of `step`.
    TotpConfirmed {
        step: u64,
    },
    TotpRemoved,
    /// A new set of recovery codes (keyed hashes); the old ones stop working.
    RecoveryCodes {
        hashes: Vec<Blob>,
    },
    /// A failed login; `lock` when it reached the lockout threshold.
    LoginFailed {
        lock: bool,
        /// Which proof failed (entries written before this field existed: the password).
        #[serde(default, skip_serializing_if = "Attempt::is_password")]
        during: Attempt,
    },
    /// A successful login (password and, when enrolled, second factor).
    LoginSucceeded {
        totp_step: Option<u64>,
        recovery_code: Option<Blob>,
    },
    Unlocked,
}

impl Event {
    /// False only for the events that change record data or note activity, which no cache of
    /// definitions depends on; every other event, including any event added later, moves
    /// [`crate::Engine::epoch`].
    pub fn changes_definitions(&self) -> bool {
        !matches!(
            self,
            Event::RecordCreated { .. }
                | Event::RecordUpdated { .. }
                | Event::RecordDeleted { .. }
                | Event::IdempotencySaved { .. }
                | Event::AttachmentAdded { .. }
                | Event::AttachmentDeleted { .. }
                | Event::SessionTouched { .. }
                | Event::TokenUsed { .. }
                | Event::ExportRequested { .. }
                | Event::ExportProgressed { .. }
                | Event::ExportCompleted { .. }
                | Event::ExportFailed { .. }
                | Event::ExportDownloaded { .. }
                | Event::ExportExpired { .. }
        )
    }
}

/// Every durable change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A tenant came into being; `name` is sealed under the tenant key (field AAD).
    TenantCreated {
        tenant: TenantId,
        name: Blob,
    },
    /// A tenant was suspended or resumed.
    TenantStatusChanged {
        tenant: TenantId,
        status: Status,
    },
    /// An API token was issued; only its hash is kept.
    TokenIssued {
        doc: TokenDoc,
    },
    /// A token was used (recorded at most once a minute per token).
    TokenUsed {
        token: TokenId,
    },
    TokenRevoked {
        token: TokenId,
    },
    /// A scope's data key got a new version (journaled under the system scope).
    KeyRotated {
        scope: String,
        version: u32,
    },
    UserCreated {
        doc: UserDoc,
    },
    UserChanged {
        user: UserId,
        change: UserChange,
    },
    UserDeleted {
        user: UserId,
    },
    SessionCreated {
        doc: SessionDoc,
    },
    /// Activity on a session (recorded at most once a minute per session).
    SessionTouched {
        session: SessionId,
    },
    SessionRevoked {
        session: SessionId,
    },
    /// Every session of a user ends, but `except`.
    UserSessionsRevoked {
        user: UserId,
        except: Option<SessionId>,
    },
    InvitationCreated {
        doc: InvitationDoc,
    },
    InvitationAccepted {
        invitation: types::InvitationId,
    },
    RoleSaved {
        doc: RoleDoc,
    },
    RoleDeleted {
        role: RoleId,
    },
    SettingsChanged {
        doc: SettingsDoc,
    },
    CollectionSaved {
        doc: CollectionDoc,
    },
    CollectionDeleted {
        collection: types::CollectionId,
    },
    /// A record; `body` is sealed (field AAD), `index` the blind-index hashes of indexed fields.
    RecordCreated {
        record: types::RecordId,
        tenant: TenantId,
        collection: types::CollectionId,
        owner: UserId,
        body: Blob,
        index: Vec<Blob>,
    },
    RecordUpdated {
        record: types::RecordId,
        version: u64,
        body: Blob,
        index: Vec<Blob>,
    },
    RecordDeleted {
        record: types::RecordId,
    },
    IdempotencySaved {
        doc: IdempotencyDoc,
    },
    AttachmentAdded {
        doc: crate::model::AttachmentDoc,
    },
    AttachmentDeleted {
        attachment: types::AttachmentId,
    },
    /// A tenant's data replaced by what it was at the moment `at` (Unix ms), the state after
    /// journal entry `cut`: a point-in-time restore on the live system (P11). Its apply deletes
    /// every data row of the tenant and writes `data`'s; identity (the tenant row, users, roles,
    /// settings, sessions, tokens, invitations) is left as it is. Committed under the tenant's
    /// own scope (apply ignores it under any other).
    TenantDataRestored {
        tenant: TenantId,
        cut: u64,
        at: i64,
        data: TenantData,
    },
    /// A tenant's deletion was requested (system scope): the tenant is suspended from now until
    /// the request is cancelled or carried out.
    TenantDeletionRequested {
        doc: crate::model::DeletionDoc,
    },
    /// A pending deletion was cancelled (system scope); the tenant gets its status back.
    TenantDeletionCancelled {
        tenant: TenantId,
    },
    /// Some records of a tenant whose keys are destroyed, purged ahead of `TenantDeleted` (system
    /// scope): a large tenant's rows go in chunks, so that no one apply holds the journal's
    /// writer for long. Ids of another tenant's records are ignored.
    TenantRecordsPurged {
        tenant: TenantId,
        records: Vec<types::RecordId>,
    },
    /// The tenant's keys were destroyed at `keys_destroyed_at` (system scope). Its apply purges
    /// every state row the tenant owns.
    TenantDeleted {
        tenant: TenantId,
        keys_destroyed_at: i64,
    },
    /// The signed deletion receipt (JSON) of a deleted tenant (system scope).
    TenantDeletionReceipt {
        tenant: TenantId,
        receipt: String,
    },
    /// A data subject's key was destroyed (tenant scope): its apply deletes the tenant's records
    /// carrying the subject's index hash, their index rows and attachments. `records` is how
    /// many there were when it was committed (for the trail).
    SubjectErased {
        tenant: TenantId,
        subject: Blob,
        records: u64,
    },
    /// A failed login for an account that does not exist (or a tenant that does not). Carries
    /// nothing about the attempt; it exists so that a failure costs one durable write whether
    /// or not the account exists (a failure of a known account is a `UserChanged`), which keeps
    /// the response times alike (no enumeration by timing), and for the audit trail.
    LoginFailedUnknownAccount {},
    /// A tenant export was requested (P14); `doc` holds its deadline. Tenant scope.
    ExportRequested {
        doc: crate::model::ExportDoc,
    },
    /// An export's job wrote `done` of `total` items (its first one: it started).
    ExportProgressed {
        export: types::ExportId,
        done: u64,
        total: u64,
    },
    /// An export's archive is complete: its size and SHA-256 (hex).
    ExportCompleted {
        export: types::ExportId,
        size: u64,
        digest: String,
    },
    ExportFailed {
        export: types::ExportId,
        reason: String,
    },
    /// A download link of the export was used.
    ExportDownloaded {
        export: types::ExportId,
    },
    /// The archive was deleted (7 days after completion).
    ExportExpired {
        export: types::ExportId,
    },
}

/// A tenant's data as a restore carries it, rows as the state holds them (documents of the
/// kinds in [`crate::model::TENANT_DATA_KINDS`], records with their blind-index hashes). The
/// realm and tenant of every row are the event's tenant: they are not carried, so the event
/// can not write into another tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantData {
    pub docs: Vec<DataDoc>,
    pub records: Vec<DataRecord>,
}

/// One document row of [`TenantData`]; `body` is the stored document (sealed fields inside).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataDoc {
    pub kind: String,
    pub id: String,
    pub lookup: Option<Blob>,
    pub parent: Option<String>,
    pub body: Blob,
}

/// One record row of [`TenantData`]; `body` is sealed (field AAD), `index` its blind-index
/// hashes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRecord {
    pub id: String,
    pub collection: String,
    pub owner: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    pub body: Blob,
    pub index: Vec<Blob>,
}

/// How many rows of each kind a [`TenantData`] holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DataCounts {
    pub collections: u64,
    pub attachments: u64,
    pub idempotency: u64,
    pub records: u64,
    /// Blind-index rows of the records.
    pub index_entries: u64,
}

impl TenantData {
    pub fn counts(&self) -> DataCounts {
        use crate::model::{AttachmentDoc, CollectionDoc, Document, IdempotencyDoc};
        let of = |kind: &str| self.docs.iter().filter(|d| d.kind == kind).count() as u64;
        DataCounts {
            collections: of(CollectionDoc::KIND),
            attachments: of(AttachmentDoc::KIND),
            idempotency: of(IdempotencyDoc::KIND),
            records: self.records.len() as u64,
            index_entries: self.records.iter().map(|r| r.index.len() as u64).sum(),
        }
    }
}

/// The body as written (borrowing the events).
#[derive(serde::Serialize)]
pub(crate) struct BodyRef<'a> {
    pub events: &'a [Event],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub audit: &'a [audit::AuditEvent],
}

/// The sealed body of one journal entry: one or more events committed atomically.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub events: Vec<Event>,
    /// The audit events of these changes, committed with them: written to the audit log right
    /// after, and from here again at start when that write did not happen (a crash, a failed
    /// audit location). Never applied to the state.
    #[serde(default)]
    pub audit: Vec<audit::AuditEvent>,
}
