//! A TLS syslog receiver for the tests (tokio-rustls, an rcgen certificate for `localhost`, on
//! 127.0.0.1) that reads RFC 5425 octet-counted frames, and a strict RFC 5424 parser for them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// What the receiver saw, in order.
#[derive(Debug)]
pub enum Seen {
    /// A TLS handshake that failed (the client refused the certificate, or the reverse).
    HandshakeFailed(String),
    /// One frame's message bytes.
    Frame(Vec<u8>),
    /// A frame that does not follow RFC 5425 octet counting.
    BadFrame(String),
    /// The client closed the connection.
    Closed,
}

/// A self-signed certificate for `localhost` and its key.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Identity {
    pub fn localhost() -> Identity {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        Identity {
            cert: certified.cert.der().clone(),
            cert_pem: certified.cert.pem(),
            key: PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()),
        }
    }

    /// Writes the certificate as a CA file in `dir`.
    pub fn ca_file(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.cert_pem).expect("write CA file");
        path
    }
}

/// Serves `identity` on `listener`, reporting every handshake, frame and close on the channel.
pub fn serve(listener: TcpListener, identity: &Identity) -> mpsc::UnboundedReceiver<Seen> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![identity.cert.clone()],
            PrivateKeyDer::Pkcs8(identity.key.clone_key()),
        )
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => read_frames(tls, &tx).await,
                    Err(e) => {
                        let _ = tx.send(Seen::HandshakeFailed(e.to_string()));
                    }
                }
            });
        }
    });
    rx
}

/// A receiver on 127.0.0.1, port chosen by the system.
pub async fn start(identity: &Identity) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (addr, serve(listener, identity))
}

/// Reads `LEN SP MSG` frames until the connection ends.
async fn read_frames(mut tls: impl AsyncRead + Unpin, tx: &mpsc::UnboundedSender<Seen>) {
    loop {
        let mut len = String::new();
        loop {
            match tls.read_u8().await {
                Ok(b' ') => break,
                Ok(d @ b'0'..=b'9') if len.len() < 10 => len.push(char::from(d)),
                Ok(other) => {
                    let _ = tx.send(Seen::BadFrame(format!("byte {other:#x} in LEN {len:?}")));
                    return;
                }
                Err(_) if len.is_empty() => {
                    let _ = tx.send(Seen::Closed);
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Seen::BadFrame(format!("cut in LEN {len:?}: {e}")));
                    return;
                }
            }
        }
        let (Ok(n), false) = (len.parse::<usize>(), len.starts_with('0')) else {
            let _ = tx.send(Seen::BadFrame(format!(
                "LEN {len:?} is not NONZERO-DIGIT *DIGIT"
            )));
            return;
        };
        let mut msg = vec![0; n];
        if let Err(e) = tls.read_exact(&mut msg).await {
            let _ = tx.send(Seen::BadFrame(format!("message cut short: {e}")));
            return;
        }
        let _ = tx.send(Seen::Frame(msg));
    }
}

/// An RFC 5424 message, parsed.
#[derive(Debug)]
pub struct Message {
    pub pri: u8,
    pub timestamp: String,
    pub hostname: String,
    pub app_name: String,
    pub msgid: String,
    /// SD-ID and its parameters, values unescaped.
    pub sd: Vec<(String, Vec<(String, String)>)>,
    /// MSG without its BOM.
    pub msg: String,
}

/// Parses and validates one message strictly: PRI 0–191, version 1, header fields of printable
/// US-ASCII within their lengths, a UTC RFC 3339 timestamp with milliseconds, SD elements with
/// every `"`, `\` and `]` escaped in values, a BOM before a UTF-8 MSG, and no control byte or
/// Unicode line separator anywhere.
pub fn parse(bytes: &[u8]) -> Result<Message, String> {
    if let Some(b) = bytes.iter().find(|b| **b < 0x20 || **b == 0x7f) {
        return Err(format!("raw control byte {b:#04x}"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(format!("raw control character {c:?}"));
    }
    let rest = text.strip_prefix('<').ok_or("no PRI")?;
    let (pri, rest) = rest.split_once('>').ok_or("PRI not closed")?;
    if pri.is_empty() || pri.len() > 3 || !pri.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("PRI {pri:?}"));
    }
    let pri: u8 = pri.parse().map_err(|_| format!("PRI {pri:?}"))?;
    if pri > 191 {
        return Err(format!("PRI {pri} out of range"));
    }
    let rest = rest.strip_prefix("1 ").ok_or("VERSION is not 1")?;
    let mut fields = rest.splitn(6, ' ');
    let mut field = |name: &str, max: usize| -> Result<String, String> {
        let f = fields.next().ok_or(format!("no {name}"))?;
        if f.is_empty() || f.len() > max || !f.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(format!("{name} {f:?}"));
        }
        Ok(f.to_owned())
    };
    let timestamp = field("TIMESTAMP", 32)?;
    check_timestamp(&timestamp)?;
    let hostname = field("HOSTNAME", 255)?;
    let app_name = field("APP-NAME", 48)?;
    field("PROCID", 128)?;
    let msgid = field("MSGID", 32)?;
    let rest = fields.next().ok_or("no STRUCTURED-DATA")?;
    let (sd, rest) = parse_sd(rest)?;
    let msg = match rest {
        "" => String::new(),
        _ => rest
            .strip_prefix(" \u{feff}")
            .ok_or("MSG without SP and BOM")?
            .to_owned(),
    };
    Ok(Message {
        pri,
        timestamp,
        hostname,
        app_name,
        msgid,
        sd,
        msg,
    })
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ`.
fn check_timestamp(t: &str) -> Result<(), String> {
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    let ok = t.len() == shape.len()
        && t.bytes().zip(shape.bytes()).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            other => c == other,
        });
    if ok {
        Ok(())
    } else {
        Err(format!("TIMESTAMP {t:?}"))
    }
}

type Elements = Vec<(String, Vec<(String, String)>)>;

fn parse_sd(text: &str) -> Result<(Elements, &str), String> {
    if let Some(rest) = text.strip_prefix('-') {
        return Ok((Vec::new(), rest));
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(after) = rest.strip_prefix('[') {
        let end = after.find([' ', ']']).ok_or("SD-ELEMENT not closed")?;
        let id = sd_name(&after[..end])?;
        rest = &after[end..];
        let mut params = Vec::new();
        while let Some(after) = rest.strip_prefix(' ') {
            let (name, after) = after.split_once("=\"").ok_or("SD-PARAM without =\"")?;
            let name = sd_name(name)?;
            let (value, after) = sd_value(after)?;
            params.push((name, value));
            rest = after;
        }
        rest = rest.strip_prefix(']').ok_or("SD-ELEMENT not closed by ]")?;
        out.push((id, params));
    }
    if out.is_empty() {
        return Err("STRUCTURED-DATA is neither - nor an element".into());
    }
    Ok((out, rest))
}

fn sd_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!("SD-NAME {name:?}"))
    }
}

/// A PARAM-VALUE up to its closing quote, unescaped; every `"`, `\` and `]` must be escaped.
fn sd_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            ']' => return Err(format!("unescaped ] in PARAM-VALUE {value:?}")),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\' | ']'))) => value.push(e),
                other => return Err(format!("stray backslash before {other:?} in {value:?}")),
            },
            c => value.push(c),
        }
    }
    Err(format!("PARAM-VALUE {value:?} not closed"))
}
