//! `strongroom rebuild-state`: recompute the derived state from the journal alone, into a new
//! file, compare its digest with the live state, then swap it in.

use std::path::PathBuf;
use std::sync::Arc;

use state_sqlite::StateStore;

use crate::apply::Applier;
use crate::open::catch_up;
use crate::{Engine, Options, Paths, Result};

/// What a rebuild found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Digest of the live state (caught up to the journal head) before the rebuild.
    pub live: [u8; 32],
    /// Digest of the state rebuilt from scratch.
    pub rebuilt: [u8; 32],
    /// Journal head the rebuilt state reflects.
    pub head: u64,
    pub report: Vec<String>,
}

impl RebuildReport {
    pub fn identical(&self) -> bool {
        self.live == self.rebuilt
    }
}

/// Rebuilds the state at `paths` from the journal; the server must not be running.
pub fn rebuild_state(paths: &Paths, options: Options) -> Result<RebuildReport> {
    let opened = Engine::open(
        paths,
        Options {
            create: false,
            ..options
        },
    )?;
    let engine = opened.engine;
    let mut report = opened.report;
    let live = engine.state().digest()?;
    let target = paths.state();
    let scratch = PathBuf::from(format!("{}.rebuild", target.display()));
    remove(&scratch)?;
    let rebuilt = {
        let state = Arc::new(StateStore::open(&scratch)?);
        let applier = Applier {
            keys: Arc::clone(&engine.inner.keys),
            state: Arc::clone(&state),
            epoch: Arc::default(),
        };
        catch_up(engine.journal(), &applier, &mut report)?;
        state.digest()?
    };
    let head = engine.journal().head().seq;
    engine.shutdown();
    // The live database is closed with the engine; replace it and its WAL side files.
    let inner = Arc::clone(&engine.inner);
    drop(engine);
    drop(inner);
    remove(&target)?;
    std::fs::rename(&scratch, &target).map_err(|source| crate::Error::Io {
        path: target.clone(),
        source,
    })?;
    Ok(RebuildReport {
        live,
        rebuilt,
        head,
        report,
    })
}

fn remove(path: &std::path::Path) -> Result<()> {
    state_sqlite::remove(path).map_err(|source| crate::Error::Io {
        path: path.to_owned(),
        source,
    })
}

impl Engine {
    /// The state digest after the journal's first `seq` entries, computed in a scratch state
    /// at `scratch` (removed afterwards): what a restore drill compares a restored copy with.
    pub fn digest_at(&self, seq: u64, scratch: &std::path::Path) -> Result<[u8; 32]> {
        remove(scratch)?;
        let digest = {
            let state = Arc::new(StateStore::open(scratch)?);
            let applier = Applier {
                keys: Arc::clone(&self.inner.keys),
                state: Arc::clone(&state),
                epoch: Arc::default(),
            };
            let mut chunk = Vec::with_capacity(512);
            for entry in self.journal().read_from(1)? {
                let entry = entry?;
                if entry.seq > seq {
                    break;
                }
                chunk.push(entry);
                if chunk.len() == 512 {
                    applier.apply(&chunk)?;
                    chunk.clear();
                }
            }
            applier.apply(&chunk)?;
            let applied = state.applied()?.seq;
            if applied != seq {
                return Err(crate::Error::Gap {
                    state_at: applied,
                    next: seq,
                });
            }
            state.digest()?
        };
        remove(scratch)?;
        Ok(digest)
    }
}
