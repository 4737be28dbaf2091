//! What a destination holds, read and checked: the sets (each a directory of parts and, once
//! complete, its manifest), the keyring copies by generation, and the attachment objects.
//!
//! Layout under the destination's prefix:
//! ```text
//! keyring/<generation, 20 digits>              the keyring as stored (wrapped by the master key)
//! blobs/<attachment file name>                  an attachment file sealed under the backup key
//! sets/<last seq, 20 digits>-<set id>/<part>    a set's sealed parts
//! sets/<last seq, 20 digits>-<set id>/manifest  its manifest, written last
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crypto::Key256;

use crate::destination::Destination;
use crate::manifest::{Kind, Manifest};
use crate::part::{self, PartRef};
use crate::{Error, Result};

pub const MANIFEST: &str = "manifest";
const SETS: &str = "sets";
const KEYRINGS: &str = "keyring";
const BLOBS: &str = "blobs";
/// First bytes of an attachment object, before the backup key's version (u32 BE).
const BLOB_MAGIC: &[u8; 4] = b"SRB1";
/// Largest manifest read.
pub(crate) const MAX_MANIFEST: u64 = 256 * 1024 * 1024;

/// The directory of a set.
pub fn set_dir(manifest: &Manifest) -> String {
    format!("{SETS}/{:020}-{}", manifest.journal_to.seq, manifest.backup)
}

pub fn keyring_key(generation: u64) -> String {
    format!("{KEYRINGS}/{generation:020}")
}

pub fn blob_key(name: &str) -> String {
    format!("{BLOBS}/{name}")
}

fn blob_at(name: &str) -> PartRef<'_> {
    PartRef {
        backup: "blobs",
        name,
    }
}

/// An attachment file (already sealed by its tenant's key) sealed again under the backup key.
pub fn seal_blob(key: &Key256, version: u32, name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    out.extend_from_slice(BLOB_MAGIC);
    out.extend_from_slice(&version.to_be_bytes());
    part::seal(key, blob_at(name), &mut &bytes[..], &mut out)?;
    Ok(out)
}

/// The backup key version an attachment object was sealed under.
pub fn blob_key_version(object: &[u8], name: &str) -> Result<u32> {
    match object.get(..8) {
        Some(head) if &head[..4] == BLOB_MAGIC => {
            Ok(u32::from_be_bytes(head[4..].try_into().expect("4 bytes")))
        }
        _ => Err(Error::Format {
            part: blob_key(name),
            reason: "not an attachment object".into(),
        }),
    }
}

/// Opens an attachment object.
pub fn open_blob(key: &Key256, name: &str, object: &[u8]) -> Result<Vec<u8>> {
    blob_key_version(object, name)?;
    let mut out = Vec::new();
    part::open(key, blob_at(name), &mut &object[8..], &mut out)?;
    Ok(out)
}

/// A complete set at a destination.
#[derive(Debug, Clone)]
pub struct SetRef {
    /// Its directory (`sets/…`).
    pub dir: String,
    pub manifest: Manifest,
    /// Bytes stored, parts and manifest.
    pub stored: u64,
}

/// What a destination holds.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub destination: String,
    /// Complete sets, oldest first (by last entry, then time).
    pub sets: Vec<SetRef>,
    /// Set directories without a manifest: unfinished uploads.
    pub unfinished: Vec<String>,
    /// Keyring generations stored.
    pub keyrings: BTreeSet<u64>,
    /// Attachment file names stored.
    pub blobs: BTreeSet<String>,
}

impl Catalog {
    /// Lists `dest` and reads every manifest, checking its MAC; a manifest that does not check,
    /// or a set holding a part its manifest does not list, is refused, naming the set.
    pub async fn read(dest: &Destination, manifest_key: &Key256) -> Result<Catalog> {
        let mut catalog = Catalog {
            destination: dest.name().to_owned(),
            ..Catalog::default()
        };
        for (key, _) in dest.list(KEYRINGS).await? {
            if let Some(generation) = key
                .strip_prefix("keyring/")
                .and_then(|g| g.parse::<u64>().ok())
            {
                catalog.keyrings.insert(generation);
            }
        }
        for (key, _) in dest.list(BLOBS).await? {
            if let Some(name) = key.strip_prefix("blobs/") {
                catalog.blobs.insert(name.to_owned());
            }
        }
        let mut dirs: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
        for (key, size) in dest.list(SETS).await? {
            let Some((dir, file)) = key.rsplit_once('/') else {
                continue;
            };
            let entry = dirs.entry(dir.to_owned()).or_default();
            entry.0 += size;
            entry.1.insert(file.to_owned());
        }
        for (dir, (stored, files)) in dirs {
            if !files.contains(MANIFEST) {
                catalog.unfinished.push(dir);
                continue;
            }
            let bytes = dest
                .get_bytes(&format!("{dir}/{MANIFEST}"), MAX_MANIFEST)
                .await?;
            let manifest = Manifest::from_bytes(manifest_key, &bytes)
                .map_err(|e| e.in_set(dest.name(), &dir))?;
            if set_dir(&manifest) != dir {
                return Err(Error::Set {
                    destination: dest.name().to_owned(),
                    set: dir,
                    reason: "its manifest belongs to another set".into(),
                });
            }
            // A missing part is refused when it is read; an extra one here, before anything.
            if let Some(extra) = files
                .iter()
                .find(|f| *f != MANIFEST && manifest.part(f).is_err())
            {
                return Err(Error::Set {
                    destination: dest.name().to_owned(),
                    set: dir,
                    reason: format!("part {extra} is not one its manifest lists"),
                });
            }
            catalog.sets.push(SetRef {
                dir,
                manifest,
                stored,
            });
        }
        catalog.sets.sort_by_key(|s| {
            (
                s.manifest.journal_to.seq,
                s.manifest.created_at,
                s.manifest.kind == Kind::Full,
            )
        });
        Ok(catalog)
    }

    /// The set that reaches furthest (a full one when a full and an increment reach as far).
    pub fn latest(&self) -> Option<&SetRef> {
        self.sets.last()
    }

    /// Refuses `sets` when one lists an attachment the destination does not hold.
    pub fn check_attachments<'a>(&self, sets: impl IntoIterator<Item = &'a SetRef>) -> Result<()> {
        for set in sets {
            if let Some(name) = set
                .manifest
                .attachments
                .iter()
                .find(|name| !self.blobs.contains(*name))
            {
                return Err(Error::Set {
                    destination: self.destination.clone(),
                    set: set.dir.clone(),
                    reason: format!(
                        "attachment object {} that its manifest lists is missing",
                        blob_key(name)
                    ),
                });
            }
        }
        Ok(())
    }

    /// The newest full backup, if any.
    pub fn latest_full(&self) -> Option<&SetRef> {
        self.sets
            .iter()
            .rev()
            .find(|s| s.manifest.kind == Kind::Full)
    }
}
