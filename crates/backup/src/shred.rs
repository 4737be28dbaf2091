//! Shredding a destination (P15): once a scope's keys are destroyed here, no keyring copy at a
//! destination may still hold them, or a restore could bring them back. The current keyring
//! copy goes up first (restore reads the newest copy, so it must be one without the keys), then
//! every older copy that holds a destroyed key is removed. Sets are not touched: their parts
//! hold only ciphertext under the destroyed keys.
//!
//! A copy that is not a keyring at all is left in place and reported: it was not written by
//! this program, and removing unknown objects is not this module's call.

use engine::Engine;

use crate::catalog;
use crate::destination::Destination;
use crate::{Error, Result};

/// Largest keyring copy read.
pub(crate) const MAX_KEYRING: u64 = 512 * 1024 * 1024;

/// What shredding one destination did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shredded {
    /// Stale keyring copies removed.
    pub removed: u64,
    /// The generation of the copy now newest there (the current keyring's).
    pub generation: u64,
    /// The destroyed scopes the destination was checked against.
    pub destroyed: Vec<String>,
    /// When the destination stopped holding any destroyed key (Unix ms).
    pub at: i64,
}

/// Shreds `dest`: uploads the current keyring copy if the destination lacks it, then removes
/// every other copy that still holds a key destroyed here.
pub async fn shred(engine: &Engine, dest: &Destination) -> Result<Shredded> {
    let destroyed: Vec<String> = engine
        .destroyed_scopes()?
        .into_iter()
        .map(|(scope, _)| scope)
        .collect();
    let (generation, stored) = engine.stored_keyring()?;
    let current = catalog::keyring_key(generation);
    let copies = dest.list("keyring").await?;
    if !copies.iter().any(|(key, _)| *key == current) {
        dest.put_bytes(&current, stored).await?;
        dest.sync("keyring").await?;
    }
    let mut removed = 0;
    let mut unknown = Vec::new();
    for (key, _) in copies.iter().filter(|(key, _)| *key != current) {
        let bytes = dest.get_bytes(key, MAX_KEYRING).await?;
        match engine.destroyed_keys_in(&bytes) {
            Ok(held) if held.is_empty() => {}
            Ok(_) => {
                dest.delete(key).await?;
                removed += 1;
            }
            Err(e) => unknown.push(format!("{key} ({e})")),
        }
    }
    if removed > 0 {
        dest.sync("keyring").await?;
    }
    if !unknown.is_empty() {
        return Err(Error::Destination {
            name: dest.name().to_owned(),
            what: "shredding keyring copies".into(),
            reason: format!(
                "objects that are not keyring copies are in the way: {}; remove them by hand",
                unknown.join(", ")
            ),
        });
    }
    Ok(Shredded {
        removed,
        generation,
        destroyed,
        at: engine.now().millis(),
    })
}
