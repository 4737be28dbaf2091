//! Durable file-system steps shared by the master key file and the keyring copies: directories
//! created 0700 and fsynced into their parents, files written 0600 through a temporary file,
//! fsync, rename and a directory fsync, and reads that refuse symlinks and special files.
//!
//! Nothing here may report success before the data and the directory entry are on stable
//! storage, follow a symlink when opening a secret, or widen a file's permissions.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crypto::Zeroizing;

use crate::error::{Result, io_error};

/// Mode of every file this crate writes.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of every directory this crate creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` and any missing parents with mode 0700, fsyncing each new entry into its parent.
/// An existing directory is left as it is; an existing non-directory is an error naming it.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(current) = cursor {
        if current.as_os_str().is_empty() || fs::symlink_metadata(current).is_ok() {
            break;
        }
        missing.push(current.to_path_buf());
        cursor = current.parent();
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_error("create directory", dir))?;
    if !fs::metadata(dir)
        .map_err(io_error("inspect directory", dir))?
        .is_dir()
    {
        let source = io::Error::new(io::ErrorKind::NotADirectory, "not a directory");
        return Err(io_error("use directory", dir)(source));
    }
    for created in missing.iter().rev() {
        sync_dir(&parent_dir(created))?;
    }
    Ok(())
}

/// Flushes a directory's entries (a create or rename inside it) to stable storage.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

/// Replaces `dir/name` with `bytes` atomically and durably: `name.tmp` is written with mode 0600
/// and fsynced, renamed over `name`, and `dir` is fsynced. On error `dir/name` is either the old
/// or the new content, never a mix.
pub(crate) fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    ensure_dir(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    let target = dir.join(name);
    // A leftover from a crash (or a planted symlink) is removed, never written through.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("remove stale temporary file", &tmp)(e)),
    }
    let written = write_new_file(&tmp, bytes);
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
        return written;
    }
    if let Err(e) = fs::rename(&tmp, &target) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("rename into place", &target)(e));
    }
    sync_dir(dir)
}

/// Creates `path` (which must not exist) with mode 0600, writes `bytes` and fsyncs the file.
/// The caller fsyncs the directory.
pub(crate) fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_error("create file", path))?;
    // The umask can only narrow the mode above; this makes it exactly 0600 either way.
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(io_error("set permissions of", path))?;
    file.write_all(bytes).map_err(io_error("write", path))?;
    file.sync_all().map_err(io_error("fsync", path))
}

/// Why [`read_regular`] refused a path.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// Nothing at the path.
    Missing,
    /// A symlink, a directory or a special file.
    NotRegular(&'static str),
    /// Bigger than the caller allows.
    TooLarge(u64),
    /// Any other I/O error.
    Io(io::Error),
}

/// A regular file's bytes (zeroized on drop) and its metadata as seen through the open handle.
pub(crate) struct Contents {
    pub bytes: Zeroizing<Vec<u8>>,
    pub meta: Metadata,
}

/// Reads a regular file of at most `max_len` bytes, refusing symlinks and special files. The file
/// is checked with `symlink_metadata` and then opened; the handle must name the same inode, so a
/// swap between the check and the open is refused too.
pub(crate) fn read_regular(path: &Path, max_len: u64) -> Result<Contents, ReadFailure> {
    let before = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ReadFailure::Missing),
        Err(e) => return Err(ReadFailure::Io(e)),
    };
    if !before.file_type().is_file() {
        return Err(ReadFailure::NotRegular(kind_of(&before)));
    }
    let file = File::open(path).map_err(ReadFailure::Io)?;
    let meta = file.metadata().map_err(ReadFailure::Io)?;
    if (meta.dev(), meta.ino()) != (before.dev(), before.ino()) || !meta.is_file() {
        return Err(ReadFailure::NotRegular(
            "a file that was replaced while being opened",
        ));
    }
    if meta.len() > max_len {
        return Err(ReadFailure::TooLarge(meta.len()));
    }
    // Sized up front so the buffer never reallocates and leaves copies behind.
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadFailure::Io)?;
    if bytes.len() as u64 > max_len {
        return Err(ReadFailure::TooLarge(bytes.len() as u64));
    }
    Ok(Contents { bytes, meta })
}

/// A short description of a non-regular file for error messages.
fn kind_of(meta: &Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}
