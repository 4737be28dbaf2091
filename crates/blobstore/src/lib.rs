//! Attachment files, kept in two locations like the journal: a blob is written to a temporary
//! file in both directories, fdatasynced in both, renamed into place and the directories synced
//! before [`BlobWriter::finish`] returns. Any failure removes what was written and names the
//! location (fail closed: never a blob in one place only, never a partial blob under its name).
//!
//! The bytes are opaque: callers seal them before they arrive here. This crate knows files, not
//! keys, and never chooses a path from client input: names are ids the caller minted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("blob store location {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{0}` is not a blob name (letters, digits and `_` only)")]
    BadName(String),
    #[error("blob {0} not found in either location")]
    NotFound(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::BadName(name.chars().take(64).collect()))
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Two directories holding identical blobs.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dirs: Vec<PathBuf>,
}

/// Both locations; only a benchmark build with the `bench-without-promises` feature (which
/// refuses to listen beyond loopback) keeps the first alone, to measure what the second costs.
fn locations(dirs: [PathBuf; 2]) -> Vec<PathBuf> {
    if cfg!(feature = "bench-without-promises") {
        let [a, _] = dirs;
        return vec![a];
    }
    dirs.into()
}

impl BlobStore {
    /// Creates both directories when absent.
    pub fn open(dirs: [PathBuf; 2]) -> Result<BlobStore> {
        let dirs = locations(dirs);
        for dir in &dirs {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        Ok(BlobStore { dirs })
    }

    /// Starts writing blob `name` to both locations.
    pub fn create(&self, name: &str) -> Result<BlobWriter> {
        check_name(name)?;
        let mut files = Vec::with_capacity(2);
        for dir in &self.dirs {
            let tmp = dir.join(format!("{name}.tmp"));
            match OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
            {
                Ok(f) => files.push((tmp, f)),
                Err(e) => {
                    for (path, _) in &files {
                        let _ = std::fs::remove_file(path);
                    }
                    return Err(Error::Io {
                        path: tmp,
                        source: e,
                    });
                }
            }
        }
        Ok(BlobWriter {
            name: name.to_owned(),
            dirs: self.dirs.clone(),
            files,
            written: 0,
            done: false,
        })
    }

    /// Reads a whole blob, from the first location that has it.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        check_name(name)?;
        for dir in &self.dirs {
            let path = dir.join(name);
            match File::open(&path) {
                Ok(mut f) => {
                    let mut out = Vec::new();
                    f.read_to_end(&mut out).map_err(io(&path))?;
                    return Ok(out);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::Io { path, source: e }),
            }
        }
        Err(Error::NotFound(name.to_owned()))
    }

    /// Removes a blob from both locations (absent is fine).
    pub fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        for dir in &self.dirs {
            let path = dir.join(name);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Io { path, source: e });
                }
                _ => {}
            }
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Names of the blobs in either location (for garbage collection), sorted, each once.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = std::collections::BTreeSet::new();
        for dir in &self.dirs {
            for name in Self::names(dir)? {
                if let Some(name) = name.to_str()
                    && check_name(name).is_ok()
                {
                    out.insert(name.to_owned());
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Files that are not blobs: unfinished writes (`<name>.tmp`) and anything else a crash or a
    /// person left in the locations.
    pub fn leftovers(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            for name in Self::names(dir)? {
                if name.to_str().is_none_or(|n| check_name(n).is_err()) {
                    out.push(dir.join(name));
                }
            }
        }
        Ok(out)
    }

    /// Removes one file [`BlobStore::leftovers`] named (and nothing outside the locations).
    pub fn remove_leftover(&self, path: &Path) -> Result<()> {
        let dir = self
            .dirs
            .iter()
            .find(|d| path.parent() == Some(d.as_path()))
            .ok_or_else(|| Error::BadName(path.display().to_string()))?;
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                path: path.to_owned(),
                source: e,
            }),
            _ => sync_dir(dir),
        }
    }

    /// The regular files of one location.
    fn names(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            if entry.file_type().map_err(io(dir))?.is_file() {
                out.push(entry.file_name());
            }
        }
        Ok(out)
    }
}

/// A blob being written; dropped without [`BlobWriter::finish`], it leaves nothing behind.
pub struct BlobWriter {
    name: String,
    dirs: Vec<PathBuf>,
    files: Vec<(PathBuf, File)>,
    written: u64,
    done: bool,
}

impl BlobWriter {
    /// Appends bytes to both copies.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        for (path, file) in &mut self.files {
            file.write_all(bytes).map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
        }
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the blob durable in both locations under its name; returns its size.
    pub fn finish(mut self) -> Result<u64> {
        for (path, file) in &self.files {
            file.sync_data().map_err(io(path))?;
        }
        for (i, dir) in self.dirs.iter().enumerate() {
            let (tmp, _) = &self.files[i];
            let dest = dir.join(&self.name);
            std::fs::rename(tmp, &dest).map_err(io(&dest))?;
            sync_dir(dir)?;
        }
        self.done = true;
        Ok(self.written)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.done {
            for (path, _) in &self.files {
                let _ = std::fs::remove_file(path);
            }
            // A rename that happened before a later failure is undone too.
            for dir in &self.dirs {
                let _ = std::fs::remove_file(dir.join(&self.name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let root = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open([root.path().join("a"), root.path().join("b")]).expect("open");
        (root, store)
    }

    #[test]
    fn a_blob_lands_in_both_locations_or_nowhere() {
        let (root, store) = store();
        let mut w = store.create("at_1").expect("create");
        w.write(b"hello ").expect("write");
        w.write(b"world").expect("write");
        assert_eq!(w.finish().expect("finish"), 11);
        for d in ["a", "b"] {
            assert_eq!(
                std::fs::read(root.path().join(d).join("at_1")).expect("read"),
                b"hello world"
            );
        }
        assert_eq!(store.read("at_1").expect("read"), b"hello world");
        let mut w = store.create("at_2").expect("create");
        w.write(b"partial").expect("write");
        drop(w);
        for d in ["a", "b"] {
            let names: Vec<_> = std::fs::read_dir(root.path().join(d))
                .expect("dir")
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert_eq!(
                names,
                vec![std::ffi::OsString::from("at_1")],
                "an abandoned blob leaves nothing in {d}"
            );
        }
        assert_eq!(store.list().expect("list"), vec!["at_1"]);
        store.delete("at_1").expect("delete");
        assert!(matches!(store.read("at_1"), Err(Error::NotFound(_))));
    }

    #[test]
    fn reads_fall_back_to_the_second_location() {
        let (root, store) = store();
        let mut w = store.create("at_x").expect("create");
        w.write(b"data").expect("write");
        w.finish().expect("finish");
        std::fs::remove_file(root.path().join("a").join("at_x")).expect("remove");
        assert_eq!(store.read("at_x").expect("read"), b"data");
    }

    #[test]
    fn names_a_client_could_abuse_are_refused() {
        let (_root, store) = store();
        for bad in ["", "../etc/passwd", "a/b", "a.b", "..", "x\0y"] {
            assert!(
                matches!(store.create(bad), Err(Error::BadName(_))),
                "{bad:?}"
            );
            assert!(matches!(store.read(bad), Err(Error::BadName(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_lost_location_fails_closed_naming_it() {
        let (root, store) = store();
        std::fs::remove_dir_all(root.path().join("b")).expect("remove b");
        let err = store.create("at_y").err().expect("must fail");
        assert!(
            err.to_string()
                .contains(&root.path().join("b").display().to_string()),
            "{err}"
        );
        assert!(
            !root.path().join("a").join("at_y.tmp").exists(),
            "nothing left in a"
        );
    }
}
