//! What the records tests share: an engine on a manual clock in a temporary directory, and a
//! look at every file it left.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::{Engine, Options, Paths};
use types::ManualClock;

/// Small journal segments, the test's clock; `create` for a new installation.
pub fn options(clock: &Arc<ManualClock>, create: bool) -> Options {
    Options {
        segment_bytes: 256 * 1024,
        clock: clock.clone(),
        create,
        ..Options::default()
    }
}

/// Opens the engine on the blocking pool.
pub async fn open(paths: &Paths, options: Options) -> Engine {
    let paths = paths.clone();
    tokio::task::spawn_blocking(move || Engine::open(&paths, options).map(|o| o.engine))
        .await
        .expect("join")
        .expect("engine")
}

/// Every file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
