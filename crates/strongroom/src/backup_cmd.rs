//! `strongroom backup now|list|verify` and `strongroom restore`: the command-line side of
//! backups (P12) and restores (P11, P13). Progress goes to stderr: a bar on a terminal, JSON
//! lines otherwise; results go to stdout.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use backup::{Destination, Location, Progress, Spec, Step};
use config::{Config, DestinationKind};
use engine::{Engine, Paths};

use crate::cli::StorageArgs;
use crate::settings;

/// The destinations `config` lists, opened.
pub fn destinations(config: &Config) -> anyhow::Result<Vec<Destination>> {
    let Some(backup) = &config.backup else {
        bail!(
            "no [backup] section in the configuration: list at least two destinations \
             (see the README, \"Backups\")"
        );
    };
    backup.destinations.iter().map(open_destination).collect()
}

fn open_destination(d: &config::Destination) -> anyhow::Result<Destination> {
    let location = match d.kind {
        DestinationKind::Local => Location::Local {
            path: d
                .path
                .clone()
                .with_context(|| format!("destination {}: no path", d.name))?,
        },
        DestinationKind::S3 => Location::S3 {
            bucket: d
                .bucket
                .clone()
                .with_context(|| format!("destination {}: no bucket", d.name))?,
            prefix: d.prefix.clone(),
            endpoint: d.endpoint.clone(),
            credentials_file: d
                .credentials_file
                .clone()
                .with_context(|| format!("destination {}: no credentials_file", d.name))?,
        },
    };
    Ok(Destination::open(Spec {
        name: d.name.clone(),
        region: d.region.clone(),
        jurisdiction: d.jurisdiction.clone(),
        location,
    })?)
}

/// Refuses a configuration whose `[backup]` (or storage) settings `config check` refuses.
pub fn checked(storage: &StorageArgs) -> anyhow::Result<(Config, Paths)> {
    let config = settings::load(storage, None)?;
    let refused: Vec<String> = config
        .check()
        .into_iter()
        .filter(|f| {
            f.severity == config::Severity::Error
                && (f.setting.starts_with("storage.") || f.setting.starts_with("backup"))
        })
        .map(|f| f.to_string())
        .collect();
    if !refused.is_empty() {
        bail!("configuration refused:\n{}", refused.join("\n"));
    }
    let paths = settings::paths(&config);
    Ok((config, paths))
}

/// Where progress goes: a one-line bar on a terminal, JSON lines otherwise.
pub struct Shown {
    terminal: bool,
    last: Mutex<String>,
}

impl Shown {
    pub fn new() -> Arc<Shown> {
        Arc::new(Shown {
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new(String::new()),
        })
    }

    /// Ends the bar's line.
    pub fn done(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

impl Progress for Shown {
    fn step(&self, step: Step) {
        let mut err = std::io::stderr().lock();
        if !self.terminal {
            if let Ok(line) = serde_json::to_string(&step) {
                let _ = writeln!(err, "{line}");
            }
            return;
        }
        let bar = match (step.done.min(step.total) * 30).checked_div(step.total) {
            Some(filled) => {
                let filled = filled as usize;
                format!("[{}{}] ", "#".repeat(filled), "-".repeat(30 - filled))
            }
            None => String::new(),
        };
        let line = format!(
            "{bar}{} {} {}/{}",
            step.stage, step.item, step.done, step.total
        );
        if let Ok(mut last) = self.last.lock() {
            let pad = last.len().saturating_sub(line.len());
            let _ = write!(err, "\r{line}{}", " ".repeat(pad));
            *last = line;
        }
    }
}

fn work_dir(paths: &Paths) -> PathBuf {
    paths.data.join("backup-work")
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// Prints outcomes; true when every destination succeeded.
fn print_outcomes(outcomes: &[backup::take::Outcome]) -> bool {
    let mut ok = true;
    for outcome in outcomes {
        match &outcome.result {
            Ok(Some(m)) => println!(
                "{}: {} {} up to journal entry {} (audit {}), {} bytes in {} parts, {} new attachment(s)",
                outcome.destination,
                match m.kind {
                    backup::Kind::Full => "full backup",
                    backup::Kind::Increment => "increment",
                },
                m.backup,
                m.journal_to.seq,
                m.audit_to.seq,
                m.parts.iter().map(|p| p.len).sum::<u64>(),
                m.parts.len(),
                outcome.blobs
            ),
            Ok(None) => println!(
                "{}: up to date ({} new attachment(s))",
                outcome.destination, outcome.blobs
            ),
            Err(e) => {
                ok = false;
                println!("{}: FAILED: {e}", outcome.destination);
            }
        }
    }
    ok
}

/// The backup service of an offline command (the server's lock is held by the caller).
pub fn offline_service(
    config: &Config,
    paths: &Paths,
    engine: &Engine,
    destinations: Vec<Destination>,
) -> Arc<backup::service::Service> {
    let keep = config.backup.as_ref().map_or(
        backup::retention::Keep {
            days: 35,
            keyring_days: 7,
        },
        |b| backup::retention::Keep {
            days: b.retention_days,
            keyring_days: b.keyring_history_days,
        },
    );
    backup::service::Service::new(engine.clone(), destinations, work_dir(paths), keep)
}

/// `strongroom backup now [--ship]` (offline: the server runs its own schedule).
pub fn now(storage: &StorageArgs, ship: bool) -> anyhow::Result<ExitCode> {
    let (config, paths) = checked(storage)?;
    let destinations = destinations(&config)?;
    let options = settings::engine_options(&config, false);
    let opened = Engine::open(&paths, options).context("opening the data directories")?;
    let engine = opened.engine;
    let shown = Shown::new();
    let progress: Arc<dyn Progress> = shown.clone();
    let service = offline_service(&config, &paths, &engine, destinations);
    let run = if ship {
        backup::service::Run::Ship
    } else {
        backup::service::Run::Full
    };
    let ok = runtime()?.block_on(async {
        let outcomes = service.run_with(run, progress).await;
        shown.done();
        print_outcomes(&outcomes)
    });
    engine.shutdown();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `strongroom drill`: the latest backup of each destination restored into a scratch directory
/// and compared with the live state at the same position; prints the measured RTO and RPO and
/// records them. Exit status 1 when any drill failed.
pub fn drill(storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    let (config, paths) = checked(storage)?;
    let destinations = destinations(&config)?;
    let options = settings::engine_options(&config, false);
    let opened = Engine::open(&paths, options).context("opening the data directories")?;
    let engine = opened.engine;
    let shown = Shown::new();
    let ok = runtime()?.block_on(async {
        let mut ok = true;
        for dest in &destinations {
            let progress: Arc<dyn Progress> = shown.clone();
            let result = backup::drill::drill(&engine, dest, &work_dir(&paths), progress).await;
            shown.done();
            backup::drill::record(&engine, dest.name(), &result).await;
            match result {
                Ok(d) => println!(
                    "{}: drill passed: restored to journal entry {} with the live digest {}; \
                     RTO {:.1} s, RPO {:.1} s",
                    dest.name(),
                    d.seq,
                    crypto::hex(d.digest),
                    d.rto.as_secs_f64(),
                    d.rpo.as_secs_f64()
                ),
                Err(e) => {
                    ok = false;
                    println!("{}: DRILL FAILED: {e}", dest.name());
                }
            }
        }
        ok
    });
    engine.shutdown();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The master key file: `--master-key` or the configured one.
fn master_key(config: &Config, given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| config.storage.key_file.clone())
}

/// A destination by name from the configuration, or a local directory given as a path.
fn destination_named(config: &Config, from: &str) -> anyhow::Result<Destination> {
    if from.contains('/') {
        if !Path::new(from).is_dir() {
            bail!("--from {from}: no such directory");
        }
        return Ok(Destination::open(Spec {
            name: from.to_owned(),
            region: String::new(),
            jurisdiction: String::new(),
            location: Location::Local {
                path: PathBuf::from(from),
            },
        })?);
    }
    let found = config
        .backup
        .as_ref()
        .and_then(|b| b.destinations.iter().find(|d| d.name == from));
    match found {
        Some(d) => open_destination(d),
        None => bail!(
            "no destination named {from} in the configuration (give its name, or a directory \
             path containing /)"
        ),
    }
}

/// `strongroom backup list`: every destination's sets, keyring copies and attachments.
pub fn list(storage: &StorageArgs, master: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (config, _) = checked(storage)?;
    let key = keyring::backup_manifest_key(
        &keyring::MasterKey::load(&master_key(&config, master)).context("the master key")?,
    );
    let mut ok = true;
    runtime()?.block_on(async {
        for dest in destinations(&config)? {
            match backup::Catalog::read(&dest, &key).await {
                Ok(catalog) => {
                    println!(
                        "{} ({}, {}): {} set(s), keyring generations {:?}, {} attachment(s)",
                        dest.name(),
                        dest.spec.region,
                        dest.spec.jurisdiction,
                        catalog.sets.len(),
                        catalog.keyrings,
                        catalog.blobs.len()
                    );
                    for set in &catalog.sets {
                        let m = &set.manifest;
                        println!(
                            "  {} {:<9} created {} entries {}..={} last entry at {} audit ..={} {} bytes",
                            m.backup,
                            format!("{:?}", m.kind).to_lowercase(),
                            show_time(m.created_at),
                            m.journal_from.seq + 1,
                            m.journal_to.seq,
                            show_time(m.last_at),
                            m.audit_to.seq,
                            set.stored
                        );
                    }
                    for dir in &catalog.unfinished {
                        println!("  unfinished (no manifest, ignored): {dir}");
                    }
                }
                Err(e) => {
                    ok = false;
                    println!("{}: FAILED: {e}", dest.name());
                }
            }
        }
        anyhow::Ok(())
    })?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `strongroom backup verify`: every destination checked as a restore would read it.
pub fn verify(storage: &StorageArgs, master: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (config, paths) = checked(storage)?;
    let master = master_key(&config, master);
    let work = std::env::temp_dir().join(format!("strongroom-verify-{}", std::process::id()));
    let _ = paths;
    let shown = Shown::new();
    let mut ok = true;
    runtime()?.block_on(async {
        for dest in destinations(&config)? {
            let progress: Arc<dyn Progress> = shown.clone();
            let result = backup::verify::verify(&dest, &master, &work, progress).await;
            shown.done();
            match result {
                Ok(v) => println!(
                    "{}: ok: {} set(s), {} part(s), {} bytes, {} attachment(s), keyring generation {}{}",
                    dest.name(),
                    v.sets,
                    v.parts,
                    v.bytes,
                    v.attachments,
                    v.keyring_generation,
                    if v.unfinished.is_empty() {
                        String::new()
                    } else {
                        format!(", {} unfinished upload(s) ignored", v.unfinished.len())
                    }
                ),
                Err(e) => {
                    ok = false;
                    println!("{}: FAILED: {e}", dest.name());
                }
            }
        }
        anyhow::Ok(())
    })?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What `strongroom restore` was asked.
pub struct RestoreArgs<'a> {
    pub storage: &'a StorageArgs,
    pub from: &'a str,
    pub to: &'a Path,
    pub mirror: Option<&'a Path>,
    pub at: Option<&'a str>,
    pub master: Option<&'a Path>,
    pub audit_key: Option<&'a Path>,
}

/// A time for people: RFC 3339, UTC, milliseconds.
pub(crate) fn show_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Parses `--at`: RFC 3339, or Unix milliseconds.
pub(crate) fn parse_at(text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| {
            format!(
                "--at {text:?}: not an RFC 3339 time (2026-11-25T09:30:00Z) nor Unix milliseconds"
            )
        })?;
    Ok((parsed.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// `strongroom restore --from DEST --to DIR [--at TIME]`.
pub fn restore(args: &RestoreArgs<'_>) -> anyhow::Result<ExitCode> {
    let config = settings::load(args.storage, None)?;
    let at = args.at.map(parse_at).transpose()?;
    let master_key_file = master_key(&config, args.master);
    let mirror = args.mirror.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut name = args.to.as_os_str().to_owned();
        name.push(".mirror");
        PathBuf::from(name)
    });
    let paths = Paths {
        data: args.to.to_path_buf(),
        mirror,
        key_file: master_key_file.clone(),
    };
    let audit_key_file = args
        .audit_key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| paths.default_audit_key_file());
    let destination = destination_named(&config, args.from)?;
    let shown = Shown::new();
    let progress: Arc<dyn Progress> = shown.clone();
    let request = backup::restore::Request {
        destination,
        master_key_file,
        paths: paths.clone(),
        audit_key_file: audit_key_file.clone(),
        at,
        segment_bytes: config.storage.segment_bytes,
    };
    let restored = runtime()?.block_on(backup::restore::restore(request, progress));
    shown.done();
    let restored = restored.context("restore failed; nothing was kept")?;
    for line in &restored.report {
        eprintln!("open: {line}");
    }
    for warning in &restored.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "restored {} (mirror {}) from {} in {:.1} s",
        paths.data.display(),
        paths.mirror.display(),
        args.from,
        restored.elapsed.as_secs_f64()
    );
    println!(
        "journal entry {} (last entry sealed at {}), audit entry {}, {} attachment(s), {}",
        restored.journal.seq,
        show_time(restored.last_at),
        restored.audit.seq,
        restored.blobs,
        if restored.from_snapshot {
            "from a snapshot"
        } else {
            "replayed from the first entry"
        }
    );
    println!("sets: {}", restored.sets.join(", "));
    println!("state digest {}", crypto::hex(restored.digest));
    println!(
        "audit signing key written to {}; serve with --data {} --mirror {} --key-file {}",
        audit_key_file.display(),
        paths.data.display(),
        paths.mirror.display(),
        paths.key_file.display()
    );
    Ok(ExitCode::SUCCESS)
}
