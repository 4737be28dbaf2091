//! Retention at a destination: sets older than the window go once a newer full backup there
//! covers the window's start; keyring copies older than the history go (the newest always
//! stays), so that a key destroyed later (a tenant deleted, issue 7) is gone from every
//! destination within the history; sets left unfinished for a day go.
//!
//! A set is removed manifest first: if removal stops halfway, what is left is an unfinished
//! set no restore reads, never a complete-looking set with parts missing.

use std::collections::BTreeMap;

use crypto::Key256;

use crate::Result;
use crate::catalog::{self, Catalog};
use crate::destination::Destination;
use crate::manifest::Kind;

const DAY_MS: i64 = 86_400_000;

/// How long things are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// Every moment of the last `days` days stays restorable.
    pub days: u32,
    /// Keyring copies of the last `keyring_days` days (and the newest) stay.
    pub keyring_days: u32,
}

/// What a pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sets: usize,
    pub unfinished: usize,
    pub keyrings: usize,
}

/// Prunes `dest` as of `now` (Unix ms).
pub async fn prune(
    dest: &Destination,
    manifest_key: &Key256,
    now: i64,
    keep: Keep,
) -> Result<Pruned> {
    let catalog = Catalog::read(dest, manifest_key).await?;
    let mut pruned = Pruned::default();
    let horizon = now - i64::from(keep.days) * DAY_MS;
    // The newest full backup from before the window's start is the base of the oldest
    // restorable moment; everything older than it and covered by it goes.
    let base = catalog
        .sets
        .iter()
        .filter(|s| s.manifest.kind == Kind::Full && s.manifest.created_at <= horizon)
        .max_by_key(|s| s.manifest.created_at);
    if let Some(base) = base {
        let (base_at, base_to) = (base.manifest.created_at, base.manifest.journal_to.seq);
        for set in &catalog.sets {
            if set.manifest.created_at < base_at && set.manifest.journal_to.seq <= base_to {
                remove_dir(dest, &set.dir).await?;
                pruned.sets += 1;
            }
        }
    }
    let objects = dest.list_dated("sets").await?;
    let mut newest: BTreeMap<&str, i64> = BTreeMap::new();
    for (key, _, at) in &objects {
        if let Some((dir, _)) = key.rsplit_once('/') {
            let entry = newest.entry(dir).or_insert(*at);
            *entry = (*entry).max(*at);
        }
    }
    for dir in &catalog.unfinished {
        if newest
            .get(dir.as_str())
            .is_some_and(|at| *at < now - DAY_MS)
        {
            remove_dir(dest, dir).await?;
            pruned.unfinished += 1;
        }
    }
    let keyrings = dest.list_dated("keyring").await?;
    let history = now - i64::from(keep.keyring_days) * DAY_MS;
    if let Some((newest_key, _, _)) = keyrings.last() {
        for (key, _, at) in &keyrings {
            if key != newest_key && *at < history {
                dest.delete(key).await?;
                pruned.keyrings += 1;
            }
        }
    }
    Ok(pruned)
}

/// Removes a set's objects, its manifest first.
async fn remove_dir(dest: &Destination, dir: &str) -> Result<()> {
    dest.delete(&format!("{dir}/{}", catalog::MANIFEST)).await?;
    for (key, _) in dest.list(dir).await? {
        dest.delete(&key).await?;
    }
    Ok(())
}
