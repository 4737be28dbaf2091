//! The bytes of one audit journal entry that holds an event: a small clear header and the event
//! JSON sealed (by the engine, which holds the keys) under its scope's data key.
//!
//! Layout (integers big-endian, like the main journal's envelope):
//! ```text
//! 0..8    magic "SRAEV001"
//! 8       scope kind: 0 = system, 1 = tenant
//! 9..25   tenant id (16 zero bytes for the system scope)
//! 25..29  key version (u32)
//! 29..45  event id (16 random bytes)
//! 45..53  at, Unix milliseconds (i64)
//! 53..61  source: the main journal entry whose change this event records (u64; 0: none)
//! 61..    sealed event JSON (crypto::seal format)
//! ```
//! The sealed part's associated data is [`Header::aad`], so a body moved to another entry, scope
//! or key version fails to open. The chain, the checkpoints, retention and `audit verify` read
//! only the clear header (or nothing at all) and need no key.

use types::TenantId;

use crate::checkpoint::Checkpoint;
use crate::retention::RetentionRecord;

/// The first bytes of every event payload.
pub const MAGIC: &[u8; 8] = b"SRAEV001";
/// Length of the clear header.
pub const HEADER_LEN: usize = 61;

/// The clear header of an event entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The tenant whose key seals the event; `None`: the system scope.
    pub tenant: Option<TenantId>,
    pub key_version: u32,
    /// The event's id (`ev_` and its hex in the event JSON).
    pub id: [u8; 16],
    /// Unix milliseconds.
    pub at: i64,
    /// The seq of the main journal entry that carries this event too (0: an act that changed
    /// nothing durable, such as a refusal).
    pub source: u64,
}

impl Header {
    /// The associated data the event JSON is sealed with.
    pub fn aad(&self) -> Vec<u8> {
        let scope = self
            .tenant
            .map_or_else(|| "system".to_owned(), |t| t.to_string());
        format!(
            "strongroom/audit/v1|{scope}|{}|{}",
            self.key_version,
            types::EventId::from_bytes(self.id)
        )
        .into_bytes()
    }

    /// The payload: this header followed by the sealed event.
    pub fn encode(&self, sealed: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        match self.tenant {
            None => {
                out.push(0);
                out.extend_from_slice(&[0; 16]);
            }
            Some(t) => {
                out.push(1);
                out.extend_from_slice(t.as_bytes());
            }
        }
        out.extend_from_slice(&self.key_version.to_be_bytes());
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&self.at.to_be_bytes());
        out.extend_from_slice(&self.source.to_be_bytes());
        out.extend_from_slice(sealed);
        out
    }

    /// Splits an event payload into its header and sealed part; `None` when the bytes are not
    /// an event payload (a checkpoint, a retention record, or damage).
    pub fn decode(payload: &[u8]) -> Option<(Header, &[u8])> {
        if payload.len() < HEADER_LEN || &payload[..8] != MAGIC {
            return None;
        }
        let tenant = match payload[8] {
            0 => None,
            1 => Some(TenantId::from_bytes(payload[9..25].try_into().ok()?)),
            _ => return None,
        };
        let header = Header {
            tenant,
            key_version: u32::from_be_bytes(payload[25..29].try_into().ok()?),
            id: payload[29..45].try_into().ok()?,
            at: i64::from_be_bytes(payload[45..53].try_into().ok()?),
            source: u64::from_be_bytes(payload[53..61].try_into().ok()?),
        };
        Some((header, &payload[HEADER_LEN..]))
    }
}

/// When an entry of the audit chain was written: an event's `at`, a checkpoint's or a retention
/// record's. `None` for bytes that are none of them.
pub fn entry_time(payload: &[u8]) -> Option<i64> {
    if let Some((header, _)) = Header::decode(payload) {
        return Some(header.at);
    }
    if Checkpoint::is_checkpoint(payload) {
        return Checkpoint::decode(payload).ok().map(|c| c.at);
    }
    if RetentionRecord::is_retention(payload) {
        return RetentionRecord::decode(payload).ok().map(|r| r.at);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_and_binds_its_fields_into_the_aad() {
        let header = Header {
            tenant: Some(TenantId::random()),
            key_version: 3,
            id: [7; 16],
            at: 1_800_000_000_123,
            source: 42,
        };
        let payload = header.encode(b"sealed bytes");
        let (back, sealed) = Header::decode(&payload).expect("decodes");
        assert_eq!(back, header);
        assert_eq!(sealed, b"sealed bytes");
        assert_eq!(entry_time(&payload), Some(header.at));
        let system = Header {
            tenant: None,
            ..header
        };
        assert_ne!(system.aad(), header.aad());
        assert_ne!(
            Header {
                key_version: 4,
                ..header
            }
            .aad(),
            header.aad()
        );
        assert!(Header::decode(&payload[..HEADER_LEN - 1]).is_none());
        assert!(Header::decode(b"SRCKPT01 not an event at all, but long enough to try").is_none());
    }
}
