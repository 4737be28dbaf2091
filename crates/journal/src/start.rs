//! The start file: where a journal whose oldest segments were removed now begins.
//!
//! A mirror without a `start` file holds a chain that starts at seq 1 after the zero hash, and
//! every check is as strict as it always was. Removing leading segments
//! ([`crate::Journal::remove_segments_before`]) first writes, in both mirrors, a `start` file naming
//! the position just before the first kept entry (its seq and chain hash), then removes the
//! older segments. The scan then starts the chain there and checks the first kept segment's
//! header against it, so a segment deleted by hand is still a gap. Segments wholly before the
//! start are leftovers of an interrupted removal; `open` and `repair` finish it.
//!
//! Layout (little-endian), 52 bytes: magic `SRJSTART` | seq (u64) | hash (32) | crc32c of bytes
//! 0..48 (u32). This module must never remove a segment; it only reads and writes this file.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::Position;
use crate::error::{Error, Result};
use crate::fsutil::fsync_dir;
use crate::verify::Problem;

/// File name of the start file in each mirror directory.
pub(crate) const START_FILE: &str = "start";
const MAGIC: &[u8; 8] = b"SRJSTART";
const LEN: usize = 8 + 8 + 32 + 4;

fn encode(start: Position) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[0..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&start.seq.to_le_bytes());
    out[16..48].copy_from_slice(&start.hash);
    let crc = crc32c::crc32c(&out[0..48]);
    out[48..52].copy_from_slice(&crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Result<Position, String> {
    if bytes.len() != LEN {
        return Err(format!(
            "the start file is {} bytes, not {LEN}",
            bytes.len()
        ));
    }
    if &bytes[0..8] != MAGIC {
        return Err("bad magic: not a journal start file".to_owned());
    }
    let crc = crc32c::crc32c(&bytes[0..48]);
    if bytes[48..52] != crc.to_le_bytes() {
        return Err("start file checksum mismatch".to_owned());
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[8..16]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[16..48]);
    Ok(Position {
        seq: u64::from_le_bytes(seq),
        hash,
    })
}

/// The position before the first entry of the mirror `dir`: `Ok(None)` without a start file,
/// `Ok(Some(Err(problem)))` when the file is unreadable as a start file. OS errors are `Err`.
pub(crate) fn read_start(dir: &Path) -> Result<Option<Result<Position, Problem>>> {
    let path = dir.join(START_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    Ok(Some(decode(&bytes).map_err(|reason| Problem {
        segment: path,
        offset: 0,
        reason,
    })))
}

/// Writes (or replaces) the start file of `dir` durably: temp file, sync, rename, directory sync.
/// [`Position::EMPTY`] removes it instead (a chain starting at seq 1 has none).
pub(crate) fn write_start(dir: &Path, start: Position) -> Result<()> {
    let path = dir.join(START_FILE);
    if start == Position::EMPTY {
        return match fs::remove_file(&path) {
            Ok(()) => fsync_dir(dir),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        };
    }
    let tmp = dir.join(format!("{START_FILE}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    file.write_all(&encode(start))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    fsync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_any_flipped_bit() {
        let start = Position {
            seq: 41,
            hash: [7; 32],
        };
        let bytes = encode(start);
        assert_eq!(decode(&bytes), Ok(start));
        for byte in 0..LEN {
            for bit in 0..8 {
                let mut bad = bytes;
                bad[byte] ^= 1 << bit;
                assert!(decode(&bad).is_err(), "byte {byte} bit {bit}");
            }
        }
        assert!(decode(&bytes[..LEN - 1]).is_err());
    }
}
