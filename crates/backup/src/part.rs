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
    let mut opened = Opener::new(key, at, reader);
    while let Some(plain) = opened.next_chunk()? {
        writer.write_all(plain).map_err(|source| Error::Io {
            what: format!("writing the opened part {}", at.name),
            source,
        })?;
    }
    Ok(opened.len)
}

/// Opens a part chunk by chunk. A chunk is handed out only once it opened, but a part cut
/// short or damaged further on is found only when reading gets there: whoever reads must
/// keep nothing of a part that ends in an error.
pub struct Opener<'a, R> {
    key: &'a Key256,
    at: PartRef<'a>,
    reader: R,
    sealed: Vec<u8>,
    plain: crypto::Zeroizing<Vec<u8>>,
    index: u64,
    done: bool,
    /// Plaintext bytes handed out so far.
    pub len: u64,
}

impl<'a, R: Read> Opener<'a, R> {
    pub fn new(key: &'a Key256, at: PartRef<'a>, reader: R) -> Self {
        Self {
            key,
            at,
            reader,
            sealed: Vec::new(),
            plain: crypto::Zeroizing::new(Vec::new()),
            index: 0,
            done: false,
            len: 0,
        }
    }

    /// The next chunk's plaintext, `None` after the last chunk (which must end the part).
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>> {
        if self.done {
            return Ok(None);
        }
        let name = self.at.name;
        let index = self.index;
        let mut frame = [0u8; 4];
        let got = fill(&mut self.reader, &mut frame, name)?;
        if got == 0 {
            return Err(Error::Truncated {
                part: name.to_owned(),
                chunks: index,
            });
        }
        let size = u32::from_be_bytes(frame) as usize;
        if got < 4 || size > MAX_SEALED {
            return Err(Error::Chunk {
                part: name.to_owned(),
                index,
            });
        }
        self.sealed.resize(size, 0);
        if fill(&mut self.reader, &mut self.sealed, name)? < size {
            return Err(Error::Truncated {
                part: name.to_owned(),
                chunks: index,
            });
        }
        // The chunk says whether it is the last by which associated data opens it.
        let (plain, last) = match crypto::open(self.key, &self.at.aad(index, false), &self.sealed) {
            Ok(p) => (p, false),
            Err(_) => match crypto::open(self.key, &self.at.aad(index, true), &self.sealed) {
                Ok(p) => (p, true),
                Err(_) => {
                    return Err(Error::Chunk {
                        part: name.to_owned(),
                        index,
                    });
                }
            },
        };
        if last {
            let mut extra = [0u8; 1];
            if fill(&mut self.reader, &mut extra, name)? != 0 {
                return Err(Error::Format {
                    part: name.to_owned(),
                    reason: format!("bytes after its last chunk ({})", index + 1),
                });
            }
            self.done = true;
        }
        self.index += 1;
        self.len += plain.len() as u64;
        self.plain = plain;
        Ok(Some(&self.plain))
    }
}

/// [`Opener`] as a reader of the plaintext; errors come out as `io::Error`s holding the
/// crate's error text (part and chunk named).
pub struct OpenReader<'a, R> {
    opener: Opener<'a, R>,
    at: usize,
    have: bool,
}

impl<'a, R: Read> OpenReader<'a, R> {
    pub fn new(key: &'a Key256, at: PartRef<'a>, reader: R) -> Self {
        Self {
            opener: Opener::new(key, at, reader),
            at: 0,
            have: false,
        }
    }
}

impl<R: Read> Read for OpenReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.have && self.at < self.opener.plain.len() {
                let n = out.len().min(self.opener.plain.len() - self.at);
                out[..n].copy_from_slice(&self.opener.plain[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            match self.opener.next_chunk() {
                Ok(Some(_)) => {
                    self.have = true;
                    self.at = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
        }
    }
}
