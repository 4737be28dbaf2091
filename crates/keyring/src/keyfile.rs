//! Key files: one 32-byte secret as text, `<header>\n<base64>\n`, mode 0600, kept apart from the
//! data. Shared by the master key and the audit signing key. Loading refuses a file that group or
//! others may touch, a symlink or a special file. Nothing here prints, logs or echoes a key or
//! any part of a file's content (errors are fixed texts naming the file).

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto::Zeroizing;

use crate::error::{Error, Result, io_error};
use crate::fsutil::{ReadFailure, ensure_dir, parent_dir, read_regular, sync_dir, write_new_file};

/// No genuine key file comes near this size.
const MAX_FILE_LEN: u64 = 1024;

/// What a key file holds: its name in messages and its first line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    pub what: &'static str,
    pub header: &'static str,
    /// The action an I/O error names (`read master key file`).
    pub read_action: &'static str,
}

/// Writes `secret` to a new key file at `path` (parents 0700, the file 0600, both fsynced).
/// Refuses to overwrite an existing file.
pub(crate) fn create(kind: Kind, path: &Path, secret: &[u8; 32]) -> Result<()> {
    let dir = parent_dir(path);
    ensure_dir(&dir)?;
    let mut text = Zeroizing::new(String::with_capacity(kind.header.len() + 47));
    text.push_str(kind.header);
    text.push('\n');
    STANDARD.encode_string(secret, &mut text);
    text.push('\n');
    match write_new_file(path, text.as_bytes()) {
        Ok(()) => {}
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::KeyFileExists {
                what: kind.what,
                path: path.to_path_buf(),
            });
        }
        Err(e) => {
            // Never leave a half-written key file behind to be mistaken for a key.
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    }
    sync_dir(&dir)
}

/// Reads the secret of the key file at `path`, refusing loose permissions and anything but a
/// regular file in the format.
pub(crate) fn load(kind: Kind, path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    let action = kind.read_action;
    let contents = read_regular(path, MAX_FILE_LEN).map_err(|failure| match failure {
        ReadFailure::Missing => io_error(action, path)(io::Error::from(io::ErrorKind::NotFound)),
        ReadFailure::NotRegular(k) => Error::KeyFileNotRegular {
            what: kind.what,
            path: path.to_path_buf(),
            kind: k,
        },
        ReadFailure::TooLarge(_) => Error::KeyFileFormat {
            what: kind.what,
            path: path.to_path_buf(),
            reason: format!("the file is larger than a {} file can be", kind.what),
        },
        ReadFailure::Io(e) => io_error(action, path)(e),
    })?;
    let mode = contents.meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyFilePermissions {
            what: kind.what,
            path: path.to_path_buf(),
            mode,
        });
    }
    parse(kind.header, &contents.bytes).map_err(|reason| Error::KeyFileFormat {
        what: kind.what,
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses the text of a key file. Errors never echo the file's content: a malformed file may
/// still hold most of a key.
pub(crate) fn parse(header: &str, bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())?;
    let mut lines = text.lines();
    let family = header.split(' ').next().unwrap_or(header);
    match lines.next() {
        Some(line) if line == header => {}
        Some(line) if line.starts_with(&format!("{family} ")) => {
            return Err(format!(
                "unsupported format version (this build reads `{header}`)"
            ));
        }
        _ => return Err(format!("the first line must be `{header}`")),
    }
    let encoded = lines
        .next()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .ok_or("the second line (the base64 key) is missing")?;
    if lines.any(|line| !line.trim().is_empty()) {
        return Err("unexpected content after the key line".to_owned());
    }
    let raw = Zeroizing::new(
        STANDARD
            .decode(encoded)
            .map_err(|_| "the key line is not valid base64".to_owned())?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if raw.len() != 32 {
        return Err("the key line must decode to exactly 32 bytes".to_owned());
    }
    out.copy_from_slice(&raw);
    Ok(out)
}
