//! Shared fixtures for the keyring integration tests: a temporary tree with a master key path
//! and two keyring directories, and scanners that look for key bytes in every file on disk.
//!
//! Test-only code: it must never be compiled into the library.

#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use keyring::{KEYRING_FILE, Keyring, MasterKey, SYSTEM_SCOPE};

/// Epoch milliseconds used as "now" in tests.
pub const NOW: i64 = 1_750_000_000_000;

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub key_path: PathBuf,
    pub dirs: [PathBuf; 2],
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let key_path = tmp.path().join("secrets/master.key");
        let dirs = [
            tmp.path().join("disk-a/keys"),
            tmp.path().join("disk-b/keys"),
        ];
        Self {
            tmp,
            key_path,
            dirs,
        }
    }

    /// A fixture with a master key file and a fresh keyring holding the `system` scope.
    pub fn with_keyring() -> (Self, MasterKey, Keyring) {
        let fx = Self::new();
        let master = MasterKey::create(&fx.key_path).unwrap();
        let mut ring = Keyring::create(fx.dirs.clone(), &master, NOW).unwrap();
        ring.add_scope(SYSTEM_SCOPE, NOW).unwrap();
        (fx, master, ring)
    }

    pub fn file(&self, i: usize) -> PathBuf {
        self.dirs[i].join(KEYRING_FILE)
    }

    pub fn read(&self, i: usize) -> String {
        fs::read_to_string(self.file(i)).unwrap()
    }

    pub fn write(&self, i: usize, text: &str) {
        fs::write(self.file(i), text).unwrap();
    }
}

/// Every regular file under `root` with its bytes.
pub fn all_files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((path.clone(), fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// Asserts that `key` appears in no file under `root`: not raw, not hex, not in any base64.
pub fn assert_key_absent(root: &Path, key: &[u8; 32], what: &str) {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let forms: Vec<(&str, Vec<u8>)> = vec![
        ("raw", key.to_vec()),
        ("hex", hex.clone().into_bytes()),
        ("HEX", hex.to_uppercase().into_bytes()),
        ("base64", STANDARD.encode(key).into_bytes()),
        (
            "base64 (no padding)",
            STANDARD_NO_PAD.encode(key).into_bytes(),
        ),
        ("base64url", URL_SAFE.encode(key).into_bytes()),
        (
            "base64url (no padding)",
            URL_SAFE_NO_PAD.encode(key).into_bytes(),
        ),
    ];
    let files = all_files(root);
    assert!(!files.is_empty(), "no files under {}", root.display());
    for (path, bytes) in &files {
        for (form, needle) in &forms {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{what} found as {form} in {}",
                path.display()
            );
        }
    }
}

/// Asserts the sanity check of the scanner itself: a planted key is found.
pub fn contains(root: &Path, needle: &[u8]) -> bool {
    all_files(root)
        .iter()
        .any(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
}
