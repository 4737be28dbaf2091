//! The sink file itself: opened only when it is a regular file of mode 0600 (or created so),
//! appended line by line, rotated by size to `<name>.1` … `<name>.<keep>`, fdatasynced on
//! demand. A failed write is resumed where it stopped, so a retry never writes a line twice or
//! leaves half of one; rotation only happens between whole lines.
//!
//! Never follows a symlink to open a file and never widens a file's permissions.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::counters::Counters;
use crate::{Error, Result};

/// Permission bits of the sink file: owner read and write only.
const FILE_MODE: u32 = 0o600;

/// The open sink file and where writing stands.
#[derive(Debug)]
pub(crate) struct Writer {
    path: PathBuf,
    /// `None` between a rotation's rename and the new file's creation (if that failed).
    file: Option<File>,
    /// Bytes in the current file.
    size: u64,
    /// Bytes of the front of the pending lines already written by an interrupted attempt.
    partial: usize,
    max_bytes: u64,
    keep: u32,
    /// Bytes written since the last fdatasync.
    unsynced: bool,
}

impl Writer {
    /// Opens (or creates, mode 0600) the sink file, refusing a symlink, a non-regular file and a
    /// file readable or writable by group or others.
    pub(crate) fn open(path: &Path, max_bytes: u64, keep: u32) -> Result<Writer> {
        let (file, size) = open_checked(path)?;
        Ok(Writer {
            path: path.to_owned(),
            file: Some(file),
            size,
            partial: 0,
            max_bytes,
            keep,
            unsynced: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether bytes were written since the last [`Writer::sync`].
    pub(crate) fn is_unsynced(&self) -> bool {
        self.unsynced
    }

    /// Writes the pending lines (each followed by `\n`), rotating between lines when the next
    /// one would take the file past `max_bytes`. Written lines leave `pending` and are counted
    /// as delivered. On error, what was written stays written and the next call resumes.
    pub(crate) fn write(
        &mut self,
        pending: &mut VecDeque<String>,
        counters: &Counters,
    ) -> Result<()> {
        while !pending.is_empty() {
            if self.file.is_none() {
                self.reopen()?;
            }
            let first = line_len(&pending[0]);
            if self.partial == 0 && self.size > 0 && self.size + first > self.max_bytes {
                self.rotate()?;
                continue;
            }
            let count = self.chunk(pending);
            let mut buf = Vec::new();
            for line in pending.iter().take(count) {
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
            }
            self.write_from_partial(&buf)?;
            pending.drain(..count);
            counters.delivered(count as u64);
        }
        Ok(())
    }

    /// How many front lines fit in the current file (at least one: a line longer than
    /// `max_bytes` gets a file of its own).
    fn chunk(&self, pending: &VecDeque<String>) -> usize {
        let start = self.size - self.partial as u64;
        let mut end = start;
        let mut count = 0;
        for line in pending {
            let len = line_len(line);
            if count > 0 && end + len > self.max_bytes {
                break;
            }
            end += len;
            count += 1;
        }
        count
    }

    fn write_from_partial(&mut self, buf: &[u8]) -> Result<()> {
        let file = self.file.as_mut().ok_or_else(|| Error::Io {
            path: self.path.clone(),
            source: io::Error::other("the sink file is not open"),
        })?;
        while self.partial < buf.len() {
            match file.write(&buf[self.partial..]) {
                Ok(0) => {
                    return Err(io_error(&self.path, io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => {
                    self.partial += n;
                    self.size += n as u64;
                    self.unsynced = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(&self.path, e)),
            }
        }
        self.partial = 0;
        Ok(())
    }

    /// fdatasyncs the current file.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if let Some(file) = &self.file {
            file.sync_data().map_err(|e| io_error(&self.path, e))?;
        }
        self.unsynced = false;
        Ok(())
    }

    /// Syncs the full file, shifts `<name>.i` to `<name>.i+1` (the oldest beyond `keep` is
    /// removed), renames the file to `<name>.1` and starts a new one.
    fn rotate(&mut self) -> Result<()> {
        self.sync()?;
        self.file = None;
        let remove = |path: PathBuf| match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(&path, e)),
            _ => Ok(()),
        };
        if self.keep == 0 {
            remove(self.path.clone())?;
        } else {
            remove(numbered(&self.path, self.keep))?;
            for i in (1..self.keep).rev() {
                rename_if_present(&numbered(&self.path, i), &numbered(&self.path, i + 1))?;
            }
            rename_if_present(&self.path, &numbered(&self.path, 1))?;
        }
        self.reopen()
    }

    fn reopen(&mut self) -> Result<()> {
        let (file, size) = open_checked(&self.path)?;
        sync_dir(&self.path)?;
        self.file = Some(file);
        self.size = size;
        self.partial = 0;
        Ok(())
    }
}

fn line_len(line: &str) -> u64 {
    line.len() as u64 + 1
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// `<path>.<n>`.
pub(crate) fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn rename_if_present(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(from, e)),
        _ => Ok(()),
    }
}

fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

fn unsafe_file(path: &Path, reason: String) -> Error {
    Error::Unsafe {
        path: path.to_owned(),
        reason,
    }
}

/// Opens `path` for appending and returns it with its size. An existing entry must be a regular
/// file (not a symlink) with no group or other permission, and the opened handle must be that
/// very inode; a missing one is created exclusively with mode 0600 (`O_EXCL` does not follow a
/// symlink planted in between).
fn open_checked(path: &Path) -> Result<(File, u64)> {
    let before = match fs::symlink_metadata(path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(path, e)),
    };
    if let Some(meta) = &before {
        if meta.file_type().is_symlink() {
            return Err(unsafe_file(path, "is a symbolic link; refused".into()));
        }
        if !meta.is_file() {
            return Err(unsafe_file(path, "is not a regular file".into()));
        }
        check_mode(path, meta.mode())?;
    }
    let mut options = OpenOptions::new();
    options.append(true);
    if before.is_none() {
        options.create_new(true).mode(FILE_MODE);
    }
    let file = options.open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if let Some(before) = before
        && (before.dev(), before.ino()) != (meta.dev(), meta.ino())
    {
        return Err(unsafe_file(path, "was replaced while it was opened".into()));
    }
    check_mode(path, meta.mode())?;
    Ok((file, meta.len()))
}

fn check_mode(path: &Path, mode: u32) -> Result<()> {
    let mode = mode & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_file(
            path,
            format!(
                "has mode {mode:o}, open to group or others; run `chmod 600 {}`",
                path.display()
            ),
        ));
    }
    Ok(())
}
