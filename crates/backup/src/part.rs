//! One part of a backup (the state snapshot, a journal segment, …) as stored at a destination:
//! the bytes split in chunks, each sealed with AES-256-GCM under the backup's archive key.
//!
//! Layout: a sequence of `length (u32 BE) | sealed chunk`. The associated data of chunk `i` is
//! `strongroom/backup/v1|<backup id>|<part name>|<i>|<last: 0 or 1>`, so a chunk can not be
//! moved to another backup, part or place, and cutting a part after any chunk but its last is
//! caught (the chunk then read last does not say it is the last). An empty part is one empty,
//! last chunk.

use std::io::{Read, Write};

use crypto::Key256;

use crate::{Error, Result};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 4 * 1024 * 1024;
/// Largest sealed chunk a reader accepts.
const MAX_SEALED: usize = CHUNK + crypto::SEALED_OVERHEAD;

/// Where a part belongs: its backup and its name.
#[derive(Debug, Clone, Copy)]
pub struct PartRef<'a> {
    pub backup: &'a str,
    pub name: &'a str,
}

impl PartRef<'_> {
    fn aad(&self, index: u64, last: bool) -> Vec<u8> {
        format!(
            "strongroom/backup/v1|{}|{}|{index}|{}",
            self.backup,
            self.name,
            u8::from(last)
        )
        .into_bytes()
    }
}

/// What sealing a part produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// Plaintext bytes.
    pub len: u64,
    pub chunks: u64,
    /// SHA-256 of the bytes written (the sealed part), for the manifest.
    pub sha256: [u8; 32],
}

/// Fills `buf` from `reader` as far as it goes; returns the bytes read (less only at the end).
fn fill(reader: &mut impl Read, buf: &mut [u8], part: &str) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Io {
                    what: format!("reading part {part}"),
                    source,
                });
            }
        }
    }
    Ok(n)
}

/// Seals everything `reader` holds as the part `at` into `writer`.
pub fn seal(
    key: &Key256,
    at: PartRef<'_>,
    reader: &mut impl Read,
    writer: &mut impl Write,
) -> Result<Sealed> {
    let mut hash = crypto::Sha256::new();
    let mut current = vec![0u8; CHUNK];
    let mut next = vec![0u8; CHUNK];
    let mut have = fill(reader, &mut current, at.name)?;
    let (mut len, mut index) = (0u64, 0u64);
    loop {
        // Read ahead one chunk to know whether this one is the last.
        let ahead = if have == CHUNK {
            fill(reader, &mut next, at.name)?
        } else {
            0
        };
        let last = ahead == 0;
        let sealed = crypto::seal(key, &at.aad(index, last), &current[..have]);
        let frame_len = u32::try_from(sealed.len()).map_err(|_| Error::Format {
            part: at.name.to_owned(),
            reason: "a chunk too large to frame".into(),
        })?;
        for bytes in [&frame_len.to_be_bytes()[..], &sealed] {
            writer.write_all(bytes).map_err(|source| Error::Io {
                what: format!("writing part {}", at.name),
                source,
            })?;
            hash.update(bytes);
        }
        len += have as u64;
        index += 1;
        if last {
            break;
        }
        std::mem::swap(&mut current, &mut next);
        have = ahead;
    }
    Ok(Sealed {
        len,
        chunks: index,
        sha256: hash.finish(),
    })
}

/// Opens the part `at` from `reader` into `writer`; refuses, naming the part and the chunk, a
/// chunk that does not open (altered, moved, wrong key) and a part cut short. Returns the
/// plaintext length. On an error `writer` may hold the chunks before the bad one: callers write
/// to a temporary place and keep it only on success.
pub fn open(
    key: &Key256,
    at: PartRef<'_>,
    reader: &mut impl Read,
    writer: &mut impl Write,
) -> Result<u64> {
    let mut len = 0u64;
    let mut sealed = Vec::new();
    let mut index = 0u64;
    loop {
        let mut frame = [0u8; 4];
        let got = fill(reader, &mut frame, at.name)?;
        if got == 0 {
            return Err(Error::Truncated {
                part: at.name.to_owned(),
                chunks: index,
            });
        }
        let size = u32::from_be_bytes(frame) as usize;
        if got < 4 || size > MAX_SEALED {
            return Err(Error::Chunk {
                part: at.name.to_owned(),
                index,
            });
        }
        sealed.resize(size, 0);
        if fill(reader, &mut sealed, at.name)? < size {
            return Err(Error::Truncated {
                part: at.name.to_owned(),
                chunks: index,
            });
        }
        // The chunk says whether it is the last by which associated data opens it.
        let (plain, last) = match crypto::open(key, &at.aad(index, false), &sealed) {
            Ok(p) => (p, false),
            Err(_) => match crypto::open(key, &at.aad(index, true), &sealed) {
                Ok(p) => (p, true),
                Err(_) => {
                    return Err(Error::Chunk {
                        part: at.name.to_owned(),
                        index,
                    });
                }
            },
        };
        writer.write_all(&plain).map_err(|source| Error::Io {
            what: format!("writing the opened part {}", at.name),
            source,
        })?;
        len += plain.len() as u64;
        if last {
            let mut extra = [0u8; 1];
            if fill(reader, &mut extra, at.name)? != 0 {
                return Err(Error::Format {
                    part: at.name.to_owned(),
                    reason: format!("bytes after its last chunk ({})", index + 1),
                });
            }
            return Ok(len);
        }
        index += 1;
    }
}
