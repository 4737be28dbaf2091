//! Journal entries as a part carries them: `seq (u64 BE) | length (u32 BE) | payload`, in seq
//! order. The payloads are the journal's own bytes (entry envelopes already sealed by the
//! engine, or audit entries); the part around them is sealed again under the archive key.

use std::io::Read;

use crate::{Error, Result};

/// Largest payload a reader accepts (the journal's own limit).
const MAX_PAYLOAD: usize = journal::MAX_PAYLOAD;

/// A reader over entries, encoding them lazily: what [`crate::part::seal`] reads from.
pub struct EntryReader<I> {
    entries: I,
    buf: Vec<u8>,
    at: usize,
    /// The last entry encoded (its position), and the latest entry time seen.
    pub last: Option<journal::Position>,
}

impl<I> EntryReader<I>
where
    I: Iterator<Item = std::io::Result<journal::Entry>>,
{
    pub fn new(entries: I) -> Self {
        Self {
            entries,
            buf: Vec::new(),
            at: 0,
            last: None,
        }
    }
}

impl<I> Read for EntryReader<I>
where
    I: Iterator<Item = std::io::Result<journal::Entry>>,
{
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            let Some(entry) = self.entries.next().transpose()? else {
                return Ok(0);
            };
            self.buf.clear();
            self.at = 0;
            let len = u32::try_from(entry.payload.len())
                .map_err(|_| std::io::Error::other("journal entry too large to frame"))?;
            self.buf.extend_from_slice(&entry.seq.to_be_bytes());
            self.buf.extend_from_slice(&len.to_be_bytes());
            self.buf.extend_from_slice(&entry.payload);
            self.last = Some(journal::Position {
                seq: entry.seq,
                hash: entry.hash,
            });
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads entries back from an opened part; `part` names it in errors.
pub struct EntryDecoder<R> {
    reader: R,
    part: String,
}

impl<R: Read> EntryDecoder<R> {
    pub fn new(reader: R, part: &str) -> Self {
        Self {
            reader,
            part: part.to_owned(),
        }
    }

    fn bad(&self, reason: String) -> Error {
        Error::Format {
            part: self.part.clone(),
            reason,
        }
    }

    /// The next entry `(seq, payload)`, or `None` at the end of the part.
    pub fn next_entry(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        let mut head = [0u8; 12];
        let mut got = 0;
        while got < head.len() {
            match self.reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Io {
                        what: format!("reading part {}", self.part),
                        source,
                    });
                }
            }
        }
        if got == 0 {
            return Ok(None);
        }
        if got < head.len() {
            return Err(self.bad("an entry cut short".into()));
        }
        let seq = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
        let len = u32::from_be_bytes(head[8..].try_into().expect("4 bytes")) as usize;
        if len > MAX_PAYLOAD {
            return Err(self.bad(format!("entry {seq} claims {len} bytes")));
        }
        let mut payload = vec![0u8; len];
        self.reader.read_exact(&mut payload).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                self.bad(format!("entry {seq} cut short"))
            } else {
                Error::Io {
                    what: format!("reading part {}", self.part),
                    source,
                }
            }
        })?;
        Ok(Some((seq, payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, payload: &[u8]) -> std::io::Result<journal::Entry> {
        Ok(journal::Entry {
            seq,
            hash: [seq as u8; 32],
            payload: payload.to_vec(),
        })
    }

    #[test]
    fn entries_round_trip_through_small_reads() {
        let entries = vec![entry(5, b"five"), entry(6, b""), entry(7, &[9u8; 3000])];
        let mut reader = EntryReader::new(entries.into_iter());
        let mut bytes = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = reader.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
        assert_eq!(reader.last.map(|p| p.seq), Some(7));
        let mut decoder = EntryDecoder::new(&bytes[..], "journal");
        let mut seen = Vec::new();
        while let Some((seq, payload)) = decoder.next_entry().expect("decodes") {
            seen.push((seq, payload.len()));
        }
        assert_eq!(seen, vec![(5, 4), (6, 0), (7, 3000)]);
        // Cut anywhere inside an entry: refused, naming the part.
        for cut in [3, 12, 15, bytes.len() - 1] {
            let mut decoder = EntryDecoder::new(&bytes[..cut], "journal");
            let result = std::iter::from_fn(|| decoder.next_entry().transpose()).last();
            let error = result.expect("something").expect_err("cut is refused");
            assert!(error.to_string().contains("part journal"), "{error}");
        }
    }
}
