//! One process at a time: an exclusive advisory lock on a file in each location, held for the
//! life of the engine. A second `serve`, or an offline admin command against a running server's
//! directories, is refused with a clear message instead of corrupting anything.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::{Error, Result};

/// Held locks; released when dropped.
#[derive(Debug)]
pub struct DirLocks {
    _files: Vec<File>,
}

pub fn acquire(paths: &[PathBuf]) -> Result<DirLocks> {
    let mut files = Vec::new();
    for path in paths {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                return Err(Error::Locked {
                    path: path.clone(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(Error::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
        file.set_len(0).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        writeln!(file, "pid {}", std::process::id()).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        files.push(file);
    }
    Ok(DirLocks { _files: files })
}
