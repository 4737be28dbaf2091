//! `manifest.json`, the archive's last member: what the archive is (format, tenant, export,
//! time), how many of each thing it holds, and the SHA-256 of every other member, of every
//! record's canonical JSON (its NDJSON line) and of every attachment's bytes.

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use types::{AttachmentId, RecordId};

/// The manifest's `format`.
pub const FORMAT: &str = "strongroom-export";
/// The manifest's `version`.
pub const VERSION: u32 = 1;
/// The manifest's member name.
pub const NAME: &str = "manifest.json";

/// How many of each thing the archive holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub collections: u64,
    pub records: u64,
    pub attachments: u64,
    pub users: u64,
    pub roles: u64,
    pub audit_events: u64,
}

/// One member of the tar stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// One record: its id and the SHA-256 of its canonical JSON (its line, without the newline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDigest {
    pub id: String,
    pub sha256: String,
}

/// One attachment: its id, record, size and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentDigest {
    pub id: String,
    pub record: String,
    pub size: u64,
    pub sha256: String,
}

/// The manifest as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub tenant: String,
    pub export: String,
    pub created_at: i64,
    pub counts: Counts,
    pub members: Vec<Member>,
    pub records: Vec<RecordDigest>,
    pub attachments: Vec<AttachmentDigest>,
}

/// The manifest as the writer holds it: the record digests compact (48 bytes each), written
/// out as [`Manifest`] reads them.
pub(crate) struct Draft<'a> {
    pub tenant: &'a str,
    pub export: &'a str,
    pub created_at: i64,
    pub counts: Counts,
    pub members: &'a [Member],
    pub records: &'a [(RecordId, [u8; 32])],
    pub attachments: &'a [AttachmentDigest],
}

struct Records<'a>(&'a [(RecordId, [u8; 32])]);

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (id, sha) in self.0 {
            seq.serialize_element(&RecordDigest {
                id: id.to_string(),
                sha256: crypto::hex(sha),
            })?;
        }
        seq.end()
    }
}

impl Serialize for Draft<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("Manifest", 9)?;
        m.serialize_field("format", FORMAT)?;
        m.serialize_field("version", &VERSION)?;
        m.serialize_field("tenant", self.tenant)?;
        m.serialize_field("export", self.export)?;
        m.serialize_field("created_at", &self.created_at)?;
        m.serialize_field("counts", &self.counts)?;
        m.serialize_field("members", self.members)?;
        m.serialize_field("records", &Records(self.records))?;
        m.serialize_field("attachments", self.attachments)?;
        m.end()
    }
}

/// A record's canonical JSON, its line in `collections/<name>.ndjson`: `id`, `version`,
/// `owner`, `created_at`, `updated_at` and `data` (the object as stored), in that order, no
/// whitespace. Its SHA-256 is the record's digest in the manifest.
pub fn record_line(record: &records::RecordView) -> Vec<u8> {
    #[derive(Serialize)]
    struct Line<'a> {
        id: RecordId,
        version: u64,
        owner: types::UserId,
        created_at: i64,
        updated_at: i64,
        data: &'a records::RecordData,
    }
    let line = Line {
        id: record.id,
        version: record.version,
        owner: record.owner,
        created_at: record.created_at,
        updated_at: record.updated_at,
        data: &record.data,
    };
    // Proven invariant: the fields are ids, integers and already-valid JSON.
    serde_json::to_vec(&line).unwrap_or_default()
}

/// The attachment entry of `attachments.ndjson` (metadata; the bytes are their own member).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentLine {
    pub id: AttachmentId,
    pub record: RecordId,
    pub collection: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub created_at: i64,
    pub sha256: String,
}
