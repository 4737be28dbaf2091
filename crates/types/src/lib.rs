//! Core domain types shared by every layer: newtype ids, timestamps and the clock.
//!
//! This crate is the bottom of the dependency graph. It does no I/O besides asking the operating
//! system for random bytes when a new id is minted, and it must never depend on another crate of
//! the workspace.

mod clock;
mod id;
pub mod lenient;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use id::{
    AlertId, AttachmentId, CollectionId, EntryId, EventId, ExportId, IdError, InvitationId,
    RecordId, RequestId, RoleId, SessionId, TenantId, TokenId, UserId,
};
