//! The journal entry envelope: a small clear header (ids, key version, timestamp) and the event
//! body sealed with AES-256-GCM under the scope's data key.
//!
//! Layout (all integers big-endian):
//! ```text
//! 0..4    magic "SRE1"
//! 4       scope kind: 0 = system, 1 = tenant
//! 5..21   tenant id (16 zero bytes for the system scope)
//! 21..25  key version (u32)
//! 25..41  entry id (16 random bytes)
//! 41..49  timestamp, Unix milliseconds (i64)
//! 49..    sealed body (crypto::seal format)
//! ```
//! The body's associated data is `strongroom/journal/v1|<scope>|<key version>|<entry id>`, so a
//! body moved to another entry, scope or key version fails to open.

use types::{EntryId, TenantId, Timestamp};

use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"SRE1";
const HEADER: usize = 49;

/// Whose key seals an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    System,
    Tenant(TenantId),
}

impl Scope {
    /// The keyring's name for this scope.
    pub fn key_name(&self) -> String {
        match self {
            Scope::System => "system".to_owned(),
            Scope::Tenant(id) => id.to_string(),
        }
    }
}

/// The clear header of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub scope: Scope,
    pub key_version: u32,
    pub entry: EntryId,
    pub at: Timestamp,
}

impl Header {
    pub fn aad(&self) -> Vec<u8> {
        format!(
            "strongroom/journal/v1|{}|{}|{}",
            self.scope.key_name(),
            self.key_version,
            self.entry
        )
        .into_bytes()
    }
}

pub fn encode(header: &Header, sealed_body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + sealed_body.len());
    out.extend_from_slice(MAGIC);
    match header.scope {
        Scope::System => {
            out.push(0);
            out.extend_from_slice(&[0u8; 16]);
        }
        Scope::Tenant(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
    }
    out.extend_from_slice(&header.key_version.to_be_bytes());
    out.extend_from_slice(header.entry.as_bytes());
    out.extend_from_slice(&header.at.millis().to_be_bytes());
    out.extend_from_slice(sealed_body);
    out
}

pub fn decode(bytes: &[u8]) -> Result<(Header, &[u8])> {
    let bad = |reason: &str| Error::Envelope(reason.to_owned());
    if bytes.len() < HEADER || &bytes[0..4] != MAGIC {
        return Err(bad("missing magic or too short"));
    }
    let array16 = |r: std::ops::Range<usize>| -> Result<[u8; 16]> {
        bytes[r].try_into().map_err(|_| bad("bad id field"))
    };
    let scope = match bytes[4] {
        0 => Scope::System,
        1 => Scope::Tenant(TenantId::from_bytes(array16(5..21)?)),
        other => return Err(bad(&format!("unknown scope kind {other}"))),
    };
    let u32_at =
        |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&bytes[41..49]);
    let header = Header {
        scope,
        key_version: u32_at(21),
        entry: EntryId::from_bytes(array16(25..41)?),
        at: Timestamp(i64::from_be_bytes(ts)),
    };
    Ok((header, &bytes[HEADER..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        for scope in [Scope::System, Scope::Tenant(TenantId::random())] {
            let h = Header {
                scope,
                key_version: 7,
                entry: EntryId::random(),
                at: Timestamp(1234),
            };
            let bytes = encode(&h, b"body");
            let (back, body) = decode(&bytes).expect("decode");
            assert_eq!((back, body), (h, &b"body"[..]));
        }
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode(b"").is_err());
        assert!(decode(&[0u8; 60]).is_err());
        let mut bytes = encode(
            &Header {
                scope: Scope::System,
                key_version: 1,
                entry: EntryId::random(),
                at: Timestamp(0),
            },
            b"x",
        );
        bytes[4] = 9;
        assert!(decode(&bytes).is_err());
    }
}
