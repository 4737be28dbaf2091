//! `strongroom audit …`: the public key that verifies the audit trail, and the offline check of
//! a copy of one location's `audit/` directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::cli::StorageArgs;
use crate::settings;

/// The configured signing key file.
fn key_file(storage: &StorageArgs) -> anyhow::Result<PathBuf> {
    let config = settings::load(storage, None)?;
    let paths = settings::paths(&config);
    Ok(config
        .audit
        .signing_key_file
        .unwrap_or_else(|| paths.default_audit_key_file()))
}

/// `strongroom audit pubkey`: the public half of the signing key, base64, and its fingerprint.
pub fn pubkey(storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    let path = key_file(storage)?;
    let key = keyring::load_signing_key(&path).with_context(|| {
        format!(
            "reading the audit signing key {} (it is created by the first `strongroom serve`)",
            path.display()
        )
    })?;
    let public = key.public_key();
    println!("{}", STANDARD.encode(public));
    eprintln!(
        "fingerprint {}; store this public key away from this server and pass it to \
         `strongroom audit verify --pubkey`",
        crypto::public_key_fingerprint(&public)
    );
    Ok(ExitCode::SUCCESS)
}

/// Parses a base64 Ed25519 public key.
fn parse_pubkey(text: &str) -> anyhow::Result<[u8; crypto::PUBLIC_KEY_LEN]> {
    let bytes = STANDARD
        .decode(text.trim())
        .context("--pubkey: not base64 (use the output of `strongroom audit pubkey`)")?;
    match <[u8; crypto::PUBLIC_KEY_LEN]>::try_from(bytes.as_slice()) {
        Ok(key) => Ok(key),
        Err(_) => bail!(
            "--pubkey: {} bytes; an Ed25519 public key has {}",
            bytes.len(),
            crypto::PUBLIC_KEY_LEN
        ),
    }
}

/// `strongroom audit verify DIR`: checks a copy of one location's `audit/` directory with the
/// public key alone; exit 0 when intact, 1 at the first break (printed with its position).
pub fn verify(dir: &Path, pubkey: Option<&str>, storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    let public = match pubkey {
        Some(text) => parse_pubkey(text)?,
        None => {
            let path = key_file(storage)?;
            eprintln!(
                "note: no --pubkey given; trusting the public half of {} (a copy kept elsewhere \
                 is the stronger check)",
                path.display()
            );
            keyring::load_signing_key(&path)
                .with_context(|| format!("reading the audit signing key {}", path.display()))?
                .public_key()
        }
    };
    if !dir.is_dir() {
        bail!(
            "{} is not a directory; pass a location's `audit` directory (or a copy of it)",
            dir.display()
        );
    }
    eprintln!(
        "verifying {} with public key {}",
        dir.display(),
        crypto::public_key_fingerprint(&public)
    );
    match audit::verify_dir(dir, &public) {
        Ok(verified) => {
            println!("{verified}");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("{broken}");
            Ok(ExitCode::from(1))
        }
    }
}
