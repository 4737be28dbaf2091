//! Restore drills (P13 measured): the latest backup at a destination restored into a scratch
//! directory, its state digest compared with the live system's at the same journal position,
//! and the recovery time and recovery point actually achieved recorded (an audit event and the
//! service's status, read by the metrics). A mismatch or a failed restore is
//! `backup.drill_failed`, which the built-in alert `backup_failed` reports.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Engine, Paths};

use crate::destination::Destination;
use crate::progress::Progress;
use crate::{Error, Result};

/// What a drill measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drill {
    pub destination: String,
    /// The journal position the restored copy reached.
    pub seq: u64,
    pub digest: [u8; 32],
    /// From the drill's start to a restored, verified copy.
    pub rto: Duration,
    /// How much acknowledged work the copy lacked at the drill's start: the age of the oldest
    /// live entry the backup did not hold (zero when it held every entry).
    pub rpo: Duration,
}

/// Runs one drill against `dest` in `work` (emptied before and removed after).
pub async fn drill(
    engine: &Engine,
    dest: &Destination,
    work: &Path,
    progress: Arc<dyn Progress>,
) -> Result<Drill> {
    let started = Instant::now();
    let started_at = engine.now().millis();
    let dir = work.join(format!("drill-{}", dest.name()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = run(engine, dest, &dir, started, started_at, progress).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(
    engine: &Engine,
    dest: &Destination,
    dir: &Path,
    started: Instant,
    started_at: i64,
    progress: Arc<dyn Progress>,
) -> Result<Drill> {
    let restored = crate::restore::restore(
        crate::restore::Request {
            destination: dest.clone(),
            master_key_file: engine.paths().key_file.clone(),
            paths: Paths {
                data: dir.join("data"),
                mirror: dir.join("mirror"),
                key_file: engine.paths().key_file.clone(),
            },
            audit_key_file: dir.join("audit-signing.key"),
            at: None,
            segment_bytes: 64 * 1024 * 1024,
        },
        progress,
    )
    .await?;
    let seq = restored.journal.seq;
    let live = {
        let (engine, scratch) = (engine.clone(), dir.join("live-at.sqlite"));
        tokio::task::spawn_blocking(move || engine.digest_at(seq, &scratch))
            .await
            .map_err(|e| Error::Task(e.to_string()))??
    };
    if live != restored.digest {
        return Err(Error::Set {
            destination: dest.name().to_owned(),
            set: restored.sets.last().cloned().unwrap_or_default(),
            reason: format!(
                "the restored state at entry {seq} differs from the live state there (digest {} \
                 against {})",
                crypto::hex(restored.digest),
                crypto::hex(live)
            ),
        });
    }
    let rto = started.elapsed();
    let first_missing = engine
        .journal()
        .read_from(seq + 1)?
        .next()
        .transpose()?
        .map(|e| engine::archive::entry_at(&e.payload))
        .transpose()?;
    let rpo = first_missing.map_or(Duration::ZERO, |at| {
        Duration::from_millis(u64::try_from(started_at - at).unwrap_or(0))
    });
    Ok(Drill {
        destination: dest.name().to_owned(),
        seq,
        digest: live,
        rto,
        rpo,
    })
}

/// Records a drill's outcome: `backup.drill` with the measured RTO and RPO, or
/// `backup.drill_failed` with the cause.
pub async fn record(engine: &Engine, destination: &str, result: &Result<Drill>) {
    use audit::event::Outcome;
    let draft = match result {
        Ok(d) => engine::Draft::new("backup.drill", Outcome::Success)
            .on("destination", destination)
            .with("journal_seq", d.seq)
            .with("rto_ms", d.rto.as_millis() as u64)
            .with("rpo_ms", d.rpo.as_millis() as u64)
            .with("digest", crypto::hex(d.digest)),
        Err(e) => engine::Draft::new("backup.drill_failed", Outcome::Failure)
            .on("destination", destination)
            .because(&e.to_string()),
    };
    if let Err(e) = engine.audit(engine::Scope::System, draft).await {
        tracing::error!(error = %e, "a drill event could not be recorded");
    }
}
