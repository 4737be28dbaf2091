//! Reading segment files: listing a mirror directory, the frame reader, and the scan that
//! computes a mirror's valid prefix.
//!
//! Read-only: nothing here writes, truncates or deletes. A scan stops at the first problem and
//! says exactly where it is (segment file and byte offset); deciding what to do about it belongs
//! to `recover`, `repair` and `verify`.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{
    FRAME_HEADER_LEN, FrameHeader, HEADER_LEN, IMPORT_MARKER, SEGMENT_SUFFIX, SegmentHeader,
    TMP_SUFFIX, chain, frame_len, parse_segment_name, short_hex,
};
use crate::start::{START_FILE, read_start};
use crate::{Position, verify::Problem};

/// What a mirror directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DirState {
    /// The directory does not exist.
    Missing,
    /// The directory exists but holds no segment file.
    Empty,
    /// At least one segment file.
    Present,
}

/// A segment file found in a mirror directory.
#[derive(Clone, Debug)]
pub(crate) struct SegmentFile {
    pub first_seq: u64,
    pub name: String,
    pub path: PathBuf,
}

/// The files of a mirror directory, sorted by first seq.
#[derive(Debug)]
pub(crate) struct Listing {
    pub state: DirState,
    pub segments: Vec<SegmentFile>,
    /// Leftover `.seg.tmp` files from an interrupted segment creation or copy.
    pub tmp_files: Vec<PathBuf>,
    /// Files ending in `.seg` whose name is not a valid segment name.
    pub bad_names: Vec<PathBuf>,
    /// The marker of an import that has not finished: then the directory holds no journal.
    pub unfinished_import: Option<PathBuf>,
}

/// Lists a mirror directory. Files that are neither segments, temp segments nor the marker of
/// an unfinished import are ignored.
pub(crate) fn list_dir(dir: &Path) -> Result<Listing> {
    let mut listing = Listing {
        state: DirState::Missing,
        segments: Vec::new(),
        tmp_files: Vec::new(),
        bad_names: Vec::new(),
        unfinished_import: None,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(listing),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == IMPORT_MARKER {
            listing.unfinished_import = Some(path);
        } else if name.ends_with(TMP_SUFFIX) {
            listing.tmp_files.push(path);
        } else if let Some(first_seq) = parse_segment_name(&name) {
            listing.segments.push(SegmentFile {
                first_seq,
                name,
                path,
            });
        } else if name.ends_with(SEGMENT_SUFFIX) {
            listing.bad_names.push(path);
        }
    }
    listing.segments.sort_by_key(|s| s.first_seq);
    listing.bad_names.sort();
    let nothing = listing.segments.is_empty() && listing.bad_names.is_empty();
    listing.state = if nothing && listing.unfinished_import.is_none() {
        DirState::Empty
    } else {
        DirState::Present
    };
    Ok(listing)
}

/// One decoded, checked frame.
#[derive(Debug)]
pub(crate) struct Frame {
    pub seq: u64,
    pub hash: [u8; 32],
    pub payload: Vec<u8>,
    /// Byte offset of the frame in its segment file.
    pub offset: u64,
}

/// Why reading a segment stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The OS refused a read.
    Io(Error),
    /// The header is unreadable or inconsistent (never a torn write).
    BadHeader(Problem),
    /// A frame is short, fails its checksum or has the wrong seq.
    BadFrame(Problem),
}

impl ReadError {
    pub(crate) fn into_error(self) -> Error {
        match self {
            ReadError::Io(e) => e,
            ReadError::BadHeader(p) | ReadError::BadFrame(p) => Error::Damaged {
                segment: p.segment,
                offset: p.offset,
                reason: p.reason,
            },
        }
    }
}

/// Sequential reader of one segment file: checks the header, then every frame's checksum and
/// seq, and computes the chain hash as it goes.
pub(crate) struct SegmentReader {
    path: PathBuf,
    reader: BufReader<File>,
    file_len: u64,
    offset: u64,
    next_seq: u64,
    hash: [u8; 32],
    header: SegmentHeader,
}

impl SegmentReader {
    pub(crate) fn open(path: &Path) -> Result<Self, ReadError> {
        let io = |e| ReadError::Io(Error::io(path, e));
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let problem = |reason: String| {
            ReadError::BadHeader(Problem {
                segment: path.to_path_buf(),
                offset: 0,
                reason,
            })
        };
        if file_len < HEADER_LEN {
            return Err(problem(format!(
                "file is {file_len} bytes, shorter than the {HEADER_LEN}-byte segment header"
            )));
        }
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut bytes = [0u8; HEADER_LEN as usize];
        reader.read_exact(&mut bytes).map_err(io)?;
        let header = SegmentHeader::decode(&bytes).map_err(problem)?;
        Ok(SegmentReader {
            path: path.to_path_buf(),
            reader,
            file_len,
            offset: HEADER_LEN,
            next_seq: header.first_seq,
            hash: header.prev_hash,
            header,
        })
    }

    pub(crate) fn header(&self) -> SegmentHeader {
        self.header
    }

    /// End of the last good frame read so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Seq the next frame must carry.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Chain hash after the last good frame read so far.
    pub(crate) fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The next frame, `None` at a clean end of file.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        if self.offset == self.file_len {
            return Ok(None);
        }
        let left = self.file_len - self.offset;
        if left < FRAME_HEADER_LEN as u64 {
            return Err(self.bad(
                self.offset,
                format!("truncated frame header: only {left} bytes left in the file"),
            ));
        }
        let mut hdr = [0u8; FRAME_HEADER_LEN];
        self.read_exact(&mut hdr)?;
        let fh = FrameHeader::decode(&hdr);
        let len = fh.check_len().map_err(|r| self.bad(self.offset, r))?;
        if left < frame_len(len) {
            return Err(self.bad(
                self.offset,
                format!(
                    "frame of {len} payload bytes runs past the end of the file ({left} bytes left)"
                ),
            ));
        }
        let mut payload = vec![0u8; len];
        self.read_exact(&mut payload)?;
        fh.check_crc(&payload)
            .map_err(|r| self.bad(self.offset, r))?;
        if fh.seq != self.next_seq {
            return Err(self.bad(
                self.offset,
                format!("frame has seq {}, expected {}", fh.seq, self.next_seq),
            ));
        }
        let hash = chain(&self.hash, fh.seq, &payload);
        let frame = Frame {
            seq: fh.seq,
            hash,
            payload,
            offset: self.offset,
        };
        self.offset += frame_len(len);
        self.next_seq += 1;
        self.hash = hash;
        Ok(Some(frame))
    }

    fn bad(&self, offset: u64, reason: String) -> ReadError {
        ReadError::BadFrame(Problem {
            segment: self.path.clone(),
            offset,
            reason,
        })
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ReadError> {
        self.reader
            .read_exact(buf)
            .map_err(|e| ReadError::Io(Error::io(&self.path, e)))
    }
}

/// One segment as far as the scan validated it.
#[derive(Clone, Debug)]
pub(crate) struct ScannedSegment {
    pub first_seq: u64,
    pub name: String,
    pub path: PathBuf,
    pub file_len: u64,
    /// Chain hash before its first entry (from its header).
    pub prev_hash: [u8; 32],
    /// End of the last good frame (the whole file when the segment has no problem).
    pub valid_len: u64,
    /// Seq of the last good frame, or `first_seq - 1` when it has none.
    pub end_seq: u64,
    /// Chain hash after `end_seq`.
    pub end_hash: [u8; 32],
}

/// The valid prefix of one mirror and its first problem.
#[derive(Debug)]
pub(crate) struct MirrorScan {
    pub dir: PathBuf,
    pub listing: Listing,
    /// Scanned segments, up to and including the one holding the problem (if any).
    pub segments: Vec<ScannedSegment>,
    /// The position before the first entry: from the start file, [`Position::EMPTY`] without.
    pub start: Position,
    /// Segments wholly before the start (an interrupted removal), not part of the chain.
    pub leftovers: Vec<SegmentFile>,
    /// Last good entry.
    pub head: Position,
    pub problem: Option<Problem>,
    /// The problem is a bad frame in the last segment file: a torn tail that may be truncated.
    pub torn: bool,
}

impl MirrorScan {
    /// True when the mirror has no problem other than a torn tail.
    pub(crate) fn is_healthy(&self) -> bool {
        self.problem.is_none() || self.torn
    }

    /// Refuses a mirror that holds an import that has not finished: it holds no journal.
    pub(crate) fn refuse_unfinished_import(&self) -> Result<()> {
        match &self.listing.unfinished_import {
            Some(marker) => Err(Error::ImportUnfinished {
                marker: marker.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Scans a mirror directory: every segment header, frame checksum, seq and the chain across
/// segments, stopping at the first problem. Only OS errors are returned as `Err`.
pub(crate) fn scan_mirror(dir: &Path) -> Result<MirrorScan> {
    let mut listing = list_dir(dir)?;
    let mut scan = MirrorScan {
        dir: dir.to_path_buf(),
        segments: Vec::new(),
        start: Position::EMPTY,
        leftovers: Vec::new(),
        head: Position::EMPTY,
        problem: None,
        torn: false,
        listing: Listing {
            state: listing.state,
            segments: Vec::new(),
            tmp_files: std::mem::take(&mut listing.tmp_files),
            bad_names: std::mem::take(&mut listing.bad_names),
            unfinished_import: listing.unfinished_import.take(),
        },
    };
    if let Some(marker) = &scan.listing.unfinished_import {
        // Whatever segments an unfinished import left are no journal, not even a torn one.
        scan.problem = Some(Problem {
            segment: marker.clone(),
            offset: 0,
            reason: "an import into this directory did not finish, so it holds no journal: \
                     empty both mirror directories and run the import again"
                .to_owned(),
        });
        return Ok(scan);
    }
    match read_start(dir)? {
        None => {}
        Some(Ok(start)) => scan.start = start,
        Some(Err(problem)) => scan.problem = Some(problem),
    }
    if scan.start != Position::EMPTY || scan.problem.is_some() {
        // A start file alone still makes a journal: one whose segments are all gone.
        scan.listing.state = DirState::Present;
    }
    let (leftovers, files): (Vec<_>, Vec<_>) = listing
        .segments
        .into_iter()
        .partition(|s| s.first_seq <= scan.start.seq);
    scan.leftovers = leftovers;
    scan.listing.segments = files.clone();
    if scan.problem.is_some() {
        return Ok(scan);
    }
    if files.is_empty() && scan.start != Position::EMPTY {
        scan.problem = Some(Problem {
            segment: dir.join(START_FILE),
            offset: 0,
            reason: format!(
                "the start file names seq {} as the first entry but no segment file starts there",
                scan.start.seq + 1
            ),
        });
        return Ok(scan);
    }
    let last = files.len().saturating_sub(1);
    let mut head = scan.start;
    for (i, file) in files.iter().enumerate() {
        let stop = scan_segment(file, i == last, &mut head, &mut scan)?;
        if stop {
            break;
        }
    }
    scan.head = head;
    if scan.problem.is_none()
        && let Some(path) = scan.listing.bad_names.first()
    {
        scan.problem = Some(Problem {
            segment: path.clone(),
            offset: 0,
            reason: "file name ends in .seg but is not a segment name (20 digits + .seg)"
                .to_owned(),
        });
    }
    Ok(scan)
}

/// Scans one segment into `scan`; returns true when the scan must stop (a problem was found).
fn scan_segment(
    file: &SegmentFile,
    is_last: bool,
    head: &mut Position,
    scan: &mut MirrorScan,
) -> Result<bool> {
    let problem = |offset: u64, reason: String| Problem {
        segment: file.path.clone(),
        offset,
        reason,
    };
    let expected = head.seq + 1;
    if file.first_seq != expected {
        scan.problem = Some(problem(
            0,
            format!(
                "segment starts at seq {} but the entries before it end at seq {}: a segment \
                 file is missing or out of place",
                file.first_seq, head.seq
            ),
        ));
        return Ok(true);
    }
    let mut reader = match SegmentReader::open(&file.path) {
        Ok(r) => r,
        Err(ReadError::Io(e)) => return Err(e),
        Err(ReadError::BadHeader(p) | ReadError::BadFrame(p)) => {
            scan.problem = Some(p);
            return Ok(true);
        }
    };
    let header = reader.header();
    if header.first_seq != file.first_seq {
        scan.problem = Some(problem(
            0,
            format!(
                "header says the segment starts at seq {}, its file name says {}",
                header.first_seq, file.first_seq
            ),
        ));
        return Ok(true);
    }
    if header.prev_hash != head.hash {
        scan.problem = Some(problem(
            24,
            format!(
                "chain broken: the header's previous hash {} differs from the hash {} of entry {}",
                short_hex(&header.prev_hash),
                short_hex(&head.hash),
                head.seq
            ),
        ));
        return Ok(true);
    }
    let mut stop = false;
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                *head = Position {
                    seq: frame.seq,
                    hash: frame.hash,
                }
            }
            Ok(None) => break,
            Err(ReadError::Io(e)) => return Err(e),
            Err(ReadError::BadHeader(p) | ReadError::BadFrame(p)) => {
                scan.problem = Some(p);
                scan.torn = is_last;
                stop = true;
                break;
            }
        }
    }
    scan.segments.push(ScannedSegment {
        first_seq: file.first_seq,
        name: file.name.clone(),
        path: file.path.clone(),
        file_len: reader.file_len,
        prev_hash: header.prev_hash,
        valid_len: reader.offset(),
        end_seq: head.seq,
        end_hash: reader.hash(),
    });
    debug_assert_eq!(reader.hash(), head.hash);
    Ok(stop)
}
