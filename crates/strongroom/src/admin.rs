//! Offline administration commands. Each takes the data-directory lock (through the engine) so it
//! can never run beside a live server on the same data.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use engine::{Engine, Scope, TenantStatus};
use tenancy::{Tenancy, Tenant};
use types::TenantId;

use crate::cli::{RotateArgs, StorageArgs};
use crate::{backup_cmd, settings};

fn open(storage: &StorageArgs) -> anyhow::Result<Engine> {
    let (config, paths) = settings::for_admin(storage)?;
    let options = settings::engine_options(&config, false);
    let opened = Engine::open(&paths, options).context("opening the data directories")?;
    for line in opened.report {
        eprintln!("open: {line}");
    }
    Ok(opened.engine)
}

/// `strongroom verify`: both mirrors, checksums, chain; both keyring copies.
pub fn verify(storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    let (_, paths) = settings::for_admin(storage)?;
    let report = journal::verify(&paths.journal_a(), &paths.journal_b());
    println!("{report}");
    let dirs = paths.keyring_dirs();
    let copies: Vec<Option<Vec<u8>>> = dirs
        .iter()
        .map(|d| std::fs::read(d.join("keyring.json")).ok())
        .collect();
    let keyring_ok = match (&copies[0], &copies[1]) {
        (Some(a), Some(b)) if a == b => {
            println!("keyring: both copies identical ({} bytes)", a.len());
            true
        }
        (Some(_), Some(_)) => {
            println!("keyring: the two copies differ; run `strongroom repair`");
            false
        }
        _ => {
            println!(
                "keyring: a copy is missing in {} or {}",
                dirs[0].display(),
                dirs[1].display()
            );
            false
        }
    };
    if report.is_ok() && keyring_ok {
        println!("verify: ok");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("verify: FAILED");
        Ok(ExitCode::FAILURE)
    }
}

/// `strongroom repair`: rebuild a lost or damaged mirror and keyring copy from the healthy one.
pub fn repair(storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    let (_, paths) = settings::for_admin(storage)?;
    let _locks = engine::lock_dirs(&paths)?;
    let report = journal::repair(&paths.journal_a(), &paths.journal_b())
        .context("repairing the journal mirrors")?;
    println!("{report}");
    if keyring::Keyring::exists(&paths.keyring_dirs()) {
        let master = keyring::load_master_for(&paths.key_file, &paths.keyring_dirs())?;
        let (_, lines) = keyring::Keyring::open(paths.keyring_dirs(), &master)?;
        for line in &lines {
            println!("keyring: {line}");
        }
        if lines.is_empty() {
            println!("keyring: both copies are current");
        }
    }
    println!("repair: done; run `strongroom verify` to confirm");
    Ok(ExitCode::SUCCESS)
}

/// `strongroom rebuild-state`.
pub fn rebuild_state(storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    let (config, paths) = settings::for_admin(storage)?;
    let options = settings::engine_options(&config, false);
    let report = engine::rebuild_state(&paths, options)?;
    for line in &report.report {
        eprintln!("open: {line}");
    }
    println!("journal head: {}", report.head);
    println!("live state digest:    {}", crypto::hex(report.live));
    println!("rebuilt state digest: {}", crypto::hex(report.rebuilt));
    if report.identical() {
        println!("rebuild-state: identical; the rebuilt state is now live");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("rebuild-state: DIFFERENT; the rebuilt state (from the journal) is now live");
        Ok(ExitCode::FAILURE)
    }
}

/// `strongroom state digest`.
pub fn state_digest(storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    let engine = open(storage)?;
    println!("{}", crypto::hex(engine.state().digest()?));
    engine.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// `strongroom keys rotate`.
pub fn rotate(args: &RotateArgs) -> anyhow::Result<ExitCode> {
    if args.target.master {
        let (_, paths) = settings::for_admin(&args.storage)?;
        let _locks = engine::lock_dirs(&paths)?;
        let rotation = keyring::rotate_master(&paths.key_file, paths.keyring_dirs())?;
        for line in &rotation.report {
            println!("keyring: {line}");
        }
        println!(
            "master key rotated: {} -> {}; keyring generation {} re-wrapped in both copies; the \
             old key is gone (keep an offline copy of the new one)",
            rotation.old_fingerprint, rotation.new_fingerprint, rotation.generation
        );
        return Ok(ExitCode::SUCCESS);
    }
    let engine = open(&args.storage)?;
    let scope = match &args.target.tenant {
        Some(raw) => {
            let id: TenantId = raw.parse()?;
            if engine.state().find_tenant(id)?.is_none() {
                bail!("tenant {id} does not exist");
            }
            Scope::Tenant(id)
        }
        None => Scope::System,
    };
    let version = engine.rotate_key_blocking(scope)?;
    println!(
        "rotated {}: new writes use key version {version}",
        scope.key_name()
    );
    engine.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// `strongroom keys list`.
pub fn keys_list(storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    let engine = open(storage)?;
    for scope in engine.key_scopes()? {
        let versions: Vec<String> = scope
            .versions
            .iter()
            .map(|v| v.version.to_string())
            .collect();
        let state = match scope.destroyed_at {
            Some(at) => format!("destroyed at {at}"),
            None => format!("current version {}", scope.current),
        };
        println!(
            "{}: {state}; versions [{}]",
            scope.scope,
            versions.join(", ")
        );
    }
    engine.shutdown();
    Ok(ExitCode::SUCCESS)
}

pub enum TenantAction {
    Create(String),
    List,
    Show(String),
    Suspend(String),
    Resume(String),
}

fn print_tenant(t: &Tenant) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(t)?);
    Ok(())
}

/// `strongroom tenants …`.
pub fn tenants(storage: &StorageArgs, action: TenantAction) -> anyhow::Result<ExitCode> {
    let engine = open(storage)?;
    let tenancy = Tenancy::new(engine.clone());
    let parse = |raw: &str| -> anyhow::Result<TenantId> { Ok(raw.parse()?) };
    match action {
        TenantAction::Create(name) => print_tenant(&tenancy.create_blocking(&name)?)?,
        TenantAction::Show(id) => print_tenant(&tenancy.show(parse(&id)?)?)?,
        TenantAction::Suspend(id) => {
            print_tenant(&tenancy.set_status_blocking(parse(&id)?, TenantStatus::Suspended)?)?
        }
        TenantAction::Resume(id) => {
            print_tenant(&tenancy.set_status_blocking(parse(&id)?, TenantStatus::Active)?)?
        }
        TenantAction::List => {
            let mut after = None;
            loop {
                let page = tenancy.list(after, tenancy::MAX_PAGE)?;
                for t in &page.items {
                    print_tenant(t)?;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    engine.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// `strongroom tenants restore ID --at TIME`.
pub fn restore_tenant(storage: &StorageArgs, id: &str, at: &str) -> anyhow::Result<ExitCode> {
    let tenant: TenantId = id.parse()?;
    let at = backup_cmd::parse_at(at)?;
    let engine = open(storage)?;
    let restored = engine.restore_tenant_data_blocking(tenant, at);
    engine.shutdown();
    let restored = restored.with_context(|| format!("restoring tenant {tenant}"))?;
    let c = restored.counts;
    println!(
        "tenant {tenant} restored to {} (journal up to seq {}): {} collection(s), {} record(s) \
         with {} index entries, {} attachment(s), {} idempotency key(s)",
        backup_cmd::show_time(restored.at),
        restored.cut,
        c.collections,
        c.records,
        c.index_entries,
        c.attachments,
        c.idempotency,
    );
    println!(
        "written as journal entry {} at {}; to undo it, restore to {}",
        restored.entry.position.seq,
        backup_cmd::show_time(restored.entry.at.millis()),
        restored.entry.at.millis() - 1,
    );
    Ok(ExitCode::SUCCESS)
}

/// `strongroom tenants delete-now ID [--skip-grace] [--receipt FILE]`.
pub fn delete_now(
    storage: &StorageArgs,
    id: &str,
    skip_grace: bool,
    receipt_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let tenant: TenantId = id.parse()?;
    let (config, paths) = backup_cmd::checked(storage)?;
    let destinations = match config.backup {
        Some(_) => backup_cmd::destinations(&config)?,
        None => Vec::new(),
    };
    let engine = open(storage)?;
    let service = (!destinations.is_empty())
        .then(|| backup_cmd::offline_service(&config, &paths, &engine, destinations));
    let tenancy = Tenancy::new(engine.clone());
    let result = backup_cmd::runtime()?.block_on(crate::deletions::carry_out(
        &tenancy,
        service.as_deref(),
        tenant,
        skip_grace,
    ));
    engine.shutdown();
    let done = result.with_context(|| format!("deleting tenant {tenant}"))?;
    let receipt = done.receipt;
    let text = receipt.encode();
    if let Some(file) = receipt_file {
        std::fs::write(file, &text)
            .with_context(|| format!("writing the receipt to {}", file.display()))?;
    }
    print!("{text}");
    let pending: Vec<&str> = receipt
        .document
        .places
        .iter()
        .filter(|p| p.pending.is_some())
        .map(|p| p.location.as_str())
        .collect();
    eprintln!(
        "tenant {tenant} deleted: keys destroyed, {} state row(s) and {} attachment file(s) purged",
        receipt.document.purged.state_rows, receipt.document.purged.blob_files
    );
    eprintln!("timings: {}", done.took);
    if pending.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "warning: not yet shredded at {}; the next backup run retries",
            pending.join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}

/// A public key as `strongroom audit pubkey` prints it (base64) or as a receipt names it (hex),
/// in hex.
fn public_key_hex(text: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    let text = text.trim();
    let bytes = match crypto::from_hex(&text.to_ascii_lowercase()) {
        Some(bytes) => bytes,
        None => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| anyhow::anyhow!("--public-key: neither hex nor base64"))?,
    };
    if bytes.len() != crypto::PUBLIC_KEY_LEN {
        bail!(
            "--public-key: {} bytes; an Ed25519 public key has {}",
            bytes.len(),
            crypto::PUBLIC_KEY_LEN
        );
    }
    Ok(crypto::hex(bytes))
}

/// `strongroom receipt verify FILE [--public-key KEY]`.
pub fn verify_receipt(file: &Path, public_key: Option<&str>) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(file).with_context(|| format!("reading the receipt {}", file.display()))?;
    let public_key = public_key.map(public_key_hex).transpose()?;
    match tenancy::receipt::verify(&bytes, public_key.as_deref()) {
        Ok(receipt) => {
            let d = &receipt.document;
            println!(
                "receipt {} verifies: tenant {} deleted, keys destroyed at {}, signed by {}",
                d.receipt,
                d.tenant,
                backup_cmd::show_time(d.keys_destroyed_at),
                crypto::public_key_fingerprint(
                    &crypto::from_hex(&d.public_key).unwrap_or_default()
                ),
            );
            if public_key.is_none() {
                println!(
                    "note: checked against the key the receipt names; pass --public-key with the \
                     published key to know who signed it"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("receipt {} does NOT verify: {e}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn identity_for(engine: &Engine) -> identity::Identity {
    identity::Identity::new(engine.clone(), identity::IdentityConfig::default())
}

/// `strongroom admin create --email E` (password on standard input).
pub fn create_system_admin(storage: &StorageArgs, email: &str) -> anyhow::Result<ExitCode> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = crypto::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    line.clear();
    if password.is_empty() {
        bail!("no password on standard input (pipe it in, e.g. from a password manager)");
    }
    let engine = open(storage)?;
    let identity = identity_for(&engine);
    let result = identity.create_system_admin_blocking(email, &password);
    engine.shutdown();
    let user = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string(&user)?);
    eprintln!(
        "created system administrator {}; a second factor must be enrolled at first login",
        user.id
    );
    Ok(ExitCode::SUCCESS)
}

/// `strongroom access-review --tenant ID`.
pub fn access_review(storage: &StorageArgs, tenant: &str) -> anyhow::Result<ExitCode> {
    let tenant: TenantId = tenant.parse()?;
    let engine = open(storage)?;
    let identity = identity_for(&engine);
    let review = identity.access_review(tenant);
    engine.shutdown();
    let review = review.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&review)?);
    let stale = review.users.iter().filter(|u| u.stale).count()
        + review.tokens.iter().filter(|t| t.stale).count();
    eprintln!(
        "{} users, {} tokens, {} live sessions; {stale} stale (unused for {} days)",
        review.users.len(),
        review.tokens.len(),
        review.sessions.len(),
        review.stale_after_days
    );
    Ok(ExitCode::SUCCESS)
}
