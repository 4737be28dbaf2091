//! Scratch files of a running export: a member whose size is known only once it is written
//! (a collection's NDJSON or CSV, the user list, the trail, the manifest) is written here first,
//! sealed under a random key that only this value holds, then copied into the tar stream. The
//! file has no name (unlinked at creation), so a crash leaves nothing behind either.

use std::io::{BufWriter, Seek, Write};
use std::path::Path;
use std::sync::Arc;

use crypto::{Key256, Sha256};
use types::ExportId;

use crate::sealed::{OpenReader, SealWriter};
use crate::{Error, Result};

/// A member being written.
pub(crate) struct Spool {
    writer: SealWriter<BufWriter<std::fs::File>>,
    key: Arc<Key256>,
    id: ExportId,
    sha: Sha256,
}

/// A finished member: its size, SHA-256 and a reader of its plaintext.
pub(crate) struct Spooled {
    pub size: u64,
    pub sha256: [u8; 32],
    pub reader: OpenReader<std::io::BufReader<std::fs::File>>,
}

impl Spool {
    pub fn new(dir: &Path) -> Result<Spool> {
        let file = tempfile::tempfile_in(dir).map_err(Error::io("creating a scratch file"))?;
        let key = Arc::new(Key256::generate());
        let id = ExportId::random();
        let writer = SealWriter::new(BufWriter::new(file), Arc::clone(&key), id, None)?;
        Ok(Spool {
            writer,
            key,
            id,
            sha: Sha256::new(),
        })
    }

    pub fn finish(self) -> Result<Spooled> {
        let (buffered, written) = self.writer.finish()?;
        let mut file = buffered
            .into_inner()
            .map_err(|e| Error::io("writing a scratch file")(e.into_error()))?;
        file.rewind().map_err(Error::io("reading a scratch file"))?;
        let reader = OpenReader::new(std::io::BufReader::new(file), self.key, self.id)?;
        Ok(Spooled {
            size: written.plain,
            sha256: self.sha.finish(),
            reader,
        })
    }
}

impl Write for Spool {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.writer.write(data)?;
        self.sha.update(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
