//! Durable file-system steps: directory fsync, atomic file creation, range copies, truncation.
//!
//! Every helper here either completes with the data synced or returns the OS error with the path.
//! None of them may leave a half-written file under a segment name: new files are written under
//! a `.tmp` name, synced, renamed, and the directory is synced.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{HEADER_LEN, SegmentHeader, TMP_SUFFIX, segment_name};

/// fsync a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Creates `dir` and any missing ancestors, syncing each parent so the new entries are durable.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<()> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(parent)?;
        }
    }
    Ok(())
}

/// Path of the temporary file used while creating segment `name`.
pub(crate) fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    let stem = name.strip_suffix(".seg").unwrap_or(name);
    dir.join(format!("{stem}{TMP_SUFFIX}"))
}

/// Creates a new segment holding only its header: temp file, sync, rename, directory sync.
/// Returns the open read-write handle and the final path.
pub(crate) fn create_segment(dir: &Path, header: &SegmentHeader) -> Result<(File, PathBuf)> {
    let name = segment_name(header.first_seq);
    let tmp = tmp_path(dir, &name);
    let path = dir.join(&name);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    file.write_all(&header.encode())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    fsync_dir(dir)?;
    debug_assert_eq!(HEADER_LEN, header.encode().len() as u64);
    Ok((file, path))
}

/// Copies the first `len` bytes of `src` into a new file `dst_dir/name` atomically (temp file,
/// sync, rename; replaces an existing file of that name). The caller syncs `dst_dir`.
pub(crate) fn copy_file_atomic(src: &Path, len: u64, dst_dir: &Path, name: &str) -> Result<()> {
    let tmp = tmp_path(dst_dir, name);
    let dst = dst_dir.join(name);
    let mut input = File::open(src).map_err(|e| Error::io(src, e))?;
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    let copied = std::io::copy(&mut (&mut input).take(len), &mut out).map_err(|e| {
        Error::io(
            src,
            std::io::Error::new(e.kind(), format!("copying to {}: {e}", tmp.display())),
        )
    })?;
    if copied != len {
        return Err(Error::io(
            src,
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("expected {len} bytes, found {copied}"),
            ),
        ));
    }
    out.sync_all().map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, e))?;
    Ok(())
}

/// Copies bytes `[from, to)` of `src` to the same offsets of the existing file `dst`, then syncs.
pub(crate) fn copy_range(src: &Path, dst: &Path, from: u64, to: u64) -> Result<()> {
    let mut input = File::open(src).map_err(|e| Error::io(src, e))?;
    input
        .seek(SeekFrom::Start(from))
        .map_err(|e| Error::io(src, e))?;
    let out = OpenOptions::new()
        .write(true)
        .open(dst)
        .map_err(|e| Error::io(dst, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let want = usize::try_from((to - at).min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = &mut buf[..want];
        input.read_exact(chunk).map_err(|e| Error::io(src, e))?;
        out.write_all_at(chunk, at).map_err(|e| Error::io(dst, e))?;
        at += want as u64;
    }
    out.sync_all().map_err(|e| Error::io(dst, e))
}

/// Truncates `path` to `len` bytes and syncs it.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Removes a file and reports the OS error with its path.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io(path, e))
}
