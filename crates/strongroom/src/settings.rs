//! Turning flags, environment and the config file into one [`config::Config`], and the
//! `config check` / `config show` commands.

use std::process::ExitCode;

use anyhow::Context;
use config::{Config, Severity};
use engine::Paths;

use crate::cli::{ServeArgs, StorageArgs};

/// Loads the configuration: defaults < file < `STRONGROOM_*` environment < flags.
pub fn load(storage: &StorageArgs, listen: Option<std::net::SocketAddr>) -> anyhow::Result<Config> {
    let mut config = Config::load(storage.config.as_deref(), std::env::vars())
        .context("loading the configuration")?;
    if let Some(data) = &storage.data {
        config.storage.data = data.clone();
    }
    if let Some(mirror) = &storage.mirror {
        config.storage.mirror = mirror.clone();
    }
    if let Some(key_file) = &storage.key_file {
        config.storage.key_file = key_file.clone();
    }
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    Ok(config)
}

pub fn paths(config: &Config) -> Paths {
    Paths {
        data: config.storage.data.clone(),
        mirror: config.storage.mirror.clone(),
        key_file: config.storage.key_file.clone(),
    }
}

/// How the engine opens under `config`; `create` initialises empty locations (serve only).
pub fn engine_options(config: &Config, create: bool) -> engine::Options {
    engine::Options {
        segment_bytes: config.storage.segment_bytes,
        create,
        audit_key_file: config.audit.signing_key_file.clone(),
        audit_checkpoint_events: config.audit.checkpoint_events,
        ..engine::Options::default()
    }
}

/// Prints every finding to stderr; returns false when any is an error.
pub fn report_findings(config: &Config) -> bool {
    let findings = config.check();
    for finding in &findings {
        eprintln!("{finding}");
    }
    !findings.iter().any(|f| f.severity == Severity::Error)
}

/// `strongroom config check`.
pub fn check(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args.storage, args.listen)?;
    if report_findings(&config) {
        println!("configuration ok");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("configuration refused: fix the settings named above");
        Ok(ExitCode::from(2))
    }
}

/// `strongroom config show`.
pub fn show(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args.storage, args.listen)?;
    println!("{}", serde_json::to_string_pretty(&config)?);
    Ok(ExitCode::SUCCESS)
}

/// Loads config for an offline admin command; refuses unsafe storage settings.
pub fn for_admin(storage: &StorageArgs) -> anyhow::Result<(Config, Paths)> {
    let config = load(storage, None)?;
    let refused: Vec<String> = config
        .check()
        .into_iter()
        .filter(|f| f.severity == Severity::Error && f.setting.starts_with("storage."))
        .map(|f| f.to_string())
        .collect();
    if !refused.is_empty() {
        anyhow::bail!("configuration refused:\n{}", refused.join("\n"));
    }
    let paths = paths(&config);
    Ok((config, paths))
}
