//! The sealed export file (`.srx`): a clear header, then the plaintext in 1 MiB chunks, each
//! sealed with AES-256-GCM (`crypto::seal`: a fresh random nonce in front of it) under the
//! archive key, with the associated data `strongroom/export/v1|<export id>|<index>|<last>`, so
//! that chunks can not be altered, reordered, dropped, cut off at the end or moved to another
//! export.
//!
//! ```text
//! "SREXPORT" | version u8 (1) | argon2id m_kib u32 | t u32 | p u32 | salt (16) | export id (16)
//! then per chunk: length u32 | 0x01 | nonce (12) | ciphertext | tag (16)
//! ```
//!
//! Integers are big-endian. The header is authenticated through the key (KDF parameters, salt)
//! and the associated data (export id): changing any of its bytes makes the first chunk fail.
//! The same writer seals the job's scratch files (spools) under a random key nobody keeps.

use std::io::{self, Read, Write};
use std::sync::Arc;

use crypto::{Key256, SEALED_OVERHEAD, Sha256, Zeroizing};
use types::ExportId;

use crate::passphrase::KdfParams;
use crate::{Error, Result};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"SREXPORT";
/// The format version this crate writes and reads.
pub const VERSION: u8 = 1;
/// Bytes of plaintext per chunk.
pub const CHUNK: usize = 1 << 20;
/// Bytes of the clear header.
pub const HEADER_LEN: usize = 8 + 1 + 12 + 16 + 16;

/// The clear header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kdf: KdfParams,
    pub salt: [u8; 16],
    pub export: ExportId,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8] = VERSION;
        out[9..13].copy_from_slice(&self.kdf.m_kib.to_be_bytes());
        out[13..17].copy_from_slice(&self.kdf.t.to_be_bytes());
        out[17..21].copy_from_slice(&self.kdf.p.to_be_bytes());
        out[21..37].copy_from_slice(&self.salt);
        out[37..53].copy_from_slice(self.export.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header> {
        if &bytes[..8] != MAGIC {
            return Err(Error::Format("not a Strongroom export (.srx) file".into()));
        }
        if bytes[8] != VERSION {
            return Err(Error::Format(format!(
                "export format version {} is not one this program reads (it reads {VERSION})",
                bytes[8]
            )));
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[21..37]);
        let mut export = [0u8; 16];
        export.copy_from_slice(&bytes[37..53]);
        Ok(Header {
            kdf: KdfParams {
                m_kib: u32_at(9),
                t: u32_at(13),
                p: u32_at(17),
            },
            salt,
            export: ExportId::from_bytes(export),
        })
    }
}

/// The associated data of chunk `index`.
pub fn aad(export: ExportId, index: u64, last: bool) -> Vec<u8> {
    format!("strongroom/export/v1|{export}|{index}|{}", u8::from(last)).into_bytes()
}

/// Seals what is written to it into chunks; [`SealWriter::finish`] seals the last one.
pub struct SealWriter<W: Write> {
    inner: W,
    key: Arc<Key256>,
    export: ExportId,
    buf: Zeroizing<Vec<u8>>,
    index: u64,
    /// Plaintext bytes taken.
    plain: u64,
    /// Bytes written to `inner` and their SHA-256.
    written: u64,
    digest: Sha256,
}

/// What a finished writer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub plain: u64,
    pub size: u64,
    pub sha256: [u8; 32],
}

impl<W: Write> SealWriter<W> {
    /// A writer that first writes `header` (when given) in the clear.
    pub fn new(
        mut inner: W,
        key: Arc<Key256>,
        export: ExportId,
        header: Option<&Header>,
    ) -> Result<Self> {
        let mut digest = Sha256::new();
        let mut written = 0;
        if let Some(h) = header {
            let bytes = h.encode();
            inner
                .write_all(&bytes)
                .map_err(Error::io("writing the archive"))?;
            digest.update(&bytes);
            written = bytes.len() as u64;
        }
        Ok(SealWriter {
            inner,
            key,
            export,
            buf: Zeroizing::new(Vec::with_capacity(CHUNK)),
            index: 0,
            plain: 0,
            written,
            digest,
        })
    }

    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let sealed = crypto::seal(&self.key, &aad(self.export, self.index, last), &self.buf);
        let len = (sealed.len() as u32).to_be_bytes();
        self.inner.write_all(&len)?;
        self.inner.write_all(&sealed)?;
        self.digest.update(&len);
        self.digest.update(&sealed);
        self.written += (len.len() + sealed.len()) as u64;
        self.index += 1;
        self.buf.clear();
        Ok(())
    }

    /// Seals the last chunk and returns the inner writer and what was written.
    pub fn finish(mut self) -> Result<(W, Written)> {
        self.seal_chunk(true)
            .map_err(Error::io("writing the archive"))?;
        self.inner
            .flush()
            .map_err(Error::io("writing the archive"))?;
        let written = Written {
            plain: self.plain,
            size: self.written,
            sha256: self.digest.finish(),
        };
        Ok((self.inner, written))
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full chunk is sealed only once more data comes: the last one is sealed by `finish`.
        if self.buf.len() == CHUNK {
            self.seal_chunk(false)?;
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.plain += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the plaintext of a sealed stream, chunk by chunk, refusing any chunk that does not
/// open in its place; the end of the stream must be the chunk sealed as last.
pub struct OpenReader<R: Read> {
    inner: R,
    key: Arc<Key256>,
    export: ExportId,
    index: u64,
    /// The next chunk's length, read ahead (None: the stream ended).
    next_len: Option<u32>,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    done: bool,
}

/// Reads a big-endian u32, or None at a clean end of the stream.
fn read_len<R: Read>(r: &mut R) -> Result<Option<u32>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(Error::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading the archive")(e)),
        }
    }
    Ok(Some(u32::from_be_bytes(len)))
}

impl<R: Read> OpenReader<R> {
    /// A reader of the chunks that follow in `inner` (the header already read).
    pub fn new(mut inner: R, key: Arc<Key256>, export: ExportId) -> Result<Self> {
        let next_len = read_len(&mut inner)?;
        if next_len.is_none() {
            return Err(Error::Truncated);
        }
        Ok(OpenReader {
            inner,
            key,
            export,
            index: 0,
            next_len,
            plain: Zeroizing::new(Vec::new()),
            pos: 0,
            done: false,
        })
    }

    fn next_chunk(&mut self) -> Result<bool> {
        let Some(len) = self.next_len else {
            self.done = true;
            return Ok(false);
        };
        let len = len as usize;
        if !(SEALED_OVERHEAD..=CHUNK + SEALED_OVERHEAD).contains(&len) {
            return Err(Error::Chunk { index: self.index });
        }
        let mut sealed = vec![0u8; len];
        self.inner
            .read_exact(&mut sealed)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => Error::Truncated,
                _ => Error::io("reading the archive")(e),
            })?;
        self.next_len = read_len(&mut self.inner)?;
        let last = self.next_len.is_none();
        let aad = aad(self.export, self.index, last);
        self.plain =
            crypto::open(&self.key, &aad, &sealed).map_err(|_| match (self.index, last) {
                (0, _) => Error::FirstChunk,
                (_, true) => Error::LastChunk { index: self.index },
                _ => Error::Chunk { index: self.index },
            })?;
        self.pos = 0;
        self.index += 1;
        Ok(true)
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done || !self.next_chunk().map_err(io::Error::other)? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The crate's error inside an `io::Error` that an [`OpenReader`] returned, if it is one.
pub fn unwrap_io(e: io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(_) => match e.into_inner().map(|b| b.downcast::<Error>()) {
            Some(Ok(inner)) => *inner,
            _ => Error::Format("unreadable archive".into()),
        },
        None => Error::io("reading the archive")(e),
    }
}
