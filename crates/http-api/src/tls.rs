//! TLS configuration: rustls with the ring provider, TLS 1.2 and 1.3 only, forward-secret AEAD
//! suites only (rustls offers no CBC, RC4, 3DES or static-RSA suites at all), ALPN h2 and
//! http/1.1. Also makes the self-signed localhost certificate used when none is configured.
//!
//! This module does no file I/O: callers hand it PEM text.

use std::sync::Arc;

use rustls::ServerConfig;

/// The server-side TLS configuration handed to [`crate::Server::bind`].
pub type TlsConfig = ServerConfig;
use rustls::crypto::ring as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate PEM: {0}")]
    Certificate(String),
    #[error("private key PEM: {0}")]
    Key(String),
    #[error("TLS configuration refused: {0}")]
    Config(#[from] rustls::Error),
    #[error("making a self-signed certificate failed: {0}")]
    Generate(String),
    #[error("unsupported tls_min_version {0:?}; use \"1.2\" or \"1.3\"")]
    Version(String),
}

/// A self-signed certificate and its key, PEM encoded.
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Makes a self-signed ECDSA P-256 certificate for `localhost`, `127.0.0.1` and `::1`.
pub fn self_signed() -> Result<SelfSigned, TlsError> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok(SelfSigned {
        cert_pem: certified.cert.pem(),
        key_pem: certified.key_pair.serialize_pem(),
    })
}

/// The rustls server configuration: TLS 1.2+ (or 1.3 only), AEAD + ECDHE suites, h2 + http/1.1.
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    min_version: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Certificate("no CERTIFICATE block found".into()));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| TlsError::Key(e.to_string()))?
        .ok_or_else(|| TlsError::Key("no PRIVATE KEY block found".into()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min_version {
        "1.2" => &[&rustls::version::TLS13, &rustls::version::TLS12],
        "1.3" => &[&rustls::version::TLS13],
        other => return Err(TlsError::Version(other.to_owned())),
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_loads() {
        let cert = self_signed().expect("generate");
        let config = server_config(&cert.cert_pem, &cert.key_pem, "1.2").expect("config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn every_offered_suite_is_aead_with_forward_secrecy() {
        for suite in provider::default_provider().cipher_suites {
            let name = format!("{:?}", suite.suite());
            let ok = name.starts_with("TLS13_")
                || (name.starts_with("TLS_ECDHE_")
                    && (name.contains("_GCM_") || name.contains("CHACHA20_POLY1305")));
            assert!(ok, "suite {name} is not ECDHE + AEAD");
        }
    }

    #[test]
    fn old_versions_and_garbage_are_refused() {
        let cert = self_signed().expect("generate");
        assert!(server_config(&cert.cert_pem, &cert.key_pem, "1.1").is_err());
        assert!(server_config("not pem", &cert.key_pem, "1.2").is_err());
        assert!(server_config(&cert.cert_pem, "not pem", "1.2").is_err());
    }
}
