//! The two keyring copies: reading and classifying each, choosing the newest valid one,
//! repairing the other, and writing both on every change.
//!
//! A write succeeds only when both copies are durable. This module must never report success
//! after writing one location only, never overwrite a copy that is newer than the one it
//! keeps, and never pick between two valid copies that disagree at the same generation.

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::document::{Document, KEYRING_FILE, MasterKeys, Rejection};
use crate::error::{Error, Result};
use crate::fsutil::{ReadFailure, read_regular, replace_file};

/// No genuine keyring comes near this size (about a million scopes).
const MAX_KEYRING_LEN: u64 = 512 * 1024 * 1024;

/// What one location holds.
#[derive(Debug)]
pub(crate) enum Copy {
    Valid(Document),
    Missing,
    Unusable(String),
    OtherMaster {
        fingerprint: String,
        generation: u64,
    },
}

impl fmt::Display for Copy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Copy::Valid(doc) => write!(f, "valid (generation {})", doc.generation),
            Copy::Missing => f.write_str("missing"),
            Copy::Unusable(why) => f.write_str(why),
            Copy::OtherMaster {
                fingerprint,
                generation,
            } => write!(
                f,
                "made for master key {fingerprint} (generation {generation})"
            ),
        }
    }
}

/// The path of the keyring file in `dir`.
pub(crate) fn file_in(dir: &Path) -> PathBuf {
    dir.join(KEYRING_FILE)
}

/// Reads and classifies the copy in `dir`.
pub(crate) fn read_copy(dir: &Path, keys: &MasterKeys) -> Copy {
    let path = file_in(dir);
    let contents = match read_regular(&path, MAX_KEYRING_LEN) {
        Ok(contents) => contents,
        Err(ReadFailure::Missing) => return Copy::Missing,
        Err(ReadFailure::NotRegular(kind)) => {
            return Copy::Unusable(format!("{kind}, not a regular file"));
        }
        Err(ReadFailure::TooLarge(len)) => {
            return Copy::Unusable(format!("{len} bytes, too large"));
        }
        Err(ReadFailure::Io(e)) => return Copy::Unusable(format!("unreadable: {e}")),
    };
    match Document::decode(&contents.bytes, keys) {
        Ok(doc) => Copy::Valid(doc),
        Err(Rejection::Corrupt(why)) => Copy::Unusable(why),
        Err(Rejection::OtherMaster {
            fingerprint,
            generation,
        }) => Copy::OtherMaster {
            fingerprint,
            generation,
        },
    }
}

/// Whether any copy in `dirs` is a keyring made for (and authenticated by) `keys`.
pub(crate) fn is_made_for(dirs: &[PathBuf; 2], keys: &MasterKeys) -> bool {
    dirs.iter()
        .any(|dir| matches!(read_copy(dir, keys), Copy::Valid(_)))
}

/// Refuses a configuration whose two locations are one: the same path, or two paths that name
/// the same existing directory. (Whether they are on separate devices is the deployment's call.)
pub(crate) fn check_distinct(dirs: &[PathBuf; 2]) -> Result<()> {
    let same = dirs[0] == dirs[1]
        || match (fs::metadata(&dirs[0]), fs::metadata(&dirs[1])) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        };
    if same {
        return Err(Error::SameLocation {
            first: dirs[0].clone(),
            second: dirs[1].clone(),
        });
    }
    Ok(())
}

/// Writes `doc` to both locations; fails, naming the location, if either write fails.
pub(crate) fn write_both(dirs: &[PathBuf; 2], doc: &Document, keys: &MasterKeys) -> Result<()> {
    let bytes = doc.encode(keys)?;
    for dir in dirs {
        replace_file(dir, KEYRING_FILE, &bytes)?;
    }
    Ok(())
}

/// Reads both copies, picks the newest valid one, rewrites any copy that is missing, unusable
/// or behind, and returns the document with one report line per repair.
pub(crate) fn load(dirs: &[PathBuf; 2], keys: &MasterKeys) -> Result<(Document, Vec<String>)> {
    let copies = [read_copy(&dirs[0], keys), read_copy(&dirs[1], keys)];
    let best = choose(dirs, &copies, keys)?;
    let doc = match &copies[best] {
        Copy::Valid(doc) => doc.clone(),
        _ => {
            return Err(Error::Corrupt(
                "chosen keyring copy is not valid".to_owned(),
            ));
        }
    };
    let mut report = Vec::new();
    let mut stale = Vec::new();
    for (i, copy) in copies.iter().enumerate() {
        if i == best {
            continue;
        }
        let path = file_in(&dirs[i]);
        let line = match copy {
            Copy::Valid(other) if other == &doc => continue,
            Copy::Valid(other) => format!(
                "copy at {} was behind (generation {} < {}); rewritten",
                path.display(),
                other.generation,
                doc.generation
            ),
            Copy::Missing => format!("copy at {} was missing; rewritten", path.display()),
            Copy::Unusable(why) => {
                format!("copy at {} was unusable ({why}); rewritten", path.display())
            }
            Copy::OtherMaster {
                fingerprint,
                generation,
            } => format!(
                "copy at {} was made for master key {fingerprint} (generation {generation} < {}); rewritten",
                path.display(),
                doc.generation
            ),
        };
        stale.push(i);
        report.push(line);
    }
    if !stale.is_empty() {
        let bytes = doc.encode(keys)?;
        for i in stale {
            replace_file(&dirs[i], KEYRING_FILE, &bytes)?;
        }
    }
    Ok((doc, report))
}

/// Index of the copy to keep, or the error that forbids choosing.
fn choose(dirs: &[PathBuf; 2], copies: &[Copy; 2], keys: &MasterKeys) -> Result<usize> {
    let generation = |c: &Copy| match c {
        Copy::Valid(doc) => Some(doc.generation),
        _ => None,
    };
    let best = match (generation(&copies[0]), generation(&copies[1])) {
        (Some(a), Some(b)) if a == b => {
            if copies[0].same_document(&copies[1]) {
                0
            } else {
                return Err(Error::Diverged {
                    generation: a,
                    first: file_in(&dirs[0]),
                    second: file_in(&dirs[1]),
                });
            }
        }
        (Some(a), Some(b)) => usize::from(b > a),
        (Some(_), None) => 0,
        (None, Some(_)) => 1,
        (None, None) => return Err(nothing_valid(dirs, copies, keys)),
    };
    let kept = generation(&copies[best]).unwrap_or(0);
    for (i, copy) in copies.iter().enumerate() {
        if let Copy::OtherMaster {
            fingerprint,
            generation,
        } = copy
            && *generation >= kept
        {
            return Err(Error::NewerCopyForOtherMaster {
                path: file_in(&dirs[i]),
                generation: *generation,
                fingerprint: fingerprint.clone(),
            });
        }
    }
    Ok(best)
}

/// The error when neither copy is valid under this master key.
fn nothing_valid(dirs: &[PathBuf; 2], copies: &[Copy; 2], keys: &MasterKeys) -> Error {
    if copies.iter().all(|c| matches!(c, Copy::Missing)) {
        return Error::NotFound {
            first: file_in(&dirs[0]),
            second: file_in(&dirs[1]),
        };
    }
    let other = copies.iter().find_map(|c| match c {
        Copy::OtherMaster { fingerprint, .. } => Some(fingerprint.clone()),
        _ => None,
    });
    if let Some(expected) = other {
        return Error::WrongMaster {
            given: keys.fingerprint.clone(),
            expected,
        };
    }
    let details = copies
        .iter()
        .zip(dirs)
        .map(|(copy, dir)| format!("{}: {copy}", file_in(dir).display()))
        .collect::<Vec<_>>()
        .join("; ");
    Error::NoValidCopy { details }
}

impl Copy {
    fn same_document(&self, other: &Copy) -> bool {
        matches!((self, other), (Copy::Valid(a), Copy::Valid(b)) if a == b)
    }
}
