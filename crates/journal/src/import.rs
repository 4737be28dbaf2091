//! The importer: writes a journal, entry by entry, into two empty mirror directories, the way a
//! restore rebuilds the journal of a backup on a bare machine.
//!
//! Every entry is encoded once, with the writer's own format code, into one buffer that is
//! written to both mirrors, so the mirrors are byte-identical and each segment is laid out as the
//! writer lays out entries appended one at a time (same header, frames and roll rule). Nothing is
//! synced before [`Importer::finish`], which syncs every segment and both directories. Until then
//! each mirror holds a marker file (`import-unfinished`) that makes `open`, `verify`, `scan_dir`
//! and `repair` refuse it. This module must never write into a directory that held anything,
//! never write a journal that is open, and never let an unfinished import pass for a journal.
//!
//! Segments are written under their final `.seg` names, not created as `.seg.tmp` and renamed.
//! Recovery deletes every `.seg.tmp` file as an interrupted creation and takes a finished journal
//! to be `.seg` files whose last one may still grow, so the files must end under `.seg` names
//! anyway; renaming each one at `finish` would only add steps that can be interrupted. Names
//! are not what keeps a half-written import from opening: an interrupted import can hold a
//! segment cut in the middle of a frame, or a segment that was named but whose bytes never
//! reached the disk, which recovery would take for a torn tail and truncate into a short,
//! plausible journal. The marker refuses every such state before a segment is read, and
//! `finish` removes it only after every segment, the start file and both directories are synced.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::config::JournalConfig;
use crate::error::{Error, Result};
use crate::format::{
    HEADER_LEN, IMPORT_MARKER, SegmentHeader, ZERO_HASH, chain, encode_frame, frame_len,
    segment_name,
};
use crate::fsutil::{create_dir_durable, fsync_dir, remove_file};
use crate::start::write_start;
use crate::{MAX_PAYLOAD, Position};

/// Encoded bytes gathered before they are written to both mirrors (one frame may exceed it).
const BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// What the marker file says to whoever finds it.
const MARKER_TEXT: &[u8] = b"An import (a restore) into this directory has not finished: it holds \
no journal. Empty both mirror directories and run the import again.\n";

/// Writes a journal, entry by entry, into two empty mirror directories: the way a restore
/// rebuilds the journal of a backup. Not for a journal that is open.
///
/// Dropping it without [`Importer::finish`] leaves the directories refused by
/// [`crate::Journal::open`], [`crate::verify`] and [`crate::repair`]
/// ([`Error::ImportUnfinished`]) until they are emptied.
pub struct Importer {
    /// Mirror a and mirror b.
    dirs: [PathBuf; 2],
    /// The segment being written, in each mirror.
    files: [File; 2],
    /// First seqs of the segments created so far, oldest first; the last one is `files`'.
    segments: Vec<u64>,
    /// Bytes of the current segment encoded and not yet written to either mirror.
    pending: Vec<u8>,
    /// Length of the current segment, `pending` included.
    seg_len: u64,
    segment_bytes: u64,
    head: Position,
    /// The first failed write: the mirrors may differ from then on, so nothing more is written.
    failed: Option<String>,
}

impl Importer {
    /// `a`, `b`: the mirror directories; each must not exist or be empty (else an error naming
    /// it). `start`: the position before the first entry to come: [`Position::EMPTY`] for a
    /// whole journal, or the position where an earlier part was removed (then the start file is
    /// written in both mirrors, exactly as [`crate::Journal::remove_segments_before`] would
    /// leave it, so that `open`, `verify` and `scan_dir` accept a chain that starts there).
    /// `segment_bytes`: roll to a new segment before an entry that would take the segment past
    /// it (the writer's rule).
    pub fn create(a: &Path, b: &Path, start: Position, segment_bytes: u64) -> Result<Importer> {
        let config = JournalConfig {
            a: a.to_path_buf(),
            b: b.to_path_buf(),
            segment_bytes,
            max_batch_bytes: JournalConfig::DEFAULT_MAX_BATCH_BYTES,
        };
        config.validate()?;
        check_start(start)?;
        for dir in [a, b] {
            refuse_unless_empty(dir)?;
        }
        for dir in [a, b] {
            create_dir_durable(dir)?;
        }
        // Both exist now: two names of one directory are caught even through a symlinked parent.
        config.validate()?;
        for dir in [a, b] {
            mark_unfinished(dir)?;
            write_start(dir, start)?;
        }
        let first_seq = start.seq + 1;
        let files = [new_segment(a, first_seq)?, new_segment(b, first_seq)?];
        let mut pending = Vec::with_capacity(BUFFER_BYTES);
        pending.extend_from_slice(&header_after(start).encode());
        Ok(Importer {
            dirs: [a.to_path_buf(), b.to_path_buf()],
            files,
            segments: vec![first_seq],
            pending,
            seg_len: HEADER_LEN,
            segment_bytes,
            head: start,
            failed: None,
        })
    }

    /// Appends entry `seq` with `payload`. `seq` must be head + 1 and the payload at most
    /// [`MAX_PAYLOAD`], else an error (nothing written for that entry). Returns the position
    /// after it (its chain hash). After a failed write every later call fails.
    pub fn push(&mut self, seq: u64, payload: &[u8]) -> Result<Position> {
        self.refuse_after_failure()?;
        if self.head.seq.checked_add(1) != Some(seq) {
            return Err(Error::ImportRefused(format!(
                "entry {seq} cannot follow entry {} in {} and {}: entries come in order, without \
                 gap or repeat",
                self.head.seq,
                self.dirs[0].display(),
                self.dirs[1].display()
            )));
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::TooLarge {
                size: payload.len(),
            });
        }
        let frame = frame_len(payload.len());
        // The writer's roll rule, for a batch of one entry.
        if self.seg_len > HEADER_LEN && self.seg_len + frame > self.segment_bytes {
            self.guard(Importer::roll)?;
        }
        let hash = chain(&self.head.hash, seq, payload);
        encode_frame(&mut self.pending, seq, payload);
        self.seg_len += frame;
        if self.pending.len() >= BUFFER_BYTES {
            self.guard(Importer::flush)?;
        }
        self.head = Position { seq, hash };
        Ok(self.head)
    }

    /// The position after the last entry pushed (the start when none).
    pub fn head(&self) -> Position {
        self.head
    }

    /// Writes what is buffered, fdatasyncs every segment in both mirrors (the two mirrors in
    /// parallel) and both directories, then removes the marker; returns the head. Until it
    /// returns `Ok`, nothing promises that the directories hold a journal.
    pub fn finish(mut self) -> Result<Position> {
        self.refuse_after_failure()?;
        self.flush()?;
        let Importer {
            dirs,
            files: [file_a, file_b],
            segments,
            head,
            ..
        } = self;
        std::thread::scope(|scope| {
            let thread = std::thread::Builder::new()
                .name("journal-import-sync".to_owned())
                .spawn_scoped(scope, || sync_mirror(&dirs[1], &segments, &file_b));
            let synced_a = sync_mirror(&dirs[0], &segments, &file_a);
            let synced_b = match thread {
                Ok(thread) => thread.join().unwrap_or_else(|_| {
                    Err(Error::io(
                        &dirs[1],
                        std::io::Error::other("the thread syncing this mirror panicked"),
                    ))
                }),
                Err(_) => sync_mirror(&dirs[1], &segments, &file_b),
            };
            synced_a.and(synced_b)
        })?;
        for dir in &dirs {
            remove_file(&dir.join(IMPORT_MARKER))?;
            fsync_dir(dir)?;
        }
        tracing::info!(
            a = %dirs[0].display(),
            b = %dirs[1].display(),
            head = head.seq,
            segments = segments.len(),
            "journal imported"
        );
        Ok(head)
    }

    fn refuse_after_failure(&self) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(cause) => Err(Error::ImportRefused(format!(
                "an earlier write failed ({cause}), so nothing more is written; empty {} and {} \
                 and run the import again",
                self.dirs[0].display(),
                self.dirs[1].display()
            ))),
        }
    }

    /// Runs a step that writes; its failure fails the whole import.
    fn guard(&mut self, step: fn(&mut Importer) -> Result<()>) -> Result<()> {
        let result = step(self);
        if let Err(e) = &result {
            self.failed = Some(e.to_string());
        }
        result
    }

    /// Writes the buffered bytes at the end of the current segment of both mirrors.
    fn flush(&mut self) -> Result<()> {
        let name = segment_name(self.segments.last().copied().unwrap_or(1));
        for (dir, file) in self.dirs.iter().zip(&mut self.files) {
            file.write_all(&self.pending)
                .map_err(|e| Error::io(dir.join(&name), e))?;
        }
        self.pending.clear();
        Ok(())
    }

    /// Seals the current segment and starts the next one after the head, in both mirrors.
    fn roll(&mut self) -> Result<()> {
        self.flush()?;
        let first_seq = self.head.seq + 1;
        self.files = [
            new_segment(&self.dirs[0], first_seq)?,
            new_segment(&self.dirs[1], first_seq)?,
        ];
        self.segments.push(first_seq);
        self.pending
            .extend_from_slice(&header_after(self.head).encode());
        self.seg_len = HEADER_LEN;
        Ok(())
    }
}

/// The header of a segment whose first entry follows `prev`.
fn header_after(prev: Position) -> SegmentHeader {
    SegmentHeader {
        first_seq: prev.seq + 1,
        prev_hash: prev.hash,
    }
}

fn check_start(start: Position) -> Result<()> {
    if start.seq == 0 && start.hash != ZERO_HASH {
        return Err(Error::ImportRefused(
            "a journal starting before entry 1 starts at the zero hash".to_owned(),
        ));
    }
    if start.seq == u64::MAX {
        return Err(Error::ImportRefused(format!(
            "no entry can follow entry {}",
            start.seq
        )));
    }
    Ok(())
}

/// Refuses a directory that exists and holds anything (or is not a directory).
fn refuse_unless_empty(dir: &Path) -> Result<()> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    match entries.next() {
        None => Ok(()),
        Some(Err(e)) => Err(Error::io(dir, e)),
        Some(Ok(entry)) => Err(Error::ImportRefused(format!(
            "{} is not empty (it holds {}); an import writes only into an empty or new directory",
            dir.display(),
            entry.file_name().to_string_lossy()
        ))),
    }
}

/// Leaves the marker in `dir`, durably, before any segment exists there.
fn mark_unfinished(dir: &Path) -> Result<()> {
    let path = dir.join(IMPORT_MARKER);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    file.write_all(MARKER_TEXT)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&path, e))?;
    fsync_dir(dir)
}

/// Creates the (empty) file of the segment starting at `first_seq`; its header is buffered.
fn new_segment(dir: &Path, first_seq: u64) -> Result<File> {
    let path = dir.join(segment_name(first_seq));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))
}

/// fdatasyncs every segment of one mirror (the sealed ones reopened, the last through `last`),
/// then the directory, so that every segment's name is durable too.
fn sync_mirror(dir: &Path, segments: &[u64], last: &File) -> Result<()> {
    let Some((&last_seq, sealed)) = segments.split_last() else {
        return fsync_dir(dir);
    };
    for &first_seq in sealed {
        let path = dir.join(segment_name(first_seq));
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|file| file.sync_data())
            .map_err(|e| Error::io(&path, e))?;
    }
    let path = dir.join(segment_name(last_seq));
    last.sync_data().map_err(|e| Error::io(&path, e))?;
    fsync_dir(dir)
}
