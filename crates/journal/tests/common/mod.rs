//! Shared helpers for the journal's integration tests: temp mirrors, file surgery, readers.
//!
//! Test-only code. It must never sleep to synchronise and never touch anything outside the temp
//! directories it creates (or the tmpfs mounts a test makes and removes).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use journal::{CommitHook, Entry, Journal, JournalConfig, OpenReport, Position};

/// Two mirror directories inside one temp dir.
pub struct Mirrors {
    _tmp: tempfile::TempDir,
    pub a: PathBuf,
    pub b: PathBuf,
}

impl Mirrors {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("mirror-a");
        let b = tmp.path().join("mirror-b");
        Mirrors { _tmp: tmp, a, b }
    }

    pub fn root(&self) -> &Path {
        self._tmp.path()
    }

    pub fn config(&self, segment_bytes: u64) -> JournalConfig {
        let mut c = JournalConfig::new(self.a.clone(), self.b.clone());
        c.segment_bytes = segment_bytes;
        c
    }

    pub fn open(&self, segment_bytes: u64) -> (Journal, OpenReport) {
        match Journal::open(self.config(segment_bytes), noop_hook()) {
            Ok(j) => j,
            Err(e) => panic!(
                "open {} / {} failed: {e}",
                self.a.display(),
                self.b.display()
            ),
        }
    }
}

pub fn noop_hook() -> CommitHook {
    Box::new(|_entries: &[Entry]| Ok(()))
}

/// Deterministic payload for entry number `i` (1-based), of varying length.
pub fn payload(i: u64) -> Vec<u8> {
    let len = 20 + (i as usize * 37) % 300;
    (0..len).map(|k| (i as usize * 31 + k) as u8).collect()
}

/// Appends `payload(from..=to)` one by one and returns the acknowledged positions.
pub fn append_range(journal: &Journal, from: u64, to: u64) -> Vec<Position> {
    (from..=to)
        .map(|i| match journal.append_blocking(payload(i)) {
            Ok(p) => p,
            Err(e) => panic!("append of entry {i} failed: {e}"),
        })
        .collect()
}

/// Every committed entry from `from`, panicking on a read error.
pub fn read_all(journal: &Journal, from: u64) -> Vec<Entry> {
    journal
        .read_from(from)
        .unwrap()
        .map(|r| match r {
            Ok(e) => e,
            Err(e) => panic!("read failed: {e}"),
        })
        .collect()
}

/// Asserts that `entries` are exactly `payload(1..=n)` with a valid chain.
pub fn assert_entries(entries: &[Entry], n: u64) {
    assert_eq!(
        entries.len() as u64,
        n,
        "expected {n} entries, got {}",
        entries.len()
    );
    let mut prev = [0u8; 32];
    for (i, e) in entries.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(e.seq, seq, "entries out of order");
        assert_eq!(e.payload, payload(seq), "payload of entry {seq} differs");
        assert_eq!(
            e.hash,
            chain(&prev, seq, &e.payload),
            "chain hash of entry {seq}"
        );
        prev = e.hash;
    }
}

/// The documented chain: SHA-256(prev || seq LE || payload).
pub fn chain(prev: &[u8; 32], seq: u64, payload: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev);
    ctx.update(&seq.to_le_bytes());
    ctx.update(payload);
    ctx.finish().as_ref().try_into().unwrap()
}

/// Segment files of a mirror, sorted by name.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// Byte offsets of the frames in a segment file (header is 64 bytes; frame = 16 + len).
pub fn frame_offsets(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut offsets = Vec::new();
    let mut at = 64usize;
    while at + 16 <= bytes.len() {
        offsets.push(at as u64);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 16 + len;
    }
    offsets
}

pub fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

pub fn cut_tail(path: &Path, n: u64) {
    let len = std::fs::metadata(path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len - n).unwrap();
}

/// A mount made by the test (tmpfs or bind), unmounted on drop.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// Bind-mounts `src` on `dir` and makes that view read-only.
    pub fn bind_read_only(src: &Path, dir: &Path) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let run = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("mount")
                .args(args)
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
            }
        };
        run(&[
            "--bind",
            &src.display().to_string(),
            &dir.display().to_string(),
        ])?;
        let view = Tmpfs {
            dir: dir.to_path_buf(),
        };
        run(&["-o", "remount,ro,bind", &dir.display().to_string()])?;
        Ok(view)
    }

    pub fn remount(&self, mode: &str) -> Result<(), String> {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}
