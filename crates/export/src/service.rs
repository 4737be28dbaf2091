//! The export jobs of a running server: a request is journaled (`ExportRequested`, with its
//! 30-day deadline) and answered at once with the passphrase; the job waits for one of
//! `max_concurrent` slots (in order of request), writes `<data>/exports/<export>.srx` through a
//! temporary name (fsynced, renamed), and journals its progress and its end. Download links are
//! single-use and short-lived, kept in memory as token hashes only. Archives are deleted 7 days
//! after completion ([`Service::sweep`]); jobs a stop interrupted fail at the next start
//! ([`Service::recover`]).

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crypto::Secret;
use engine::event::Event;
use engine::model::{ExportDoc, ExportStatus};
use engine::{Engine, Scope};
use types::{ExportId, TenantId, UserId};

use crate::archive::{self, Sources};
use crate::passphrase::{self, KdfParams};
use crate::sealed::{Header, SealWriter, Written};
use crate::{Error, Result};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Why a job a stop interrupted failed.
pub const INTERRUPTED: &str = "interrupted; request a new export";

/// How exports run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Jobs running at once; later ones wait in order.
    pub max_concurrent: usize,
    pub kdf: KdfParams,
    /// How long an archive is kept after completion.
    pub keep_ms: i64,
    /// How long a download link is valid.
    pub link_ms: i64,
    /// The promise: complete within this time of the request.
    pub deadline_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrent: 2,
            kdf: KdfParams::DEFAULT,
            keep_ms: 7 * DAY_MS,
            link_ms: 15 * 60 * 1000,
            deadline_ms: 30 * DAY_MS,
        }
    }
}

/// An export as its tenant's administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ExportView {
    pub id: ExportId,
    /// `queued`, `running`, `completed`, `failed` or `expired`.
    #[schema(pattern = "^(queued|running|completed|failed|expired)$")]
    pub status: String,
    pub requested_by: UserId,
    /// Unix ms.
    pub requested_at: i64,
    /// The promise: complete by then (requested + 30 days), Unix ms.
    pub deadline: i64,
    /// Items (records and attachments) written, of `total`.
    pub done: u64,
    pub total: u64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// The sealed archive's size in bytes and SHA-256 (hex).
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub error: Option<String>,
    pub downloads: u32,
    /// When the archive is (or was) deleted, Unix ms.
    pub expires_at: Option<i64>,
}

/// A download link: its token (shown once) and its end.
#[derive(Debug)]
pub struct Link {
    pub token: Secret<String>,
    pub expires_at: i64,
}

/// The archive a link gave: an open file of `size` bytes.
#[derive(Debug)]
pub struct DownloadFile {
    pub export: ExportId,
    pub size: u64,
    pub file: std::fs::File,
}

/// Awaited by a job once it holds its slot, before it writes (tests pause jobs with it).
pub type Hook = Arc<dyn Fn(ExportId) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

struct LinkEntry {
    tenant: TenantId,
    export: ExportId,
    expires_at: i64,
}

/// The export service of one process.
pub struct Service {
    src: Sources,
    config: Config,
    dir: PathBuf,
    slots: Arc<tokio::sync::Semaphore>,
    links: Mutex<HashMap<[u8; 32], LinkEntry>>,
    hook: Mutex<Option<Hook>>,
    /// Moves whenever a job ends.
    ended: tokio::sync::watch::Sender<u64>,
}

fn status_name(s: ExportStatus) -> &'static str {
    match s {
        ExportStatus::Queued => "queued",
        ExportStatus::Running => "running",
        ExportStatus::Completed => "completed",
        ExportStatus::Failed => "failed",
        ExportStatus::Expired => "expired",
    }
}

impl Service {
    /// The service over `src`; creates `<data>/exports` and removes unfinished files there.
    pub fn new(src: Sources, config: Config) -> Result<Arc<Service>> {
        let dir = src.engine.paths().exports_dir();
        std::fs::create_dir_all(&dir).map_err(Error::io("creating the exports directory"))?;
        for entry in std::fs::read_dir(&dir).map_err(Error::io("reading the exports directory"))? {
            let path = entry
                .map_err(Error::io("reading the exports directory"))?
                .path();
            if path.extension().is_some_and(|e| e == "tmp") {
                std::fs::remove_file(&path).map_err(Error::io("removing an unfinished export"))?;
            }
        }
        Ok(Arc::new(Service {
            src,
            slots: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent.max(1))),
            config,
            dir,
            links: Mutex::default(),
            hook: Mutex::default(),
            ended: tokio::sync::watch::Sender::new(0),
        }))
    }

    fn engine(&self) -> &Engine {
        &self.src.engine
    }

    fn file(&self, id: ExportId) -> PathBuf {
        self.engine().paths().export_file(id)
    }

    /// Installs the hook every job awaits once it holds its slot.
    pub fn set_hook(&self, hook: Hook) {
        if let Ok(mut h) = self.hook.lock() {
            *h = Some(hook);
        }
    }

    fn view(&self, d: &ExportDoc) -> ExportView {
        ExportView {
            id: d.id,
            status: status_name(d.status).to_owned(),
            requested_by: d.requested_by,
            requested_at: d.requested_at,
            deadline: d.deadline,
            done: d.done,
            total: d.total,
            started_at: d.started_at,
            completed_at: d.completed_at,
            size: d.size,
            sha256: d.digest.clone(),
            error: d.error.clone(),
            downloads: d.downloads,
            expires_at: d
                .expired_at
                .or(d.completed_at.map(|at| at + self.config.keep_ms)),
        }
    }

    fn doc(&self, tenant: TenantId, id: ExportId) -> Result<ExportDoc> {
        match self.engine().get_doc::<ExportDoc>(&id.to_string())? {
            Some(d) if d.tenant == tenant => Ok(d),
            _ => Err(Error::NotFound),
        }
    }

    /// Requests an export of `tenant` for `user`: journaled, queued, and the passphrase
    /// returned (shown once, never stored).
    pub async fn request(
        self: &Arc<Self>,
        tenant: TenantId,
        user: UserId,
    ) -> Result<(ExportView, Secret<String>)> {
        // One export in progress per tenant: the queue is bounded by the number of tenants.
        let open = self
            .engine()
            .children::<ExportDoc>(&tenant.to_string())?
            .into_iter()
            .any(|d| matches!(d.status, ExportStatus::Queued | ExportStatus::Running));
        if open {
            return Err(Error::Conflict(
                "an export of this tenant is already queued or running; wait for it to end".into(),
            ));
        }
        let now = self.engine().now().millis();
        let doc = ExportDoc {
            id: ExportId::random(),
            tenant,
            requested_by: user,
            requested_at: now,
            deadline: now + self.config.deadline_ms,
            status: ExportStatus::Queued,
            done: 0,
            total: 0,
            started_at: None,
            completed_at: None,
            size: None,
            digest: None,
            error: None,
            downloads: 0,
            expired_at: None,
        };
        let event = Event::ExportRequested { doc: doc.clone() };
        self.engine().commit(Scope::Tenant(tenant), &event).await?;
        let passphrase = passphrase::generate();
        let job = Secret::new(passphrase.expose().clone());
        tokio::spawn(Arc::clone(self).run(doc.clone(), job));
        Ok((self.view(&doc), passphrase))
    }

    async fn run(self: Arc<Self>, doc: ExportDoc, passphrase: Secret<String>) {
        let scope = Scope::Tenant(doc.tenant);
        let event = match self.write(&doc, passphrase).await {
            Ok(w) => Event::ExportCompleted {
                export: doc.id,
                size: w.size,
                digest: crypto::hex(w.sha256),
            },
            Err(e) => {
                tracing::error!(export = %doc.id, error = %e, "an export failed");
                Event::ExportFailed {
                    export: doc.id,
                    reason: audit::event::cap(&e.to_string(), 300),
                }
            }
        };
        if let Err(e) = self.engine().commit(scope, &event).await {
            tracing::error!(export = %doc.id, error = %e, "an export's end could not be recorded");
        }
        self.ended.send_modify(|n| *n += 1);
    }

    /// Waits for a slot, then writes the archive; returns what was written.
    async fn write(&self, doc: &ExportDoc, passphrase: Secret<String>) -> Result<Written> {
        let _slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let started = Event::ExportProgressed {
            export: doc.id,
            done: 0,
            total: 0,
        };
        self.engine()
            .commit(Scope::Tenant(doc.tenant), &started)
            .await?;
        let hook = self.hook.lock().ok().and_then(|h| h.clone());
        if let Some(hook) = hook {
            hook(doc.id).await;
        }
        let normalized = passphrase::normalize(passphrase.expose())?;
        drop(passphrase);
        let mut salt = [0u8; 16];
        crypto::random_bytes(&mut salt);
        let header = Header {
            kdf: self.config.kdf,
            salt,
            export: doc.id,
        };
        let (src, dir, doc, file) = (
            self.src.clone(),
            self.dir.clone(),
            doc.clone(),
            self.file(doc.id),
        );
        tokio::task::spawn_blocking(move || {
            let key = passphrase::derive_key(&normalized, &header.salt, header.kdf)?;
            drop(normalized);
            write_file(&src, &doc, &header, key, &dir, &file)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Every export of a tenant, newest first.
    pub fn list(&self, tenant: TenantId) -> Result<Vec<ExportView>> {
        let mut docs = self.engine().children::<ExportDoc>(&tenant.to_string())?;
        docs.retain(|d| d.tenant == tenant);
        docs.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then(b.id.cmp(&a.id)));
        Ok(docs.iter().map(|d| self.view(d)).collect())
    }

    pub fn show(&self, tenant: TenantId, id: ExportId) -> Result<ExportView> {
        self.doc(tenant, id).map(|d| self.view(&d))
    }

    /// Waits until the export has ended (completed or failed) and returns it.
    pub async fn finished(&self, tenant: TenantId, id: ExportId) -> Result<ExportView> {
        let mut ended = self.ended.subscribe();
        loop {
            let doc = self.doc(tenant, id)?;
            if !matches!(doc.status, ExportStatus::Queued | ExportStatus::Running) {
                return Ok(self.view(&doc));
            }
            ended
                .changed()
                .await
                .map_err(|e| Error::Task(e.to_string()))?;
        }
    }

    /// A single-use download link of a completed export, valid for `link_ms`.
    pub fn link(&self, tenant: TenantId, id: ExportId) -> Result<Link> {
        let doc = self.doc(tenant, id)?;
        if doc.status != ExportStatus::Completed {
            return Err(Error::Conflict(format!(
                "the export is {}: only a completed export can be downloaded",
                status_name(doc.status)
            )));
        }
        let now = self.engine().now().millis();
        let token = crypto::generate_token("srx_");
        let expires_at = now + self.config.link_ms;
        let mut links = self
            .links
            .lock()
            .map_err(|_| Error::Task("poisoned".into()))?;
        links.retain(|_, l| l.expires_at >= now);
        links.insert(
            crypto::token_hash(token.expose()),
            LinkEntry {
                tenant,
                export: id,
                expires_at,
            },
        );
        Ok(Link { token, expires_at })
    }

    /// Consumes a download link (before anything is sent) and opens its archive; the download
    /// is journaled (`export.downloaded`).
    pub async fn take(&self, token: &str) -> Result<DownloadFile> {
        let hash = crypto::token_hash(token);
        let entry = self
            .links
            .lock()
            .map_err(|_| Error::Task("poisoned".into()))?
            .remove(&hash)
            .ok_or(Error::LinkUnknown)?;
        if self.engine().now().millis() > entry.expires_at {
            return Err(Error::LinkExpired);
        }
        let doc = self.doc(entry.tenant, entry.export)?;
        if doc.status != ExportStatus::Completed {
            return Err(Error::LinkUnknown);
        }
        let file =
            std::fs::File::open(self.file(doc.id)).map_err(Error::io("opening the archive"))?;
        let size = file
            .metadata()
            .map_err(Error::io("reading the archive"))?
            .len();
        let event = Event::ExportDownloaded { export: doc.id };
        self.engine()
            .commit(Scope::Tenant(doc.tenant), &event)
            .await?;
        Ok(DownloadFile {
            export: doc.id,
            size,
            file,
        })
    }

    /// Open exports (queued or running) whose 30-day deadline is at most `within_ms` away or
    /// past: what the deadline alert reports.
    pub fn deadlines_near(&self, within_ms: i64) -> Result<Vec<ExportDoc>> {
        let now = self.engine().now().millis();
        Ok(self
            .all()?
            .into_iter()
            .filter(|d| matches!(d.status, ExportStatus::Queued | ExportStatus::Running))
            .filter(|d| d.deadline - now <= within_ms)
            .collect())
    }

    /// Every export of every tenant.
    fn all(&self) -> Result<Vec<ExportDoc>> {
        let (mut out, mut after) = (Vec::new(), None);
        loop {
            let tenants = self
                .engine()
                .state()
                .list_tenants(after, 500)
                .map_err(engine::Error::from)?;
            for t in &tenants {
                out.extend(self.engine().children::<ExportDoc>(&t.id.to_string())?);
            }
            if tenants.len() < 500 {
                return Ok(out);
            }
            after = tenants.last().map(|t| t.id);
        }
    }

    /// At start: every export a stop left queued or running fails (its passphrase is gone).
    pub async fn recover(&self) -> Result<u64> {
        let mut n = 0;
        for doc in self.all()? {
            if matches!(doc.status, ExportStatus::Queued | ExportStatus::Running) {
                let event = Event::ExportFailed {
                    export: doc.id,
                    reason: INTERRUPTED.to_owned(),
                };
                self.engine()
                    .commit(Scope::Tenant(doc.tenant), &event)
                    .await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes the archives completed `keep_ms` ago or more (`export.expired`); returns how many.
    pub async fn sweep(&self) -> Result<u64> {
        let now = self.engine().now().millis();
        let mut n = 0;
        for doc in self.all()? {
            let due = doc
                .completed_at
                .is_some_and(|at| at + self.config.keep_ms <= now);
            if doc.status != ExportStatus::Completed || !due {
                continue;
            }
            self.expire(&doc).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Deletes every completed archive of `tenant` now (a data subject of the tenant was
    /// erased: the archives are sealed under their passphrase and may hold the subject's
    /// records). Returns how many.
    pub async fn expire_tenant(&self, tenant: TenantId) -> Result<u64> {
        let mut n = 0;
        for doc in self.engine().children::<ExportDoc>(&tenant.to_string())? {
            if doc.status == ExportStatus::Completed {
                self.expire(&doc).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes a completed export's archive and its links, and records `export.expired`.
    async fn expire(&self, doc: &ExportDoc) -> Result<()> {
        match std::fs::remove_file(self.file(doc.id)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("deleting an expired export")(e)),
        }
        if let Ok(mut links) = self.links.lock() {
            links.retain(|_, l| l.export != doc.id);
        }
        let event = Event::ExportExpired { export: doc.id };
        self.engine()
            .commit(Scope::Tenant(doc.tenant), &event)
            .await?;
        Ok(())
    }
}

/// Journals progress at most once per tenth of the work or 30 s.
struct Pace {
    engine: Engine,
    tenant: TenantId,
    export: ExportId,
    last_done: u64,
    last_at: i64,
}

impl Pace {
    fn step(&mut self, done: u64, total: u64) {
        let now = self.engine.now().millis();
        let tenth = done >= self.last_done + total.div_ceil(10);
        if done <= self.last_done || !(tenth || now - self.last_at >= 30_000) {
            return;
        }
        (self.last_done, self.last_at) = (done, now);
        let event = Event::ExportProgressed {
            export: self.export,
            done,
            total,
        };
        if let Err(e) = self
            .engine
            .commit_blocking(Scope::Tenant(self.tenant), &event)
        {
            tracing::warn!(export = %self.export, error = %e, "an export's progress was not recorded");
        }
    }
}

/// Writes the sealed archive to `<file>.tmp`, syncs it, renames it to `file`, syncs the
/// directory. The temporary file is removed on failure.
fn write_file(
    src: &Sources,
    doc: &ExportDoc,
    header: &Header,
    key: crypto::Key256,
    dir: &Path,
    file: &Path,
) -> Result<Written> {
    let tmp = file.with_extension("srx.tmp");
    let result = (|| {
        let out = std::fs::File::create(&tmp).map_err(Error::io("creating the archive"))?;
        let mut sealed = SealWriter::new(BufWriter::new(out), Arc::new(key), doc.id, Some(header))?;
        let mut pace = Pace {
            engine: src.engine.clone(),
            tenant: doc.tenant,
            export: doc.id,
            last_done: 0,
            last_at: src.engine.now().millis(),
        };
        let mut progress = |done, total| pace.step(done, total);
        archive::write(
            src,
            doc.tenant,
            doc.id,
            doc.requested_at,
            dir,
            &mut sealed,
            &mut progress,
        )?;
        sealed.flush().map_err(Error::io("writing the archive"))?;
        let (buffered, written) = sealed.finish()?;
        let out = buffered
            .into_inner()
            .map_err(|e| Error::io("writing the archive")(e.into_error()))?;
        out.sync_all().map_err(Error::io("syncing the archive"))?;
        std::fs::rename(&tmp, file).map_err(Error::io("moving the archive into place"))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("syncing the exports directory"))?;
        Ok(written)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
