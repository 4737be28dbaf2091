//! Loading the configured certificate, or making and keeping a self-signed one in the data
//! directory (`tls/cert.pem`, `tls/key.pem`, key mode 0600).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use config::Config;
use engine::Paths;

fn write_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    Ok(())
}

/// The TLS configuration, and a line for the start-up report when a certificate was made.
pub fn load(
    config: &Config,
    paths: &Paths,
) -> anyhow::Result<(Arc<http_api::tls::TlsConfig>, Option<String>)> {
    let min = &config.server.tls_min_version;
    if let (Some(cert), Some(key)) = (&config.server.tls_cert, &config.server.tls_key) {
        let cert_pem = std::fs::read_to_string(cert)
            .with_context(|| format!("reading server.tls_cert {}", cert.display()))?;
        let key_pem = std::fs::read_to_string(key)
            .with_context(|| format!("reading server.tls_key {}", key.display()))?;
        let tls = http_api::tls::server_config(&cert_pem, &key_pem, min)
            .with_context(|| format!("loading {} and {}", cert.display(), key.display()))?;
        return Ok((tls, None));
    }
    let dir = paths.tls_dir();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut made = None;
    if !cert.exists() || !key.exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let pair = http_api::tls::self_signed()?;
        let _ = std::fs::remove_file(&cert);
        let _ = std::fs::remove_file(&key);
        write_new(&key, &pair.key_pem, 0o600)?;
        write_new(&cert, &pair.cert_pem, 0o644)?;
        made = Some(format!(
            "created a self-signed certificate for localhost, 127.0.0.1 and ::1 in {} \
             (set server.tls_cert/server.tls_key for a real one)",
            dir.display()
        ));
    }
    let cert_pem =
        std::fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_pem =
        std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
    let tls = http_api::tls::server_config(&cert_pem, &key_pem, min)?;
    Ok((tls, made))
}
