//! Taking sets from a live engine: a full backup (snapshot, whole journal and audit log, the
//! audit signing key) or an increment (the entries after what a destination already holds),
//! then the keyring copy and new attachment files. Parts are sealed once into a work directory
//! (ciphertext only) and uploaded to each destination on its own: one that fails holds up no
//! other, and its failure is reported, not hidden. A set's manifest is written last, so a set
//! without a manifest is an unfinished upload that no restore reads.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crypto::Key256;
use engine::Engine;

use crate::catalog::{self, Catalog};
use crate::destination::Destination;
use crate::manifest::{Kind, Manifest, PartEntry, Position, Snapshot};
use crate::part::{self, PartRef};
use crate::progress::{Progress, Step};
use crate::stream::EntryReader;
use crate::{Error, Result};

/// Part names.
pub const STATE: &str = "state";
pub const JOURNAL: &str = "journal";
pub const AUDIT: &str = "audit";
pub const CHECKPOINTS: &str = "checkpoints";
pub const AUDIT_KEY: &str = "audit-key";

/// Associated data of a set's archive key, sealed under the backup key.
pub(crate) fn archive_key_aad(set: &str) -> Vec<u8> {
    format!("strongroom/backup/v1|archive-key|{set}").into_bytes()
}

/// What one destination got.
#[derive(Debug)]
pub struct Outcome {
    pub destination: String,
    /// The set written, `None` when the destination was already up to date.
    pub result: Result<Option<Manifest>>,
    /// Attachment objects written.
    pub blobs: u64,
    /// What a drill measured (drills only).
    pub drill: Option<crate::drill::Drill>,
}

/// A set sealed in the work directory, ready to upload.
struct Prepared {
    dir: PathBuf,
    manifest: Manifest,
    bytes: Vec<u8>,
}

impl Prepared {
    fn key(&self) -> String {
        catalog::set_dir(&self.manifest)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Seals parts of one set into its work directory.
struct Sealer {
    set: String,
    dir: PathBuf,
    key: Key256,
    parts: Vec<PartEntry>,
    progress: Arc<dyn Progress>,
}

impl Sealer {
    fn seal(&mut self, name: &str, reader: &mut impl Read) -> Result<()> {
        let path = self.dir.join(name);
        let file = File::create(&path).map_err(io(format!("creating {}", path.display())))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let sealed = part::seal(
            &self.key,
            PartRef {
                backup: &self.set,
                name,
            },
            reader,
            &mut out,
        )?;
        out.flush()
            .map_err(io(format!("writing {}", path.display())))?;
        self.progress.step(Step {
            stage: "sealed",
            item: name.to_owned(),
            done: sealed.len,
            total: sealed.len,
        });
        self.parts.push(PartEntry {
            name: name.to_owned(),
            len: sealed.len,
            chunks: sealed.chunks,
            sha256: crypto::hex(sealed.sha256),
        });
        Ok(())
    }
}

/// Entries of a journal from `from + 1` to `to`, as the part stream reads them, noting the
/// latest entry time up to `note_until` and overall.
fn entries(
    read: journal::Entries,
    to: u64,
    times: Option<Arc<std::sync::Mutex<Times>>>,
) -> impl Iterator<Item = std::io::Result<journal::Entry>> {
    read.take_while(move |e| e.as_ref().map_or(true, |e| e.seq <= to))
        .map(move |e| {
            let e = e.map_err(std::io::Error::other)?;
            if let Some(times) = &times {
                let at = engine::archive::entry_at(&e.payload).map_err(std::io::Error::other)?;
                let mut t = times
                    .lock()
                    .map_err(|_| std::io::Error::other("poisoned"))?;
                t.last = t.last.max(at);
                if e.seq <= t.until {
                    t.max_until = t.max_until.max(at);
                }
            }
            Ok(e)
        })
}

#[derive(Default)]
struct Times {
    until: u64,
    max_until: i64,
    last: i64,
}

/// What a set starts after: nothing (a full backup) or a destination's last set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Base {
    journal: journal::Position,
    audit: journal::Position,
}

/// Seals a set: full when `base` is `None`, else the entries after `base`. `None` when an
/// increment would hold nothing.
fn prepare(
    engine: &Engine,
    base: Option<&Base>,
    work: &Path,
    progress: Arc<dyn Progress>,
) -> Result<Option<Prepared>> {
    let journal_head = engine.journal().head();
    let audit = engine.audit_source();
    if base.is_some_and(|b| b.journal == journal_head && b.audit == audit.head) {
        return Ok(None);
    }
    let created_at = engine.now().millis();
    let set = format!(
        "{}{}",
        match base {
            None => "full_",
            Some(_) => "incr_",
        },
        {
            let mut id = [0u8; 10];
            crypto::random_bytes(&mut id);
            crypto::hex(id)
        }
    );
    let dir = work.join(&set);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let (key_version, backup_key) = engine.backup_key()?;
    let archive_key = Key256::generate();
    let mut sealer = Sealer {
        set: set.clone(),
        dir: dir.clone(),
        key: Key256::from_bytes(*archive_key.expose()),
        parts: Vec::new(),
        progress,
    };

    // A full backup's snapshot comes first: every entry it reflects is in the journal part.
    let snapshot = match base {
        None => {
            let path = dir.join("state.sqlite");
            let applied = engine.state().snapshot(&path)?;
            let digest = {
                let copy = state_sqlite::StateStore::open(&path)?;
                copy.digest()?
            };
            for side in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{side}", path.display()));
            }
            let mut file = BufReader::new(
                File::open(&path).map_err(io(format!("reading {}", path.display())))?,
            );
            sealer.seal(STATE, &mut file)?;
            std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
            Some((applied, digest))
        }
        Some(_) => None,
    };

    let journal_from = match base {
        Some(b) => b.journal,
        None => engine.journal().start(),
    };
    // The audit head first: every event it covers records an entry at or before the journal
    // head read next, so a set never holds the event of an entry it lacks (a restore of the
    // latest state keeps the whole audit part, and the restored system continues both chains).
    let audit_to = engine.audit_source().head;
    let journal_to = engine.journal().head();
    let times = Arc::new(std::sync::Mutex::new(Times {
        until: snapshot.as_ref().map_or(0, |(a, _)| a.seq),
        ..Times::default()
    }));
    let mut reader = EntryReader::new(entries(
        engine.journal().read_from(journal_from.seq + 1)?,
        journal_to.seq,
        Some(Arc::clone(&times)),
    ));
    sealer.seal(JOURNAL, &mut reader)?;
    check_end("journal", reader.last, journal_from, journal_to)?;

    let audit_from = match base {
        Some(b) => b.audit,
        None => audit.start,
    };
    let mut reader = EntryReader::new(entries(
        engine.audit_entries(audit_from.seq + 1)?,
        audit_to.seq,
        None,
    ));
    sealer.seal(AUDIT, &mut reader)?;
    check_end("audit log", reader.last, audit_from, audit_to)?;

    let records = read_checkpoints(&audit.checkpoints)?;
    sealer.seal(CHECKPOINTS, &mut &records[..])?;
    if base.is_none() {
        let seed = keyring::signing_seed(&audit.key_file)?;
        sealer.seal(AUDIT_KEY, &mut &seed[..])?;
    }

    let attachments = blobstore::BlobStore::open(engine.paths().blob_dirs())?.list()?;
    let times = times.lock().map_err(|_| Error::Task("poisoned".into()))?;
    let (generation, _) = engine.stored_keyring()?;
    let manifest = Manifest {
        version: 1,
        installation: engine.master_fingerprint()?,
        backup: set.clone(),
        kind: if base.is_none() {
            Kind::Full
        } else {
            Kind::Increment
        },
        created_at,
        journal_from: Position::from_journal(journal_from),
        journal_to: Position::from_journal(journal_to),
        last_at: times.last,
        audit_from: Position::from_journal(audit_from),
        audit_to: Position::from_journal(audit_to),
        snapshot: snapshot.map(|(applied, digest)| Snapshot {
            position: Position {
                seq: applied.seq,
                hash: crypto::hex(applied.hash),
            },
            max_at: times.max_until,
            digest: crypto::hex(digest),
        }),
        keyring_generation: generation,
        archive_key: crypto::hex(crypto::wrap_key(
            &backup_key,
            &archive_key_aad(&set),
            &archive_key,
        )),
        backup_key_version: key_version,
        parts: std::mem::take(&mut sealer.parts),
        attachments,
    };
    let bytes = manifest.to_bytes(&engine.backup_manifest_key()?)?;
    Ok(Some(Prepared {
        dir,
        manifest,
        bytes,
    }))
}

/// The part ended where the set says it ends.
fn check_end(
    what: &str,
    last: Option<journal::Position>,
    from: journal::Position,
    to: journal::Position,
) -> Result<()> {
    let end = last.unwrap_or(from);
    if end != to {
        return Err(Error::Task(format!(
            "the {what} read ended at entry {} instead of {}; it changed while being read",
            end.seq, to.seq
        )));
    }
    Ok(())
}

/// The checkpoint file's whole records (one may be half-written while a checkpoint is signed).
fn read_checkpoints(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(Error::Io {
                what: format!("reading {}", path.display()),
                source,
            });
        }
    };
    bytes.truncate(bytes.len() - bytes.len() % audit::log::RECORD_LEN);
    Ok(bytes)
}

/// Uploads a prepared set: parts first, the manifest last (after [`send_extras`], so that every
/// attachment it lists is there).
async fn upload_parts(dest: &Destination, set: &Prepared, progress: &dyn Progress) -> Result<()> {
    let prefix = set.key();
    let total = set.manifest.parts.len() as u64;
    for (i, part) in set.manifest.parts.iter().enumerate() {
        let path = set.dir.join(&part.name);
        dest.put_file(&format!("{prefix}/{}", part.name), &path)
            .await?;
        progress.step(Step {
            stage: "uploaded",
            item: format!("{}: {}", dest.name(), part.name),
            done: i as u64 + 1,
            total,
        });
    }
    dest.sync(&prefix).await
}

/// The manifest, once every part (and attachment) is durable: the set is then complete.
async fn upload_manifest(dest: &Destination, set: &Prepared) -> Result<()> {
    dest.put_bytes(
        &format!("{}/{}", set.key(), catalog::MANIFEST),
        set.bytes.clone(),
    )
    .await?;
    dest.sync(&set.key()).await
}

/// The keyring copy and every attachment file the destination lacks.
async fn send_extras(engine: &Engine, dest: &Destination, catalog: &Catalog) -> Result<u64> {
    let (generation, stored) = engine.stored_keyring()?;
    if !catalog.keyrings.contains(&generation) {
        dest.put_bytes(&catalog::keyring_key(generation), stored)
            .await?;
    }
    let store = blobstore::BlobStore::open(engine.paths().blob_dirs())?;
    let (version, key) = engine.backup_key()?;
    let mut sent = 0;
    for name in store.list()? {
        if catalog.blobs.contains(&name) {
            continue;
        }
        let bytes = store.read(&name)?;
        let sealed = catalog::seal_blob(&key, version, &name, &bytes)?;
        dest.put_bytes(&catalog::blob_key(&name), sealed).await?;
        sent += 1;
    }
    if sent > 0 {
        dest.sync("blobs").await?;
    }
    dest.sync("keyring").await?;
    Ok(sent)
}

/// A full backup to every destination (sealed once).
pub async fn full(
    engine: &Engine,
    destinations: &[Destination],
    work: &Path,
    progress: Arc<dyn Progress>,
) -> Vec<Outcome> {
    let prepared = {
        let (engine, work, progress) = (engine.clone(), work.to_owned(), Arc::clone(&progress));
        tokio::task::spawn_blocking(move || prepare(&engine, None, &work, progress))
            .await
            .unwrap_or_else(|e| Err(Error::Task(e.to_string())))
    };
    let prepared = match prepared {
        Ok(Some(p)) => Arc::new(p),
        Ok(None) => unreachable!("a full backup is never empty"),
        Err(e) => {
            let message = e.to_string();
            return destinations
                .iter()
                .map(|d| Outcome {
                    destination: d.name().to_owned(),
                    result: Err(Error::Task(message.clone())),
                    blobs: 0,
                    drill: None,
                })
                .collect();
        }
    };
    let outcomes = futures_util::future::join_all(destinations.iter().map(|dest| {
        let prepared = Arc::clone(&prepared);
        let progress = Arc::clone(&progress);
        async move {
            let mut blobs = 0;
            let result = async {
                let catalog = Catalog::read(dest, &engine.backup_manifest_key()?).await?;
                if let Some(latest) = catalog.latest() {
                    base_of(engine, &latest.manifest)
                        .map_err(|e| e.in_set(dest.name(), &latest.dir))?;
                }
                upload_parts(dest, &prepared, progress.as_ref()).await?;
                blobs = send_extras(engine, dest, &catalog).await?;
                upload_manifest(dest, &prepared).await?;
                Ok(Some(prepared.manifest.clone()))
            }
            .await;
            Outcome {
                destination: dest.name().to_owned(),
                result,
                blobs,
                drill: None,
            }
        }
    }))
    .await;
    remove_work(&prepared.dir);
    outcomes
}

/// Journal shipping: to each destination, the entries after its newest set (a full backup
/// where it holds none, or where its newest set is not a prefix of this journal).
pub async fn ship(
    engine: &Engine,
    destinations: &[Destination],
    work: &Path,
    progress: Arc<dyn Progress>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    // Destinations at the same position share one sealed increment.
    let mut sealed: Vec<(Option<Base>, Arc<Prepared>)> = Vec::new();
    for dest in destinations {
        let mut blobs = 0;
        let result = async {
            let catalog = Catalog::read(dest, &engine.backup_manifest_key()?).await?;
            let base = match catalog.latest() {
                Some(latest) => base_of(engine, &latest.manifest)
                    .map_err(|e| e.in_set(dest.name(), &latest.dir))?,
                None => None,
            };
            let prepared = match sealed.iter().find(|(b, _)| *b == base) {
                Some((_, p)) => Some(Arc::clone(p)),
                None => {
                    let (engine, work, progress, b) = (
                        engine.clone(),
                        work.to_owned(),
                        Arc::clone(&progress),
                        base.clone(),
                    );
                    let p = tokio::task::spawn_blocking(move || {
                        prepare(&engine, b.as_ref(), &work, progress)
                    })
                    .await
                    .unwrap_or_else(|e| Err(Error::Task(e.to_string())))?
                    .map(Arc::new);
                    if let Some(p) = &p {
                        sealed.push((base, Arc::clone(p)));
                    }
                    p
                }
            };
            if let Some(prepared) = &prepared {
                upload_parts(dest, prepared, progress.as_ref()).await?;
            }
            blobs = send_extras(engine, dest, &catalog).await?;
            if let Some(prepared) = &prepared {
                upload_manifest(dest, prepared).await?;
            }
            Ok(prepared.map(|p| p.manifest.clone()))
        }
        .await;
        outcomes.push(Outcome {
            destination: dest.name().to_owned(),
            result,
            blobs,
            drill: None,
        });
    }
    for (_, prepared) in sealed {
        remove_work(&prepared.dir);
    }
    outcomes
}

/// Where an increment after `latest` starts; `None` when a full backup is needed (the audit
/// log's retention removed entries the destination lacks). A destination whose newest set this
/// journal does not continue (another installation, or sets of the timeline a restore to an
/// earlier moment left behind) is refused: mixing two timelines in one destination would make
/// its restores ambiguous.
fn base_of(engine: &Engine, latest: &Manifest) -> Result<Option<Base>> {
    let journal_to = latest.journal_to.to_journal()?;
    let audit_to = latest.audit_to.to_journal()?;
    let holds = |entries: Result<journal::Entries>, at: journal::Position| -> bool {
        entries
            .ok()
            .and_then(|mut e| e.next())
            .and_then(|e| e.ok())
            .is_some_and(|e| e.seq == at.seq && e.hash == at.hash)
    };
    let journal = engine.journal();
    let journal_ok = journal_to == journal.start()
        || (journal_to.seq <= journal.head().seq
            && holds(
                journal.read_from(journal_to.seq).map_err(Error::from),
                journal_to,
            ));
    let audit = engine.audit_source();
    if journal_ok && audit_to.seq < audit.start.seq {
        return Ok(None);
    }
    let audit_ok = audit_to == audit.start
        || (audit_to.seq <= audit.head.seq
            && holds(
                engine.audit_entries(audit_to.seq).map_err(Error::from),
                audit_to,
            ));
    if !(journal_ok && audit_ok) {
        return Err(Error::Set {
            destination: String::new(),
            set: latest.backup.clone(),
            reason: format!(
                "this destination's newest set ends at journal entry {} (audit entry {}), which \
                 this system's journal does not continue: it belongs to another installation or \
                 to the timeline before a restore to an earlier moment. Back up to a new \
                 directory or prefix, or move those sets away",
                journal_to.seq, audit_to.seq
            ),
        });
    }
    Ok(Some(Base {
        journal: journal_to,
        audit: audit_to,
    }))
}

fn remove_work(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::warn!(path = %dir.display(), error = %e, "could not remove a backup work directory");
    }
}

/// Records each outcome as an audit event: `backup.completed` (a full backup),
/// `backup.shipped` (an increment), or `backup.failed` naming the destination and the cause.
/// Returns whether every destination succeeded.
pub async fn record(engine: &Engine, outcomes: &[Outcome]) -> bool {
    use audit::event::Outcome as Result_;
    let mut all = true;
    for outcome in outcomes {
        let draft = match &outcome.result {
            Ok(Some(m)) => engine::Draft::new(
                match m.kind {
                    Kind::Full => "backup.completed",
                    Kind::Increment => "backup.shipped",
                },
                Result_::Success,
            )
            .on("backup", &m.backup)
            .with("destination", outcome.destination.as_str())
            .with("journal_to", m.journal_to.seq)
            .with("last_at", m.last_at)
            .with("audit_to", m.audit_to.seq)
            .with("bytes", m.parts.iter().map(|p| p.len).sum::<u64>())
            .with("attachments", outcome.blobs),
            Ok(None) => continue,
            Err(e) => {
                all = false;
                engine::Draft::new("backup.failed", Result_::Failure)
                    .on("destination", &outcome.destination)
                    .because(&e.to_string())
            }
        };
        if let Err(e) = engine.audit(engine::Scope::System, draft).await {
            tracing::error!(error = %e, "a backup event could not be recorded");
        }
    }
    all
}
