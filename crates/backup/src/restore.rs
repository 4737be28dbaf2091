//! Restore (P13) and point-in-time restore (P11): a new pair of data locations built from one
//! destination and the master key alone.
//!
//! 1. The newest keyring copy at the destination must open under the master key, and every
//!    manifest's MAC must check, before anything is written (a wrong master key writes
//!    nothing).
//! 2. The chain: a full backup (the newest whose snapshot is at or before the moment, else the
//!    oldest, replayed from its first entry), then the sets that continue it.
//! 3. Every part is downloaded to a work directory, its digest checked against the manifest,
//!    then opened chunk by chunk (a bad part or chunk is named); the journal and audit entries
//!    go into new journals up to the cut: the longest prefix before the first entry sealed
//!    after the moment.
//! 4. The engine opens the new locations: it replays the journal after the snapshot, indexes
//!    the audit log and writes back events the log lacks; the state digest is reported.
//!
//! On any error, everything this restore created is removed again.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crypto::Key256;
use engine::{Engine, Paths};
use keyring::MasterKey;

use crate::catalog::{self, Catalog, SetRef};
use crate::destination::Destination;
use crate::manifest::Kind;
use crate::part::{OpenReader, PartRef};
use crate::progress::{Progress, Step};
use crate::stream::EntryDecoder;
use crate::take::{AUDIT, AUDIT_KEY, CHECKPOINTS, JOURNAL, STATE, archive_key_aad};
use crate::{Error, Result};

/// Largest keyring object read.
/// Largest attachment object read.
const MAX_BLOB: u64 = 8 * 1024 * 1024 * 1024;

/// What to restore, from where, to where.
#[derive(Debug, Clone)]
pub struct Request {
    pub destination: Destination,
    pub master_key_file: PathBuf,
    /// The new locations (each must not exist or be empty) and the master key file the
    /// restored system will use.
    pub paths: Paths,
    /// Where the audit signing key is written (must not exist).
    pub audit_key_file: PathBuf,
    /// Restore the state as it was at this moment (Unix ms); `None`: the latest entry held.
    pub at: Option<i64>,
    pub segment_bytes: u64,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The last journal entry restored, and its time (Unix ms; 0 without entries).
    pub journal: journal::Position,
    pub last_at: i64,
    pub audit: journal::Position,
    /// The state digest after the replay.
    pub digest: [u8; 32],
    /// The sets read, in order.
    pub sets: Vec<String>,
    /// Whether the restore started from a snapshot (else it replayed from the first entry).
    pub from_snapshot: bool,
    pub blobs: u64,
    pub elapsed: Duration,
    /// The engine's report of opening the restored locations.
    pub report: Vec<String>,
    /// What the operator should know: sets without a manifest that reach further than the
    /// restore (an upload cut short, or a removed manifest).
    pub warnings: Vec<String>,
}

/// Removes what the restore made unless it succeeded.
struct Undo {
    made: Vec<PathBuf>,
    files: Vec<PathBuf>,
    armed: bool,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for dir in &self.made {
            // Empty what was made; remove the directory itself only if it was ours.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn empty_or_missing(path: &Path) -> Result<bool> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Target(format!(
                    "{} is not empty; a restore writes only into a new or empty directory",
                    path.display()
                )));
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(source) => Err(Error::Io {
            what: format!("checking {}", path.display()),
            source,
        }),
    }
}

/// The sets a restore reads: a full backup, then sets that continue it.
fn choose(catalog: &Catalog, at: Option<i64>) -> Result<(SetRef, bool, Vec<SetRef>)> {
    let fulls: Vec<&SetRef> = catalog
        .sets
        .iter()
        .filter(|s| s.manifest.kind == Kind::Full)
        .collect();
    let usable = |s: &&&SetRef| {
        s.manifest
            .snapshot
            .as_ref()
            .is_some_and(|snap| at.is_none_or(|t| snap.max_at <= t))
    };
    let (base, from_snapshot) = match fulls.iter().rev().find(usable) {
        Some(full) => ((*full).clone(), true),
        None => match fulls.first() {
            Some(full) => ((*full).clone(), false),
            None => {
                return Err(Error::Nothing(format!(
                    "destination {} holds no complete full backup",
                    catalog.destination
                )));
            }
        },
    };
    Ok((base.clone(), from_snapshot, continue_chain(catalog, base)))
}

/// `base`, then the sets that continue it: each starts at or before where the chain reaches in
/// both the journal and the audit log, and takes one of them further. (An increment shipped
/// when only the audit log had moved continues the chain too: its audit entries are restored,
/// and the next increment's audit part starts where it ends.)
fn continue_chain(catalog: &Catalog, base: SetRef) -> Vec<SetRef> {
    let reach_of = |s: &SetRef| (s.manifest.journal_to.seq, s.manifest.audit_to.seq);
    let mut reach = reach_of(&base);
    let mut chain = vec![base];
    loop {
        let next = catalog
            .sets
            .iter()
            .filter(|s| {
                let m = &s.manifest;
                let (journal, audit) = reach;
                m.journal_from.seq <= journal
                    && m.audit_from.seq <= audit
                    && m.journal_to.seq >= journal
                    && m.audit_to.seq >= audit
                    && (m.journal_to.seq > journal || m.audit_to.seq > audit)
            })
            .max_by_key(|s| (reach_of(s), s.manifest.created_at));
        match next {
            Some(set) => {
                reach = reach_of(set);
                chain.push(set.clone());
            }
            None => return chain,
        }
    }
}

/// Downloads a part of `set` into `dir`, checking its digest against the manifest.
pub(crate) async fn fetch(
    dest: &Destination,
    set: &SetRef,
    name: &str,
    dir: &Path,
) -> Result<PathBuf> {
    let entry = set
        .manifest
        .part(name)
        .map_err(|e| e.in_set(dest.name(), &set.dir))?;
    let path = dir.join(format!("{}-{name}", set.manifest.backup));
    let file = File::create(&path).map_err(|source| Error::Io {
        what: format!("creating {}", path.display()),
        source,
    })?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let max = entry.len + (entry.chunks + 1) * (crypto::SEALED_OVERHEAD as u64 + 4);
    let (digest, _) = dest
        .get_into(&format!("{}/{name}", set.dir), max, &mut out)
        .await
        .map_err(|e| Error::Set {
            destination: dest.name().to_owned(),
            set: set.dir.clone(),
            reason: format!("part {name}: {e}"),
        })?;
    out.flush().map_err(|source| Error::Io {
        what: format!("writing {}", path.display()),
        source,
    })?;
    if crypto::hex(digest) != entry.sha256 {
        return Err(Error::Set {
            destination: dest.name().to_owned(),
            set: set.dir.clone(),
            reason: format!(
                "part {name} does not match the digest its manifest lists: it was altered or \
                 replaced"
            ),
        });
    }
    Ok(path)
}

/// The archive key of a set, unwrapped with the backup key of the restored keyring.
pub(crate) fn archive_key(keys: &keyring::Keyring, set: &SetRef) -> Result<Key256> {
    let wrapped = crypto::from_hex(&set.manifest.archive_key).ok_or_else(|| Error::Set {
        destination: String::new(),
        set: set.dir.clone(),
        reason: "the manifest's archive key is malformed".into(),
    })?;
    let backup_key = keys.key(
        engine::archive::BACKUP_SCOPE,
        set.manifest.backup_key_version,
    )?;
    crypto::unwrap_key(
        &backup_key,
        &archive_key_aad(&set.manifest.backup),
        &wrapped,
    )
    .map_err(|_| Error::Set {
        destination: String::new(),
        set: set.dir.clone(),
        reason: "its archive key does not open with the keyring's backup key".into(),
    })
}

/// Opens the downloaded part `name` of `set` as a stream of entries.
fn entries<'a>(
    key: &'a Key256,
    set: &'a SetRef,
    name: &'a str,
    path: &Path,
) -> Result<EntryDecoder<OpenReader<'a, BufReader<File>>>> {
    let file = File::open(path).map_err(|source| Error::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    let reader = OpenReader::new(
        key,
        PartRef {
            backup: &set.manifest.backup,
            name,
        },
        BufReader::with_capacity(1 << 20, file),
    );
    Ok(EntryDecoder::new(reader, name))
}

/// Where the journal import stopped.
struct Cut {
    head: journal::Position,
    last_at: i64,
    /// The moment was reached (an entry after it was found).
    reached: bool,
}

/// Restores as `request` says.
pub async fn restore(request: Request, progress: Arc<dyn Progress>) -> Result<Restored> {
    let started = Instant::now();
    let dest = &request.destination;
    let master = MasterKey::load(&request.master_key_file)?;

    // 1. Keys and manifests, before anything is written.
    let keyrings = dest.list("keyring").await?;
    let Some((newest, _)) = keyrings.last() else {
        return Err(Error::Nothing(format!(
            "destination {} holds no keyring copy: nothing can be restored from it",
            dest.name()
        )));
    };
    let stored = dest.get_bytes(newest, crate::shred::MAX_KEYRING).await?;
    keyring::check_stored(&stored, &master)?;
    let catalog = Catalog::read(dest, &keyring::backup_manifest_key(&master)).await?;
    let (base, from_snapshot, chain) = choose(&catalog, request.at)?;
    catalog.check_attachments(&chain)?;
    let paths = request.paths.clone();
    let mut undo = Undo {
        made: Vec::new(),
        files: Vec::new(),
        armed: true,
    };
    for dir in [&paths.data, &paths.mirror] {
        if empty_or_missing(dir)? {
            undo.made.push(dir.clone());
        } else {
            for sub in ["journal", "keyring", "audit", "blobs", "state.sqlite"] {
                undo.made.push(dir.join(sub));
            }
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
    }
    if request.audit_key_file.exists() {
        return Err(Error::Target(format!(
            "{} exists; the restore writes the audit signing key there and will not overwrite a \
             key",
            request.audit_key_file.display()
        )));
    }
    let work = paths.data.join(".restore-work");
    undo.made.push(work.clone());
    std::fs::create_dir_all(&work).map_err(|source| Error::Io {
        what: format!("creating {}", work.display()),
        source,
    })?;

    keyring::install_stored(&paths.keyring_dirs(), &stored, &master)?;
    let (keys, _) = keyring::Keyring::open(paths.keyring_dirs(), &master)?;

    // 2. The journal, up to the cut.
    let cut = {
        let start = base.manifest.journal_from.to_journal()?;
        let mut import = journal::Importer::create(
            &paths.journal_a(),
            &paths.journal_b(),
            start,
            request.segment_bytes,
        )?;
        let snapshot_at = match (&base.manifest.snapshot, from_snapshot) {
            (Some(s), true) => Some(s.position.to_journal()?),
            _ => None,
        };
        let mut last_at = 0i64;
        let mut reached = false;
        'sets: for set in &chain {
            let path = fetch(dest, set, JOURNAL, &work).await?;
            let key = archive_key(&keys, set).map_err(|e| e.in_set(dest.name(), &set.dir))?;
            let mut stream = entries(&key, set, JOURNAL, &path)?;
            let total = set.manifest.journal_to.seq;
            while let Some((seq, payload)) = stream
                .next_entry()
                .map_err(|e| e.in_set(dest.name(), &set.dir))?
            {
                if seq <= import.head().seq {
                    continue;
                }
                let at = engine::archive::entry_at(&payload).map_err(|e| Error::Set {
                    destination: dest.name().to_owned(),
                    set: set.dir.clone(),
                    reason: format!("part journal: entry {seq}: {e}"),
                })?;
                if request.at.is_some_and(|t| at > t) {
                    reached = true;
                    break 'sets;
                }
                let position = import.push(seq, &payload).map_err(|e| Error::Set {
                    destination: dest.name().to_owned(),
                    set: set.dir.clone(),
                    reason: format!("part journal: {e}"),
                })?;
                last_at = last_at.max(at);
                if snapshot_at.is_some_and(|s| s.seq == seq && s.hash != position.hash) {
                    return Err(Error::Set {
                        destination: dest.name().to_owned(),
                        set: base.dir.clone(),
                        reason: "its snapshot does not belong to its journal".into(),
                    });
                }
                if seq % 50_000 == 0 {
                    progress.step(Step {
                        stage: "journal",
                        item: set.manifest.backup.clone(),
                        done: seq,
                        total,
                    });
                }
            }
            if import.head() != set.manifest.journal_to.to_journal()? {
                return Err(Error::Set {
                    destination: dest.name().to_owned(),
                    set: set.dir.clone(),
                    reason: "part journal does not end where its manifest says: damaged, or \
                             from another journal"
                        .into(),
                });
            }
            let _ = std::fs::remove_file(&path);
        }
        let head = import.finish()?;
        Cut {
            head,
            last_at,
            reached,
        }
    };
    progress.step(Step {
        stage: "journal",
        item: "restored".into(),
        done: cut.head.seq,
        total: cut.head.seq,
    });

    // 3. The audit log: the events of the entries restored (and acts without an entry, up to
    //    the moment).
    let audit_head = {
        let start = base.manifest.audit_from.to_journal()?;
        let [a, b] = paths.audit_dirs();
        let mut import = journal::Importer::create(&a, &b, start, request.segment_bytes)?;
        let mut records = Vec::new();
        'sets: for set in &chain {
            let path = fetch(dest, set, AUDIT, &work).await?;
            let key = archive_key(&keys, set).map_err(|e| e.in_set(dest.name(), &set.dir))?;
            let mut stream = entries(&key, set, AUDIT, &path)?;
            records = open_small(dest, set, CHECKPOINTS, &key, &work).await?;
            while let Some((seq, payload)) = stream
                .next_entry()
                .map_err(|e| e.in_set(dest.name(), &set.dir))?
            {
                if seq <= import.head().seq {
                    continue;
                }
                if let Some((header, _)) = audit::payload::Header::decode(&payload) {
                    let after = header.source > cut.head.seq
                        || (header.source == 0 && request.at.is_some_and(|t| header.at > t));
                    if after {
                        break 'sets;
                    }
                }
                import.push(seq, &payload).map_err(|e| Error::Set {
                    destination: dest.name().to_owned(),
                    set: set.dir.clone(),
                    reason: format!("part audit: {e}"),
                })?;
            }
            if import.head() != set.manifest.audit_to.to_journal()? {
                return Err(Error::Set {
                    destination: dest.name().to_owned(),
                    set: set.dir.clone(),
                    reason: "part audit does not end where its manifest says".into(),
                });
            }
            let _ = std::fs::remove_file(&path);
        }
        let head = import.finish()?;
        // Checkpoint records of entries restored only; the log signs the rest at its next
        // checkpoint.
        let kept: Vec<u8> = records
            .chunks_exact(audit::log::RECORD_LEN)
            .filter(|r| u64::from_le_bytes(r[..8].try_into().expect("8 bytes")) <= head.seq)
            .flatten()
            .copied()
            .collect();
        for dir in paths.audit_dirs() {
            write_file(&dir.join(audit::log::CHECKPOINTS), &kept)?;
        }
        head
    };

    // 4. The snapshot and the audit signing key of the full backup.
    let base_key = archive_key(&keys, &base).map_err(|e| e.in_set(dest.name(), &base.dir))?;
    if from_snapshot {
        let path = fetch(dest, &base, STATE, &work).await?;
        let file = File::open(&path).map_err(|source| Error::Io {
            what: format!("reading {}", path.display()),
            source,
        })?;
        let mut reader = OpenReader::new(
            &base_key,
            PartRef {
                backup: &base.manifest.backup,
                name: STATE,
            },
            BufReader::new(file),
        );
        let target = paths.state();
        let mut out = File::create(&target).map_err(|source| Error::Io {
            what: format!("creating {}", target.display()),
            source,
        })?;
        std::io::copy(&mut reader, &mut out).map_err(|source| Error::Set {
            destination: dest.name().to_owned(),
            set: base.dir.clone(),
            reason: format!("part state: {source}"),
        })?;
        out.sync_all().map_err(|source| Error::Io {
            what: format!("writing {}", target.display()),
            source,
        })?;
        let _ = std::fs::remove_file(&path);
        let expected = base.manifest.snapshot.as_ref().map(|s| s.digest.clone());
        let digest = state_sqlite::StateStore::open(&target)?.digest()?;
        if Some(crypto::hex(digest)) != expected {
            return Err(Error::Set {
                destination: dest.name().to_owned(),
                set: base.dir.clone(),
                reason: "part state does not have the digest its manifest lists".into(),
            });
        }
    }
    let seed = open_small(dest, &base, AUDIT_KEY, &base_key, &work).await?;
    let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| Error::Set {
        destination: dest.name().to_owned(),
        set: base.dir.clone(),
        reason: "part audit-key is not a key".into(),
    })?;
    keyring::install_signing_seed(&request.audit_key_file, &seed)?;
    undo.files.push(request.audit_key_file.clone());

    // 5. Attachment files.
    let blobs = blobstore::BlobStore::open(paths.blob_dirs())?;
    let mut restored_blobs = 0u64;
    for name in &catalog.blobs {
        let object = dest.get_bytes(&catalog::blob_key(name), MAX_BLOB).await?;
        let version = catalog::blob_key_version(&object, name)?;
        let key = keys.key(engine::archive::BACKUP_SCOPE, version)?;
        let bytes = catalog::open_blob(&key, name, &object)?;
        let mut writer = blobs.create(name)?;
        writer.write(&bytes)?;
        writer.finish()?;
        restored_blobs += 1;
    }
    drop(keys);
    std::fs::remove_dir_all(&work).map_err(|source| Error::Io {
        what: format!("removing {}", work.display()),
        source,
    })?;

    // 6. Open it: replay after the snapshot, index the audit log, check.
    progress.step(Step {
        stage: "replaying",
        item: "state".into(),
        done: 0,
        total: cut.head.seq,
    });
    let options = engine::Options {
        segment_bytes: request.segment_bytes,
        audit_key_file: Some(request.audit_key_file.clone()),
        ..engine::Options::default()
    };
    let opened = {
        let paths = paths.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let opened = Engine::open(&paths, options)?;
            let digest = opened.engine.state().digest()?;
            let audit = opened.engine.audit_source().head;
            let report = opened.report.clone();
            opened.engine.shutdown();
            Ok((digest, audit, report))
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??
    };
    let _ = (audit_head, cut.reached);
    let warnings = catalog
        .unfinished
        .iter()
        .filter_map(|dir| {
            let seq = dir
                .strip_prefix("sets/")?
                .split('-')
                .next()?
                .parse::<u64>()
                .ok()?;
            (seq > cut.head.seq && !cut.reached).then(|| {
                format!(
                    "{dir} has no manifest but claims entries up to {seq}, past the {} restored: \
                     an upload cut short, or a manifest removed; it was not read",
                    cut.head.seq
                )
            })
        })
        .collect();
    undo.armed = false;
    Ok(Restored {
        journal: cut.head,
        last_at: cut.last_at,
        audit: opened.1,
        digest: opened.0,
        sets: chain.iter().map(|s| s.manifest.backup.clone()).collect(),
        from_snapshot,
        blobs: restored_blobs,
        elapsed: started.elapsed(),
        report: opened.2,
        warnings,
    })
}

/// Downloads and opens a small part whole.
async fn open_small(
    dest: &Destination,
    set: &SetRef,
    name: &str,
    key: &Key256,
    work: &Path,
) -> Result<Vec<u8>> {
    let path = fetch(dest, set, name, work).await?;
    let file = File::open(&path).map_err(|source| Error::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    let mut out = Vec::new();
    crate::part::open(
        key,
        PartRef {
            backup: &set.manifest.backup,
            name,
        },
        &mut BufReader::new(file),
        &mut out,
    )
    .map_err(|e| e.in_set(dest.name(), &set.dir))?;
    let _ = std::fs::remove_file(&path);
    Ok(out)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|source| Error::Io {
        what: format!("creating {}", path.display()),
        source,
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::Io {
            what: format!("writing {}", path.display()),
            source,
        })
}
