//! The command line: every subcommand and flag, with `--help` on each.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::{admin, audit_cmd, backup_cmd, export_cmd, serve, settings};

/// Strongroom: a self-hostable, multi-tenant backend that keeps its security promises.
#[derive(Debug, Parser)]
#[command(name = "strongroom", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the data lives; shared by every command that opens it.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// TOML configuration file (environment: STRONGROOM_CONFIG).
    #[arg(long, env = "STRONGROOM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// First location: journal mirror a, keyring copy a, derived state [default: strongroom/data]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Second location, ideally another disk: journal mirror b, keyring copy b
    /// [default: strongroom/mirror]
    #[arg(long, value_name = "DIR")]
    pub mirror: Option<PathBuf>,
    /// Master key file, kept outside both locations [default: strongroom/master.key]
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTPS server; initialises empty locations on first run.
    Serve(ServeArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check both journal mirrors, every checksum and the hash chain, and both keyring copies.
    Verify(StorageArgs),
    /// Rebuild a lost or damaged journal mirror or keyring copy from the healthy one.
    Repair(StorageArgs),
    /// Rebuild the derived state from the journal alone and compare it with the live one.
    RebuildState(StorageArgs),
    /// Key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Tenant administration (offline: the server must be stopped; use the API while it runs).
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Deletion receipts.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Derived-state tools.
    #[command(subcommand)]
    State(StateCommand),
    /// System administrator accounts (offline).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The audit trail: the public key that verifies it, and the offline check of a copy.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Backups (P12): a full backup or journal shipping now, what the destinations hold, and a
    /// check of every set as a restore would read it.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Tenant exports (P14): open a downloaded archive (`.srx`) offline.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Restore drill: the latest backup of each destination restored into a scratch directory
    /// and compared with the live state at the same journal position; RTO and RPO measured and
    /// recorded (offline; a running server drills on its own schedule or through the API).
    Drill(StorageArgs),
    /// Build new data locations from a backup destination and the master key alone (P13),
    /// optionally as they were at a moment (P11). Writes nothing outside --to, its mirror and
    /// the audit signing key file; on any error removes what it wrote.
    Restore {
        /// A destination named in the configuration's [backup] section, or a local backup
        /// directory (a path containing /).
        #[arg(long, value_name = "DEST")]
        from: String,
        /// The new first location (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The new second location [default: DIR.mirror].
        #[arg(long, value_name = "DIR")]
        to_mirror: Option<PathBuf>,
        /// Restore the state as it was at this moment: RFC 3339 (2026-11-25T09:30:00Z) or Unix
        /// milliseconds [default: the latest entry held].
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The master key file [default: the configured one].
        #[arg(long, value_name = "FILE")]
        master_key: Option<PathBuf>,
        /// Where to write the audit signing key [default: audit-signing.key beside the master
        /// key]; must not exist.
        #[arg(long, value_name = "FILE")]
        audit_key: Option<PathBuf>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Every user, role, token and session of a tenant with last activity; stale ones flagged.
    AccessReview {
        /// Tenant id (tn_…).
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Print the public key (base64) that verifies the audit checkpoints; store it elsewhere.
    Pubkey(StorageArgs),
    /// Check a copy of one location's `audit` directory with the public key alone: every
    /// frame, the hash chain, every signed checkpoint. Exit status 1 at the first break, which
    /// is printed with its position.
    Verify {
        /// The `audit` directory of a location, or a copy of it.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The public key from `strongroom audit pubkey` (base64); without it, the configured
        /// signing key's public half is trusted.
        #[arg(long, value_name = "BASE64")]
        pubkey: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Decrypt an export archive, check every digest of its manifest, and write its files into
    /// DIR (which must not exist, or be empty). Nothing is written unless all of it checks out.
    /// The passphrase is asked on the terminal (not echoed), or read from stdin.
    Open {
        /// The archive (`<export>.srx`, as downloaded).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Where to write the files.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Read the passphrase from the first line of standard input.
        #[arg(long)]
        passphrase_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Take a full backup to every destination now (offline: the server must be stopped; a
    /// running server keeps its own schedule). Exit status 1 when any destination failed.
    Now {
        /// Ship the journal entries each destination lacks instead of a full backup.
        #[arg(long)]
        ship: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List what each destination holds (every manifest's MAC is checked).
    List {
        /// The master key file [default: the configured one].
        #[arg(long, value_name = "FILE")]
        master_key: Option<PathBuf>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Check every set at every destination as a restore would read it: manifests, part
    /// digests, every chunk, the journal chains, attachments. Exit status 1 on any problem.
    Verify {
        /// The master key file [default: the configured one].
        #[arg(long, value_name = "FILE")]
        master_key: Option<PathBuf>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a system administrator; reads the password from the first line of standard input.
    /// The account must enrol a second factor at its first login.
    Create {
        /// Email address of the administrator.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8443]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Refuse unsafe settings, naming each one; exit status 2 when any is refused.
    Check(ServeArgs),
    /// Print the effective configuration after file, environment and flags.
    Show(ServeArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Start a new data-key version (new writes use it, old entries stay readable), or with
    /// --master replace the master key and re-wrap the keyring.
    Rotate(RotateArgs),
    /// List key scopes and versions (never key material).
    List(StorageArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RotateTarget {
    /// Rotate this tenant's data key.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<String>,
    /// Rotate the system data key.
    #[arg(long)]
    pub system: bool,
    /// Replace the master key and re-wrap every key in the keyring.
    #[arg(long)]
    pub master: bool,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub target: RotateTarget,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Debug, Subcommand)]
enum TenantsCommand {
    /// Create a tenant with its own data key.
    Create {
        /// Display name (1 to 200 characters).
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List tenants.
    List(StorageArgs),
    /// Show one tenant.
    Show {
        /// Tenant id (tn_…).
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Suspend a tenant.
    Suspend {
        /// Tenant id (tn_…).
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Resume a suspended tenant.
    Resume {
        /// Tenant id (tn_…).
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Restore a tenant's data (collections, records, attachments' metadata, idempotency keys)
    /// to what it was at a moment (P11), as one new journal entry: other tenants and the
    /// tenant's accounts, roles, settings, sessions and tokens are left as they are, and the
    /// restore is undone by restoring to a moment just before it.
    Restore {
        /// Tenant id (tn_…).
        id: String,
        /// The moment: RFC 3339 (2026-11-25T09:30:00Z) or Unix milliseconds.
        #[arg(long, value_name = "TIME")]
        at: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Carry out a tenant's deletion now (P15), offline: its keys destroyed in both keyring
    /// copies and at every backup destination, its rows and attachment files purged, a signed
    /// receipt written. Refused before the grace period of its request ends unless
    /// --skip-grace (recorded in the receipt); with --skip-grace and no request, one is made.
    DeleteNow {
        /// Tenant id (tn_…).
        id: String,
        /// Carry it out before the grace period ends (or without a request). Irreversible.
        #[arg(long)]
        skip_grace: bool,
        /// Also write the receipt to this file (it is printed and stored in any case).
        #[arg(long, value_name = "FILE")]
        receipt: Option<PathBuf>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ReceiptCommand {
    /// Check a deletion receipt's signature; exit status 1 when it does not verify.
    Verify {
        /// The receipt, exactly as issued.
        file: PathBuf,
        /// The public key to check against: base64, as `strongroom audit pubkey` prints it, or
        /// hex.
        /// Without it, the key the receipt names is used: that only shows the receipt is
        /// intact, not who signed it.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum StateCommand {
    /// Print the digest of the derived state (after catching up with the journal).
    Digest(StorageArgs),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Serve(args) => serve::run(&args),
            Command::Config(ConfigCommand::Check(args)) => settings::check(&args),
            Command::Config(ConfigCommand::Show(args)) => settings::show(&args),
            Command::Verify(args) => admin::verify(&args),
            Command::Repair(args) => admin::repair(&args),
            Command::RebuildState(args) => admin::rebuild_state(&args),
            Command::Keys(KeysCommand::Rotate(args)) => admin::rotate(&args),
            Command::Keys(KeysCommand::List(args)) => admin::keys_list(&args),
            Command::Tenants(cmd) => run_tenants(cmd),
            Command::Receipt(ReceiptCommand::Verify { file, public_key }) => {
                admin::verify_receipt(&file, public_key.as_deref())
            }
            Command::State(StateCommand::Digest(args)) => admin::state_digest(&args),
            Command::Admin(AdminCommand::Create { email, storage }) => {
                admin::create_system_admin(&storage, &email)
            }
            Command::Audit(AuditCommand::Pubkey(storage)) => audit_cmd::pubkey(&storage),
            Command::Audit(AuditCommand::Verify {
                dir,
                pubkey,
                storage,
            }) => audit_cmd::verify(&dir, pubkey.as_deref(), &storage),
            Command::Backup(BackupCommand::Now { ship, storage }) => {
                backup_cmd::now(&storage, ship)
            }
            Command::Backup(BackupCommand::List {
                master_key,
                storage,
            }) => backup_cmd::list(&storage, master_key.as_deref()),
            Command::Backup(BackupCommand::Verify {
                master_key,
                storage,
            }) => backup_cmd::verify(&storage, master_key.as_deref()),
            Command::Drill(storage) => backup_cmd::drill(&storage),
            Command::Export(ExportCommand::Open {
                file,
                to,
                passphrase_stdin,
            }) => export_cmd::open(&file, &to, passphrase_stdin),
            Command::Restore {
                from,
                to,
                to_mirror,
                at,
                master_key,
                audit_key,
                storage,
            } => backup_cmd::restore(&backup_cmd::RestoreArgs {
                storage: &storage,
                from: &from,
                to: &to,
                mirror: to_mirror.as_deref(),
                at: at.as_deref(),
                master: master_key.as_deref(),
                audit_key: audit_key.as_deref(),
            }),
            Command::AccessReview { tenant, storage } => admin::access_review(&storage, &tenant),
        }
    }
}

fn run_tenants(cmd: TenantsCommand) -> anyhow::Result<ExitCode> {
    use admin::TenantAction as A;
    match cmd {
        TenantsCommand::Create { name, storage } => admin::tenants(&storage, A::Create(name)),
        TenantsCommand::List(storage) => admin::tenants(&storage, A::List),
        TenantsCommand::Show { id, storage } => admin::tenants(&storage, A::Show(id)),
        TenantsCommand::Suspend { id, storage } => admin::tenants(&storage, A::Suspend(id)),
        TenantsCommand::Resume { id, storage } => admin::tenants(&storage, A::Resume(id)),
        TenantsCommand::Restore { id, at, storage } => admin::restore_tenant(&storage, &id, &at),
        TenantsCommand::DeleteNow {
            id,
            skip_grace,
            receipt,
            storage,
        } => admin::delete_now(&storage, &id, skip_grace, receipt.as_deref()),
    }
}
