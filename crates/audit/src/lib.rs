//! The audit log (P16): one event per security-relevant act, kept in a journal of its own (two
//! locations, hash chain, group commit) and signed at checkpoints with an Ed25519 key kept apart
//! from the master key, so that a copy of the files and the public key are enough to show that
//! nothing was edited, removed, reordered or cut off. See `docs/design/audit.md`.
//!
//! Built so far: the event model with its injection-safe text rendering (`event`), the signed
//! checkpoint format (`checkpoint`), the log with its checkpoint file (`log`) and the offline
//! verification (`verify`), retention of whole old segments, itself recorded and signed
//! (`retention`). Not yet: sealing events, wiring into the services. There is, and must never
//! be, a function that edits or deletes an event; retention is the only removal and a test
//! (`tests/retention.rs`) fails on any other public function whose name says otherwise.

pub mod checkpoint;
pub mod context;
pub mod event;
pub mod log;
pub mod payload;
pub mod retention;
pub mod statement;
pub mod verify;

pub use checkpoint::Checkpoint;
pub use event::{Actor, ActorKind, AuditEvent, Client, Outcome, Resource};
pub use log::{AuditLog, LogError};
pub use retention::{RetentionRecord, RetentionReport};
pub use types::EventId;
pub use verify::{Break, Verified, verify_dir};

/// Days an audit entry is kept by default: [`AuditLog::apply_retention`] is called with the
/// horizon `now - DEFAULT_RETENTION_DAYS` days unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bytes that are not a checkpoint of this format.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// A checkpoint whose signature does not verify under the given public key.
    #[error("checkpoint at seq {seq}: the signature does not verify")]
    BadSignature { seq: u64 },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
