//! `strongroom serve`: check the configuration, open (or initialise) the engine, load TLS, and
//! serve HTTPS until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use audit::Outcome;
use engine::{Draft, Engine, Scope};
use tenancy::Tenancy;

use crate::backups::Backups;
use crate::cli::ServeArgs;
use crate::watch::Watch;
use crate::{settings, tls_files};

fn init_logging(config: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log.format == "text" {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = settings::load(&args.storage, args.listen)?;
    if !settings::report_findings(&config) {
        eprintln!("refusing to start: fix the settings named above (`strongroom config check`)");
        return Ok(ExitCode::from(2));
    }
    if let Err(why) =
        crate::bench_build::check_listen(config.server.listen, crate::bench_build::ENABLED)
    {
        eprintln!("error: {why}");
        return Ok(ExitCode::from(2));
    }
    init_logging(&config);
    if crate::bench_build::ENABLED {
        println!("{}", crate::bench_build::WARNING);
        tracing::warn!("{}", crate::bench_build::WARNING);
    }
    let paths = settings::paths(&config);
    let options = settings::engine_options(&config, true);
    let opened = Engine::open(&paths, options).context("opening the data directories")?;
    for line in &opened.report {
        println!("init: {line}");
    }
    let (tls, made) = tls_files::load(&config, &paths)?;
    if let Some(line) = made {
        println!("init: {line}");
    }
    if let Some(token) = &opened.bootstrap_token {
        println!("bootstrap token: {}", token.expose());
        println!("init: store this token now; it is not shown again and only its hash is kept");
    }
    let engine = opened.engine;
    record_config(&engine, &config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve(config, engine.clone(), tls));
    engine.shutdown();
    result.map(|()| ExitCode::SUCCESS)
}

async fn serve(
    config: config::Config,
    engine: Engine,
    tls: Arc<http_api::tls::TlsConfig>,
) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(config.server.handshake_timeout_secs);
    let server = http_api::Server::bind(config.server.listen, tls, timeout).await?;
    let addr = server.local_addr().context("reading the bound address")?;
    let mut identity_config = identity::IdentityConfig::default();
    if config.auth.hash_concurrency > 0 {
        identity_config.hash_concurrency = config.auth.hash_concurrency;
    }
    let records = attachments(&config.attachments, &engine)?;
    let identity = identity::Identity::new(engine.clone(), identity_config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let backups = Backups::start(&config, engine.clone(), stopped.clone())?;
    let exports = start_exports(&config, &engine, &records, &identity, stopped.clone()).await?;
    let deletions = crate::deletions::start(
        engine.clone(),
        backups.as_ref().map(|b| Arc::clone(&b.service)),
        Arc::clone(&exports),
        stopped.clone(),
    );
    let state = Arc::new(http_api::AppState {
        tenancy: Tenancy::new(engine.clone()),
        metrics: Arc::new(http_api::Metrics::new(
            identity.clone(),
            backups.as_ref().map(|b| Arc::clone(&b.service)),
        )),
        backups: backups.as_ref().map(|b| Arc::clone(&b.service)),
        identity,
        records,
        exports,
        auth_limiter: Arc::new(http_api::IpLimiter::new(config.auth.ip_per_minute)),
        limits: Arc::new(http_api::RequestLimits::new(
            config.limits.ip_per_minute,
            config.limits.tenant_per_minute,
            config.limits.credential_per_minute,
        )),
        engine,
        hsts_max_age_secs: config.server.hsts_max_age_secs,
    });
    let watch = Watch::start(
        &config,
        state.engine.clone(),
        Arc::clone(&state.metrics),
        stopped.clone(),
    )
    .await?;
    if let Some(broken) = &watch.broken_at_start {
        eprintln!("warning: the audit log failed its verification at start: {broken}");
    }
    // Install the handlers before announcing the address: a SIGTERM that arrives right after
    // `listening on` must shut down cleanly, not kill the process.
    let signals = Signals::install().context("installing the SIGTERM and SIGINT handlers")?;
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    println!("listening on https://{addr}");
    tracing::info!(%addr, "listening");
    server.serve(http_api::router(state), stopped).await;
    watch.shutdown().await;
    // A deletion in progress finishes its step (each is safe to repeat at the next start).
    if tokio::time::timeout(Duration::from_secs(60), deletions)
        .await
        .is_err()
    {
        tracing::warn!(
            "a tenant deletion was still running at shutdown; it resumes at the next start"
        );
    }
    if let Some(backups) = backups {
        backups.shutdown().await;
    }
    Ok(())
}

/// The export service: jobs a stop interrupted fail now (their passphrases are gone), and
/// archives are deleted 7 days after completion, looked at every minute.
async fn start_exports(
    config: &config::Config,
    engine: &Engine,
    records: &records::Records,
    identity: &identity::Identity,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Arc<export::Service>> {
    let sources = export::archive::Sources {
        engine: engine.clone(),
        records: records.clone(),
        identity: identity.clone(),
    };
    let settings = export::Config {
        max_concurrent: config.exports.max_concurrent,
        ..export::Config::default()
    };
    let exports = export::Service::new(sources, settings).context("starting the exports")?;
    let failed = exports
        .recover()
        .await
        .context("closing the exports a stop interrupted")?;
    if failed > 0 {
        println!("init: {failed} export(s) interrupted by the last stop marked failed");
    }
    let sweeper = Arc::clone(&exports);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = sweeper.sweep().await {
                        tracing::error!(error = %e, "deleting expired exports failed");
                    }
                }
                _ = stop.changed() => return,
            }
        }
    });
    Ok(exports)
}

/// Records the start and the effective configuration (its digest: the file may hold paths and
/// limits, never secrets) as the first audit event of the run.
fn record_config(engine: &Engine, config: &config::Config) -> anyhow::Result<()> {
    let effective = serde_json::to_vec(config).context("serialising the configuration")?;
    let draft = Draft::new("config.loaded", Outcome::Success)
        .on("config", "effective")
        .with("sha256", crypto::hex(crypto::sha256(&effective)))
        .with("version", env!("CARGO_PKG_VERSION"));
    engine
        .audit_blocking(Scope::System, draft)
        .context("recording the start in the audit log")
}

/// SIGTERM and SIGINT, registered when created.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// The records service with the configured attachment limits, after removing attachment files
/// that no committed attachment refers to (left by a crash mid-upload or mid-deletion).
fn attachments(config: &config::Attachments, engine: &Engine) -> anyhow::Result<records::Records> {
    let mut records = records::Records::new(engine.clone());
    records.max_attachment_bytes = config.max_bytes;
    if let Some(types) = &config.allowed_types {
        records.allowed_types = Arc::new(types.clone());
    }
    let removed = records
        .collect_garbage()
        .context("removing orphaned attachment files")?;
    if removed > 0 {
        tracing::info!(files = removed, "removed orphaned attachment files");
        println!(
            "init: removed {removed} orphaned attachment file(s) (a crash interrupted an upload or deletion)"
        );
    }
    Ok(records)
}
