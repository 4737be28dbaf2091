//! Alert webhook: `POST` of the alert JSON, signed with
//! `X-Strongroom-Signature: t=<unix secs>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
//! `https://` (rustls, `ring`), or `http://` to a loopback host only. A 2xx answer is a
//! delivery; anything else, or no answer, is a failure to retry.
//!
//! [`verify_signature`] is the receiver's side: the MAC in constant time and the age of `t`.

use std::sync::Arc;
use std::time::Duration;

use crypto::Secret;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use ring::hmac;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::settings::{WebhookSettings, read_ca_file, read_secret_file};
use crate::{Error, Result};

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "X-Strongroom-Signature";

/// The header value for `body` sent at `t` (Unix seconds).
pub fn sign(secret: &[u8], t: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(format!("{t}.").as_bytes());
    ctx.update(body);
    format!("t={t},v1={}", crypto::hex(ctx.sign().as_ref()))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not `t=<unix secs>,v1=<64 hex digits>`")]
    Malformed,
    #[error("the signature's time is {age_secs} s away from now, more than allowed")]
    Stale { age_secs: u64 },
    #[error("the signature does not match the body under this secret")]
    Mismatch,
}

fn parse_header(header: &str) -> Option<(u64, Vec<u8>)> {
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=')? {
            ("t", value) => t = Some(value.parse::<u64>().ok()?),
            ("v1", value) => v1 = Some(from_hex(value)?),
            _ => {}
        }
    }
    Some((t?, v1?))
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    crypto::from_hex(&text.to_ascii_lowercase()).filter(|b| b.len() == 32)
}

/// Checks a received `X-Strongroom-Signature` `header` for `body`: the HMAC under `secret`
/// (compared in constant time) and a time within `max_age` of `now` (Unix seconds), either way.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: u64,
    max_age: Duration,
) -> Result<(), SignatureError> {
    let (t, mac) = parse_header(header).ok_or(SignatureError::Malformed)?;
    let age_secs = now.abs_diff(t);
    if age_secs > max_age.as_secs() {
        return Err(SignatureError::Stale { age_secs });
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    hmac::verify(&key, &signed, &mac).map_err(|_| SignatureError::Mismatch)
}

/// Whether `host` (as in a URL, IPv6 in brackets) is a loopback name or address.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A ready webhook channel.
pub(crate) struct Webhook {
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<TlsConnector>,
    secret: Secret<Vec<u8>>,
    timeout: Duration,
}

fn bad_url(problem: &str) -> Error {
    Error::Setting {
        setting: "webhook_url",
        problem: problem.to_owned(),
    }
}

fn connector(ca_file: Option<&std::path::Path>) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = read_ca_file(path)?;
            let certs = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
                .collect::<Result<Vec<rustls::pki_types::CertificateDer>, _>>()
                .map_err(|e| Error::CaFile {
                    path: path.to_owned(),
                    problem: e.to_string(),
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::CaFile {
                    path: path.to_owned(),
                    problem: "holds no usable PEM certificate".into(),
                });
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad_url(&e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

impl Webhook {
    /// Checks the URL, reads the secret and CA files. No connection yet.
    pub(crate) fn new(settings: &WebhookSettings) -> Result<Webhook> {
        let uri: Uri = settings
            .url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad_url(&e.to_string()))?;
        let host = uri.host().ok_or_else(|| bad_url("has no host"))?.to_owned();
        let (tls, default_port) = match uri.scheme_str() {
            Some("https") => (Some(connector(settings.ca_file.as_deref())?), 443),
            Some("http") if is_loopback_host(&host) => (None, 80),
            Some("http") => return Err(bad_url("http:// is allowed for loopback hosts only")),
            _ => return Err(bad_url("must start with https://")),
        };
        let port = uri.port_u16().unwrap_or(default_port);
        let secret = read_secret_file(&settings.secret_file, "webhook_secret_file")?;
        Ok(Webhook {
            uri,
            host,
            port,
            tls,
            secret,
            timeout: settings.timeout,
        })
    }

    /// One signed `POST` of `body`, within the timeout. `Ok` on a 2xx answer.
    pub(crate) async fn post(&self, body: &[u8]) -> Result<(), String> {
        match tokio::time::timeout(self.timeout, self.try_post(body)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    async fn try_post(&self, body: &[u8]) -> Result<(), String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((host, self.port))
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", self.host, self.port))?;
        let status = match &self.tls {
            Some(tls) => {
                let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", self.host))?;
                self.exchange(TokioIo::new(stream), body).await?
            }
            None => self.exchange(TokioIo::new(tcp), body).await?,
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }

    async fn exchange<S>(&self, io: TokioIo<S>, body: &[u8]) -> Result<hyper::StatusCode, String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        let conn = tokio::spawn(conn);
        let t = u64::try_from(crate::events::now_ms() / 1000).unwrap_or_default();
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = self
            .uri
            .authority()
            .map_or(self.host.as_str(), |a| a.as_str());
        let request = Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "strongroom-alerts")
            .header(SIGNATURE_HEADER, sign(self.secret.expose(), t, body))
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| e.to_string())?;
        let result = sender.send_request(request).await;
        let status = match result {
            // The answer's body is not read: only its status counts.
            Ok(response) => Ok(response.status()),
            Err(e) => Err(e.to_string()),
        };
        conn.abort();
        status
    }
}
