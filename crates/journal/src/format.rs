//! Byte layout of segment files: the segment header, frames, the chain hash and file names.
//!
//! This module is pure: it encodes and decodes bytes and never touches the file system. The
//! layout is documented byte by byte in `docs/design/journal.md`; changing a constant here is a
//! format change and must bump [`VERSION`].

use ring::digest;

use crate::MAX_PAYLOAD;

/// First bytes of every segment file.
pub(crate) const MAGIC: [u8; 8] = *b"SRJOURNL";
/// Segment format version.
pub(crate) const VERSION: u32 = 1;
/// Size of the segment header.
pub(crate) const HEADER_LEN: u64 = 64;
/// Size of a frame header: length (4) + crc32c (4) + seq (8).
pub(crate) const FRAME_HEADER_LEN: usize = 16;
/// Chain hash before the first entry.
pub(crate) const ZERO_HASH: [u8; 32] = [0; 32];
/// Suffix of segment files.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of segment files being created (never part of the journal).
pub(crate) const TMP_SUFFIX: &str = ".seg.tmp";
/// File an import keeps in each mirror until it has finished: a directory holding it holds no
/// journal, whatever else it holds (see `import`).
pub(crate) const IMPORT_MARKER: &str = "import-unfinished";

/// The fixed header at the start of every segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// Seq of the first frame this segment holds (or will hold).
    pub first_seq: u64,
    /// Chain hash of entry `first_seq - 1` (zero hash for the first segment).
    pub prev_hash: [u8; 32],
}

impl SegmentHeader {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        // 12..16 reserved, zero.
        out[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        out[24..56].copy_from_slice(&self.prev_hash);
        let crc = crc32c::crc32c(&out[0..56]);
        out[56..60].copy_from_slice(&crc.to_le_bytes());
        // 60..64 reserved, zero.
        out
    }

    /// Decodes a header; the error is a human-readable reason.
    pub(crate) fn decode(bytes: &[u8; HEADER_LEN as usize]) -> Result<Self, String> {
        if bytes[0..8] != MAGIC {
            return Err("bad magic: not a Strongroom journal segment".to_owned());
        }
        let stored_crc = u32_at(bytes, 56);
        let crc = crc32c::crc32c(&bytes[0..56]);
        if stored_crc != crc {
            return Err(format!(
                "segment header checksum mismatch (stored {stored_crc:08x}, computed {crc:08x})"
            ));
        }
        let version = u32_at(bytes, 8);
        if version != VERSION {
            return Err(format!(
                "unsupported segment format version {version} (this build reads {VERSION})"
            ));
        }
        if u32_at(bytes, 12) != 0 || u32_at(bytes, 60) != 0 {
            return Err("reserved header bytes are not zero".to_owned());
        }
        let mut prev_hash = [0u8; 32];
        prev_hash.copy_from_slice(&bytes[24..56]);
        Ok(SegmentHeader {
            first_seq: u64_at(bytes, 16),
            prev_hash,
        })
    }
}

/// The decoded fixed part of a frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameHeader {
    pub len: u32,
    pub crc: u32,
    pub seq: u64,
}

impl FrameHeader {
    pub(crate) fn decode(bytes: &[u8; FRAME_HEADER_LEN]) -> Self {
        FrameHeader {
            len: u32_at(bytes, 0),
            crc: u32_at(bytes, 4),
            seq: u64_at(bytes, 8),
        }
    }

    /// Checks the length bound before anything is allocated for the payload.
    pub(crate) fn check_len(&self) -> Result<usize, String> {
        let len = self.len as usize;
        if len > MAX_PAYLOAD {
            return Err(format!(
                "frame length {len} exceeds the payload limit {MAX_PAYLOAD}"
            ));
        }
        Ok(len)
    }

    /// Checks the crc against the payload; the error is a human-readable reason.
    pub(crate) fn check_crc(&self, payload: &[u8]) -> Result<(), String> {
        let crc = frame_crc(self.len, self.seq, payload);
        if crc == self.crc {
            Ok(())
        } else {
            Err(format!(
                "frame checksum mismatch (stored {:08x}, computed {crc:08x})",
                self.crc
            ))
        }
    }
}

/// crc32c over `len (u32 LE) || seq (u64 LE) || payload`.
pub(crate) fn frame_crc(len: u32, seq: u64, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &seq.to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// Appends one frame to `buf`. The caller has checked `payload.len() <= MAX_PAYLOAD`.
pub(crate) fn encode_frame(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    // MAX_PAYLOAD < u32::MAX, and callers refuse larger payloads before they get here.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&frame_crc(len, seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Encoded size of a frame carrying `payload_len` bytes.
pub(crate) fn frame_len(payload_len: usize) -> u64 {
    (FRAME_HEADER_LEN + payload_len) as u64
}

/// `h_n = SHA-256(h_{n-1} || seq (u64 LE) || payload)`.
pub fn chain(prev: &[u8; 32], seq: u64, payload: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev);
    ctx.update(&seq.to_le_bytes());
    ctx.update(payload);
    let digest = ctx.finish();
    let mut out = [0u8; 32];
    // SHA-256 output is always 32 bytes.
    out.copy_from_slice(digest.as_ref());
    out
}

/// File name of the segment whose first entry is `first_seq`: 20 decimal digits + `.seg`.
pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

/// Parses a segment file name; `None` when it is not exactly 20 digits + `.seg`.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Short hex form of a hash for messages.
pub(crate) fn short_hex(hash: &[u8; 32]) -> String {
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let h = SegmentHeader {
            first_seq: 42,
            prev_hash: [7; 32],
        };
        let mut bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        bytes[30] ^= 1;
        assert!(SegmentHeader::decode(&bytes).is_err());
    }

    #[test]
    fn frame_layout_is_as_documented() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 5, b"abc");
        assert_eq!(buf.len(), 19);
        assert_eq!(&buf[0..4], &3u32.to_le_bytes());
        assert_eq!(&buf[8..16], &5u64.to_le_bytes());
        assert_eq!(&buf[16..], b"abc");
        let mut hdr = [0u8; FRAME_HEADER_LEN];
        hdr.copy_from_slice(&buf[..FRAME_HEADER_LEN]);
        let fh = FrameHeader::decode(&hdr);
        assert_eq!(fh.check_crc(b"abc"), Ok(()));
        assert!(fh.check_crc(b"abd").is_err());
    }

    #[test]
    fn chain_matches_sha256_of_concatenation() {
        let mut input = Vec::new();
        input.extend_from_slice(&ZERO_HASH);
        input.extend_from_slice(&1u64.to_le_bytes());
        input.extend_from_slice(b"x");
        let expected = digest::digest(&digest::SHA256, &input);
        assert_eq!(chain(&ZERO_HASH, 1, b"x").as_slice(), expected.as_ref());
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_name(1), "00000000000000000001.seg");
        assert_eq!(parse_segment_name("00000000000000000001.seg"), Some(1));
        assert_eq!(parse_segment_name("1.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000000x.seg"), None);
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
    }
}
