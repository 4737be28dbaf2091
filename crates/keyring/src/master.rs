//! The master key file: the root of the key hierarchy, kept apart from the data it protects.
//!
//! Format (text, mode 0600): `strongroom-master-key v1\n<base64 of 32 random bytes>\n`.
//! [`MasterKey::load`] refuses a file that group or others may touch, a symlink or a special
//! file. This module must never print, log or echo the key or any part of the file's content,
//! and must never write the key anywhere but the one path it is given.

use std::fmt;
use std::path::Path;

use crypto::Key256;

use crate::error::Result;
use crate::keyfile::{self, Kind};

/// The master key file's kind.
const KIND: Kind = Kind {
    what: "master key",
    header: "strongroom-master-key v1",
    read_action: "read master key file",
};

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
        let key = Key256::generate();
        keyfile::create(KIND, path, key.expose())?;
        Ok(MasterKey { key })
    }

    /// Loads the master key from `path`. Refuses (naming the path, its mode and the fix) a file
    /// with any group or other permission bit, and refuses symlinks and non-regular files.
    pub fn load(path: &Path) -> Result<MasterKey> {
        let bytes = keyfile::load(KIND, path)?;
        Ok(MasterKey {
            key: Key256::from_bytes(*bytes),
        })
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

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn parse(text: &[u8]) -> Result<[u8; 32], String> {
        keyfile::parse(KIND.header, text).map(|k| *k)
    }

    #[test]
    fn parse_accepts_the_format_and_rejects_everything_else() {
        let header = KIND.header;
        let good = format!("{header}\n{}\n", STANDARD.encode([7u8; 32]));
        assert_eq!(parse(good.as_bytes()), Ok([7u8; 32]));
        let crlf = good.replace('\n', "\r\n");
        assert_eq!(parse(crlf.as_bytes()), Ok([7u8; 32]));

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
                format!("{header}\n"),
                "the second line (the base64 key) is missing",
            ),
            (
                format!("{header}\n{short}\n"),
                "the key line must decode to exactly 32 bytes",
            ),
            (
                format!("{header}\nnot base64!\n"),
                "the key line is not valid base64",
            ),
            (
                format!("{good}extra\n"),
                "unexpected content after the key line",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(text.as_bytes()).err().as_deref(),
                Some(want),
                "for {text:?}"
            );
        }
        assert_eq!(
            parse(&[0xff, 0xfe]).err().as_deref(),
            Some("the file is not UTF-8 text")
        );
    }
}
