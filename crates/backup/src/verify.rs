//! `backup verify`: every set at a destination checked as a restore would read it, without
//! writing a restore: the keyring copy opens under the master key, every manifest's MAC,
//! every part's digest, every chunk opens, the journal and audit entries chain from the set's
//! first position to its last, and every attachment object opens.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use keyring::MasterKey;

use crate::catalog::{self, Catalog, SetRef};
use crate::destination::Destination;
use crate::manifest::Position;
use crate::part::{OpenReader, PartRef};
use crate::progress::{Progress, Step};
use crate::stream::EntryDecoder;
use crate::take::{AUDIT, JOURNAL};
use crate::{Error, Result};

/// What a verification found.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub sets: usize,
    pub parts: usize,
    pub bytes: u64,
    pub attachments: usize,
    pub keyring_generation: u64,
    /// Set directories without a manifest (unfinished uploads, ignored by restores).
    pub unfinished: Vec<String>,
}

fn hash_of(p: &Position) -> Result<[u8; 32]> {
    p.to_journal().map(|p| p.hash)
}

/// Checks everything `dest` holds; the first problem is returned, naming the set and part.
pub async fn verify(
    dest: &Destination,
    master_key_file: &Path,
    work: &Path,
    progress: Arc<dyn Progress>,
) -> Result<Verified> {
    let master = MasterKey::load(master_key_file)?;
    let keyrings = dest.list("keyring").await?;
    let Some((newest, _)) = keyrings.last() else {
        return Err(Error::Nothing(format!(
            "destination {} holds no keyring copy",
            dest.name()
        )));
    };
    let stored = dest.get_bytes(newest, 512 * 1024 * 1024).await?;
    let catalog = Catalog::read(dest, &keyring::backup_manifest_key(&master)).await?;
    let scratch = work.join(format!("verify-{}", dest.name()));
    let _ = std::fs::remove_dir_all(&scratch);
    let dirs = [scratch.join("a"), scratch.join("b")];
    let generation = keyring::install_stored(&dirs, &stored, &master)?;
    let result = check_all(dest, &catalog, &dirs, &master, &scratch, progress).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let mut verified = result?;
    verified.keyring_generation = generation;
    verified.unfinished = catalog.unfinished.clone();
    Ok(verified)
}

async fn check_all(
    dest: &Destination,
    catalog: &Catalog,
    dirs: &[std::path::PathBuf; 2],
    master: &MasterKey,
    scratch: &Path,
    progress: Arc<dyn Progress>,
) -> Result<Verified> {
    let (keys, _) = keyring::Keyring::open(dirs.clone(), master)?;
    catalog.check_attachments(&catalog.sets)?;
    let mut verified = Verified {
        sets: catalog.sets.len(),
        ..Verified::default()
    };
    for (i, set) in catalog.sets.iter().enumerate() {
        let key =
            crate::restore::archive_key(&keys, set).map_err(|e| e.in_set(dest.name(), &set.dir))?;
        for part in &set.manifest.parts {
            let path = crate::restore::fetch(dest, set, &part.name, scratch).await?;
            let file = File::open(&path).map_err(|source| Error::Io {
                what: format!("reading {}", path.display()),
                source,
            })?;
            let reader = OpenReader::new(
                &key,
                PartRef {
                    backup: &set.manifest.backup,
                    name: &part.name,
                },
                BufReader::with_capacity(1 << 20, file),
            );
            let checked = match part.name.as_str() {
                JOURNAL => check_chain(
                    reader,
                    set,
                    JOURNAL,
                    &set.manifest.journal_from,
                    &set.manifest.journal_to,
                ),
                AUDIT => check_chain(
                    reader,
                    set,
                    AUDIT,
                    &set.manifest.audit_from,
                    &set.manifest.audit_to,
                ),
                _ => {
                    let mut reader = reader;
                    std::io::copy(&mut reader, &mut std::io::sink())
                        .map(drop)
                        .map_err(|e| Error::Format {
                            part: part.name.clone(),
                            reason: e.to_string(),
                        })
                }
            };
            let _ = std::fs::remove_file(&path);
            checked.map_err(|e| e.in_set(dest.name(), &set.dir))?;
            verified.parts += 1;
            verified.bytes += part.len;
        }
        progress.step(Step {
            stage: "verified",
            item: set.dir.clone(),
            done: i as u64 + 1,
            total: catalog.sets.len() as u64,
        });
    }
    for name in &catalog.blobs {
        let object = dest.get_bytes(&catalog::blob_key(name), u64::MAX).await?;
        let version = catalog::blob_key_version(&object, name)?;
        let key = keys.key(engine::archive::BACKUP_SCOPE, version)?;
        catalog::open_blob(&key, name, &object)?;
        verified.attachments += 1;
    }
    Ok(verified)
}

/// The entries of a part chain from `from` to `to`.
fn check_chain(
    reader: impl std::io::Read,
    set: &SetRef,
    name: &str,
    from: &Position,
    to: &Position,
) -> Result<()> {
    let mut stream = EntryDecoder::new(reader, name);
    let (mut seq, mut hash) = (from.seq, hash_of(from)?);
    while let Some((next, payload)) = stream.next_entry()? {
        if next != seq + 1 {
            return Err(Error::Format {
                part: name.to_owned(),
                reason: format!("entry {next} follows entry {seq}"),
            });
        }
        hash = journal::chain_hash(&hash, next, &payload);
        seq = next;
    }
    if seq != to.seq || hash != hash_of(to)? {
        return Err(Error::Format {
            part: name.to_owned(),
            reason: format!(
                "its entries end at {seq} with another chain hash than set {} lists ({})",
                set.manifest.backup, to.seq
            ),
        });
    }
    Ok(())
}
