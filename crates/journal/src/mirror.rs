//! One mirror's open segment as the writer sees it, and the worker thread that drives mirror b
//! in parallel with mirror a.
//!
//! Every operation either completes durably (written, synced, file still linked at its path) or
//! returns a cause naming the file and the OS error. This module must never retry a failed
//! fsync (the kernel may have dropped the dirty pages) and never panic.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::format::{HEADER_LEN, SegmentHeader};
use crate::fsutil::create_segment;
use crate::stats::MirrorCounters;

/// A write-path operation, applied identically to both mirrors.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// Write the encoded batch at the current end of the segment, fdatasync, check linkage.
    Write(Arc<Vec<u8>>),
    /// Start a new segment (temp file, sync, rename, directory sync).
    Roll(SegmentHeader),
    /// Best-effort cut back to this length after a failed batch.
    Truncate(u64),
}

/// The segment file currently written in one mirror.
pub(crate) struct MirrorFile {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    len: u64,
    dev: u64,
    ino: u64,
    counters: Arc<MirrorCounters>,
}

impl MirrorFile {
    /// Opens the existing segment `name` of `dir` for writing at `len`.
    pub(crate) fn open(
        dir: &Path,
        name: &str,
        len: u64,
        counters: Arc<MirrorCounters>,
    ) -> Result<Self> {
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        if meta.len() != len {
            return Err(Error::Damaged {
                segment: path,
                offset: len,
                reason: format!(
                    "segment is {} bytes long but recovery left it at {len}; it changed during open",
                    meta.len()
                ),
            });
        }
        Ok(MirrorFile {
            dir: dir.to_path_buf(),
            path,
            file,
            len,
            dev: meta.dev(),
            ino: meta.ino(),
            counters,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Applies `op`; the error names the file and the OS error.
    pub(crate) fn apply(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Write(buf) => self.write(buf),
            Op::Roll(header) => self.roll(header),
            Op::Truncate(len) => {
                self.truncate(*len);
                Ok(())
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> Result<(), String> {
        self.file.write_all_at(buf, self.len).map_err(|e| {
            format!(
                "writing {} bytes at offset {} of {} failed: {e}",
                buf.len(),
                self.len,
                self.path.display()
            )
        })?;
        let start = Instant::now();
        let synced = self.file.sync_data();
        self.counters.record_sync(micros(start));
        synced.map_err(|e| format!("fdatasync of {} failed: {e}", self.path.display()))?;
        self.check_linked()?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// On Linux a removed file still accepts writes through its descriptor: make sure the
    /// segment is still linked, and that its path still names the same file.
    fn check_linked(&self) -> Result<(), String> {
        let meta = self
            .file
            .metadata()
            .map_err(|e| format!("fstat of {} failed: {e}", self.path.display()))?;
        if meta.nlink() == 0 {
            return Err(format!(
                "segment file {} was deleted (is the mirror directory gone?)",
                self.path.display()
            ));
        }
        let at_path = std::fs::metadata(&self.path).map_err(|e| {
            format!(
                "segment file {} no longer resolves: {e} (is the mirror directory gone?)",
                self.path.display()
            )
        })?;
        if (at_path.dev(), at_path.ino()) != (self.dev, self.ino) {
            return Err(format!(
                "path {} now names a different file than the segment being written (was the \
                 mirror directory replaced?)",
                self.path.display()
            ));
        }
        Ok(())
    }

    fn roll(&mut self, header: &SegmentHeader) -> Result<(), String> {
        let start = Instant::now();
        let created = create_segment(&self.dir, header);
        self.counters.record_sync(micros(start));
        let (file, path) = created.map_err(|e| format!("creating a new segment failed: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("fstat of {} failed: {e}", path.display()))?;
        self.file = file;
        self.path = path;
        self.len = HEADER_LEN;
        self.dev = meta.dev();
        self.ino = meta.ino();
        Ok(())
    }

    fn truncate(&mut self, len: u64) {
        let result = self.file.set_len(len).and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => self.len = len,
            Err(e) => tracing::error!(
                segment = %self.path.display(),
                "could not truncate {} back to {len} bytes after a failed batch: {e}",
                self.path.display()
            ),
        }
    }
}

fn micros(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A thread that owns one mirror's file and applies operations sent to it, so that both
/// mirrors write and sync at the same time.
pub(crate) struct MirrorWorker {
    dir: PathBuf,
    jobs: Option<mpsc::Sender<Op>>,
    done: mpsc::Receiver<Result<(), String>>,
    handle: Option<JoinHandle<()>>,
}

impl MirrorWorker {
    pub(crate) fn spawn(mut file: MirrorFile) -> Result<Self> {
        let dir = file.dir.clone();
        let (jobs_tx, jobs_rx) = mpsc::channel::<Op>();
        let (done_tx, done_rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("journal-mirror-b".to_owned())
            .spawn(move || {
                while let Ok(op) = jobs_rx.recv() {
                    if done_tx.send(file.apply(&op)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Error::io(&dir, e))?;
        Ok(MirrorWorker {
            dir,
            jobs: Some(jobs_tx),
            done: done_rx,
            handle: Some(handle),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hands `op` to the worker; `false` when the worker is gone.
    pub(crate) fn start(&self, op: Op) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.send(op).is_ok())
    }

    /// Waits for the result of the operation handed over by [`MirrorWorker::start`].
    pub(crate) fn finish(&self) -> Result<(), String> {
        self.done.recv().unwrap_or_else(|_| Err(self.gone()))
    }

    pub(crate) fn gone(&self) -> String {
        format!(
            "the worker thread of mirror {} stopped unexpectedly",
            self.dir.display()
        )
    }
}

impl Drop for MirrorWorker {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            tracing::error!(mirror = %self.dir.display(), "mirror worker thread panicked");
        }
    }
}
