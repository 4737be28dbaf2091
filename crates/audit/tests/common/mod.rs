//! Shared by the audit tests: a small deterministic random source, directory copies, and the
//! random tamper loop (edits, deletions, reorders, truncations of copied files).
//!
//! Test-only code: it touches nothing outside the directories it is given.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use audit::verify_dir;

/// xorshift64: the same cases on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read")
        .map(|e| e.expect("entry").path())
        .collect();
    out.sort();
    out
}

/// `cases` random tampers of `original`, one per copy made under `scratch`; returns the ones
/// `verify_dir` accepted, each with what was done.
pub fn tamper(
    original: &Path,
    scratch: &Path,
    public: &[u8; 32],
    cases: usize,
    seed: u64,
) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut undetected = Vec::new();
    for case in 0..cases {
        let copy = scratch.join(format!("copy{case}"));
        copy_dir(original, &copy);
        let targets = files(&copy);
        let target = &targets[rng.below(targets.len())];
        let mut bytes = std::fs::read(target).expect("read");
        let kind = rng.below(4);
        let what = match kind {
            // Edit: flip a byte.
            0 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 + rng.below(255) as u8;
                std::fs::write(target, &bytes).expect("write");
                format!("flip byte {at}")
            }
            // Deletion: remove a run of bytes, or the whole file.
            1 if rng.below(8) == 0 => {
                std::fs::remove_file(target).expect("remove");
                "delete the file".to_owned()
            }
            1 if bytes.len() > 1 => {
                let at = rng.below(bytes.len() - 1);
                let len = 1 + rng.below((bytes.len() - at).min(300));
                bytes.drain(at..at + len);
                std::fs::write(target, &bytes).expect("write");
                format!("delete {len} bytes at {at}")
            }
            // Reorder: swap two runs of equal length.
            2 if bytes.len() > 64 => {
                let len = 1 + rng.below(bytes.len() / 4);
                let a = rng.below(bytes.len() - 2 * len);
                let b = a + len + rng.below(bytes.len() - a - 2 * len + 1);
                let (x, y) = (bytes[a..a + len].to_vec(), bytes[b..b + len].to_vec());
                if x == y {
                    continue;
                }
                bytes[a..a + len].copy_from_slice(&y);
                bytes[b..b + len].copy_from_slice(&x);
                std::fs::write(target, &bytes).expect("write");
                format!("swap {len} bytes at {a} and {b}")
            }
            // Truncation at any length short of the whole.
            _ if !bytes.is_empty() => {
                let len = rng.below(bytes.len());
                bytes.truncate(len);
                std::fs::write(target, &bytes).expect("write");
                format!("truncate to {len}")
            }
            _ => continue,
        };
        if let Ok(v) = verify_dir(&copy, public) {
            undetected.push(format!("{}: {what} → {v}", target.display()));
        }
        std::fs::remove_dir_all(&copy).expect("clean");
    }
    undetected
}
