//! Reading committed entries back: the iterator returned by `Journal::read_from`.
//!
//! Read-only, and never past the head captured when the iterator was made (frames beyond it may
//! be half-written). It reads mirror a; on any error it continues from mirror b at the same
//! entry, checking that b's chain continues a's. It must never return an entry whose checksum,
//! seq or chain link was not verified.

use std::path::PathBuf;

use crate::Entry;
use crate::error::{Error, Result};
use crate::format::short_hex;
use crate::scan::{ReadError, SegmentFile, SegmentReader, list_dir};

/// Iterator over committed entries, in seq order. See [`crate::Journal::read_from`].
pub struct Entries {
    dirs: [PathBuf; 2],
    mirror: usize,
    next_seq: u64,
    end_seq: u64,
    /// Chain hash of entry `next_seq - 1`, once known.
    prev_hash: Option<[u8; 32]>,
    reader: Option<SegmentReader>,
    /// First seq of the segment that just ended: the next one must start after it.
    ended_segment: Option<u64>,
    listing: Option<Vec<SegmentFile>>,
    finished: bool,
}

impl Entries {
    pub(crate) fn new(dirs: [PathBuf; 2], from_seq: u64, end_seq: u64) -> Self {
        Entries {
            dirs,
            mirror: 0,
            next_seq: from_seq.max(1),
            end_seq,
            prev_hash: None,
            reader: None,
            ended_segment: None,
            listing: None,
            finished: false,
        }
    }

    /// Reads one frame; `Ok(None)` when the current segment ended and the next must be opened.
    fn step(&mut self) -> Result<Option<Entry>> {
        let reader = match self.reader.take() {
            Some(r) => self.reader.insert(r),
            None => {
                let r = self.open_segment()?;
                self.reader.insert(r)
            }
        };
        match reader.next_frame().map_err(ReadError::into_error)? {
            Some(frame) => {
                self.next_seq = frame.seq + 1;
                self.prev_hash = Some(frame.hash);
                Ok(Some(Entry {
                    seq: frame.seq,
                    hash: frame.hash,
                    payload: frame.payload,
                }))
            }
            None => {
                self.ended_segment = Some(reader.header().first_seq);
                self.reader = None;
                Ok(None)
            }
        }
    }

    /// Opens the segment of the current mirror holding `next_seq` and skips to it.
    fn open_segment(&mut self) -> Result<SegmentReader> {
        let dir = &self.dirs[self.mirror];
        if self.listing.is_none() {
            self.listing = Some(list_dir(dir)?.segments);
        }
        let seq = self.next_seq;
        let ended = self.ended_segment;
        let segment = self.listing.as_deref().and_then(|segments| {
            segments
                .iter()
                .rev()
                .find(|s| s.first_seq <= seq && ended.is_none_or(|e| s.first_seq > e))
        });
        let Some(segment) = segment else {
            return Err(Error::Damaged {
                segment: dir.clone(),
                offset: 0,
                reason: format!("no segment file holds committed entry {seq}"),
            });
        };
        let path = segment.path.clone();
        let mut reader = SegmentReader::open(&path).map_err(ReadError::into_error)?;
        while reader.next_seq() < seq {
            if reader
                .next_frame()
                .map_err(ReadError::into_error)?
                .is_none()
            {
                return Err(Error::Damaged {
                    segment: path,
                    offset: reader.offset(),
                    reason: format!("segment ends before committed entry {seq}"),
                });
            }
        }
        if let Some(expected) = self.prev_hash
            && reader.hash() != expected
        {
            return Err(Error::Damaged {
                segment: path,
                offset: reader.offset(),
                reason: format!(
                    "chain broken before entry {seq}: expected hash {}, segment gives {}",
                    short_hex(&expected),
                    short_hex(&reader.hash())
                ),
            });
        }
        Ok(reader)
    }
}

impl Iterator for Entries {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        // Each pass either yields, moves to a later segment, or switches to mirror b once, so
        // the loop is bounded by the number of segments.
        while !self.finished && self.next_seq <= self.end_seq {
            match self.step() {
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => {}
                Err(e) if self.mirror == 0 => {
                    tracing::warn!(
                        mirror = %self.dirs[0].display(),
                        "reading entry {} from mirror a failed, falling back to mirror b: {e}",
                        self.next_seq
                    );
                    self.mirror = 1;
                    self.reader = None;
                    self.listing = None;
                    self.ended_segment = None;
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
