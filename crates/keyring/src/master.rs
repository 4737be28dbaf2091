//! The master key file: the root of the key hierarchy, kept apart from the data it protects.
//!
//! Format (text, mode 0600): `strongroom-master-key v1\n<base64 of 32 random bytes>\n`.
//! [`MasterKey::load`] refuses a file that group or others may touch, a symlink or a special
//! file. This module must never print, log or echo the key or any part of the file's content,
//! and must never write the key anywhere but the one path it is given.

use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto::{Key256, Zeroizing};

use crate::error::{Error, Result, io_error};
use crate::fsutil::{ReadFailure, ensure_dir, parent_dir, read_regular, sync_dir, write_new_file};

/// First line of a master key file.
const HEADER: &str = "strongroom-master-key v1";
/// No genuine master key file comes near this size.
const MAX_FILE_LEN: u64 = 1024;

/// The master key: wraps every scope key (through keys derived from it), never data itself.
/// Redacted in `Debug`, zeroized on drop, not `Clone`.
pub struct MasterKey {
    key: Key256,
}

impl MasterKey {
    /// Creates a new random master key at `path`: parent directories are created with mode 0700,
    /// the file with `create_new` and mode 0600, and the file and its directory are fsynced.
    /// Refuses to overwrite an existing file.
    pub fn create(path: &Path) -> Result<MasterKey> {
        let dir = parent_dir(path);
        ensure_dir(&dir)?;
        let key = Key256::generate();
        let mut text = Zeroizing::new(String::with_capacity(HEADER.len() + 47));
        text.push_str(HEADER);
        text.push('\n');
        STANDARD.encode_string(key.expose(), &mut text);
        text.push('\n');
        match write_new_file(path, text.as_bytes()) {
            Ok(()) => {}
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::MasterKeyExists {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => {
                // Never leave a half-written key file behind to be mistaken for a key.
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        }
        sync_dir(&dir)?;
        Ok(MasterKey { key })
    }

    /// Loads the master key from `path`. Refuses (naming the path, its mode and the fix) a file
    /// with any group or other permission bit, and refuses symlinks and non-regular files.
    pub fn load(path: &Path) -> Result<MasterKey> {
        let contents = read_regular(path, MAX_FILE_LEN).map_err(|failure| match failure {
            ReadFailure::Missing => {
                io_error("read master key file", path)(io::Error::from(io::ErrorKind::NotFound))
            }
            ReadFailure::NotRegular(kind) => Error::MasterKeyNotRegular {
                path: path.to_path_buf(),
                kind,
            },
            ReadFailure::TooLarge(_) => Error::MasterKeyFormat {
                path: path.to_path_buf(),
                reason: "the file is larger than a master key file can be",
            },
            ReadFailure::Io(e) => io_error("read master key file", path)(e),
        })?;
        let mode = contents.meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(Error::MasterKeyPermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let key = parse(&contents.bytes).map_err(|reason| Error::MasterKeyFormat {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(MasterKey { key })
    }

    /// A master key held in memory only (tests, or a key supplied through the environment).
    pub fn from_key(key: Key256) -> MasterKey {
        MasterKey { key }
    }

    /// 16 hex digits identifying the key; safe to print and to store in the keyring.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint()
    }

    /// A key derived from the master key for one purpose (HKDF-SHA256 with `info`), e.g. for
    /// backup archives. Each purpose must use its own `info` string.
    pub fn derive(&self, info: &[u8]) -> Key256 {
        crypto::derive_key(&self.key, info)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MasterKey([REDACTED], fingerprint {})",
            self.fingerprint()
        )
    }
}

/// Parses the text of a master key file. Errors are fixed strings: nothing from the file is
/// echoed, since a malformed file may still hold most of a key.
fn parse(bytes: &[u8]) -> Result<Key256, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text")?;
    let mut lines = text.lines();
    match lines.next() {
        Some(HEADER) => {}
        Some(line) if line.starts_with("strongroom-master-key ") => {
            return Err("unsupported format version (this build reads `strongroom-master-key v1`)");
        }
        _ => return Err("the first line must be `strongroom-master-key v1`"),
    }
    let encoded = lines
        .next()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .ok_or("the second line (the base64 key) is missing")?;
    if lines.any(|line| !line.trim().is_empty()) {
        return Err("unexpected content after the key line");
    }
    let raw = Zeroizing::new(
        STANDARD
            .decode(encoded)
            .map_err(|_| "the key line is not valid base64")?,
    );
    Key256::try_from_slice(&raw).map_err(|_| "the key line must decode to exactly 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_the_format_and_rejects_everything_else() {
        let good = format!("{HEADER}\n{}\n", STANDARD.encode([7u8; 32]));
        assert_eq!(parse(good.as_bytes()).map(|k| *k.expose()), Ok([7u8; 32]));
        let crlf = good.replace('\n', "\r\n");
        assert_eq!(parse(crlf.as_bytes()).map(|k| *k.expose()), Ok([7u8; 32]));

        let short = STANDARD.encode([7u8; 31]);
        let cases: Vec<(String, &str)> = vec![
            (
                String::new(),
                "the first line must be `strongroom-master-key v1`",
            ),
            (
                format!("strongroom-master-key v2\n{short}\n"),
                "unsupported format version (this build reads `strongroom-master-key v1`)",
            ),
            (
                format!("{HEADER}\n"),
                "the second line (the base64 key) is missing",
            ),
            (
                format!("{HEADER}\n{short}\n"),
                "the key line must decode to exactly 32 bytes",
            ),
            (
                format!("{HEADER}\nnot base64!\n"),
                "the key line is not valid base64",
            ),
            (
                format!("{good}extra\n"),
                "unexpected content after the key line",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text.as_bytes()).err(), Some(want), "for {text:?}");
        }
        assert_eq!(
            parse(&[0xff, 0xfe]).err(),
            Some("the file is not UTF-8 text")
        );
    }
}
