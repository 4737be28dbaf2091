//! Alert email: SMTP (`lettre`, tokio) with STARTTLS required — a server that does not offer
//! it gets nothing, not even the envelope — over rustls with the `ring` provider, trusting the
//! configured CA file or else the built-in web roots. A plain-text body with the rule,
//! severity, group, count, window, first and last time and a few event ids; the group (which
//! may come from a client) is escaped. Never a secret; the password is never logged.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::evaluator::Alert;
use crate::settings::{EmailSettings, read_ca_file, read_secret_file};
use crate::{Error, Result};

/// A ready SMTP channel.
pub(crate) struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

fn mailbox(setting: &'static str, address: &str) -> Result<Mailbox> {
    address
        .parse()
        .map_err(|e: lettre::address::AddressError| Error::Setting {
            setting,
            problem: format!("`{address}` is not an email address ({e})"),
        })
}

impl Email {
    /// Reads the CA and password files and builds the transport. No connection yet.
    pub(crate) fn new(settings: &EmailSettings) -> Result<Email> {
        if settings.to.is_empty() {
            return Err(Error::Setting {
                setting: "email_to",
                problem: "no recipient".into(),
            });
        }
        let to = settings
            .to
            .iter()
            .map(|a| mailbox("email_to", a))
            .collect::<Result<Vec<_>>>()?;
        let from = mailbox("email_from", &settings.from)?;
        let tls_error = |e: lettre::transport::smtp::Error| Error::Setting {
            setting: "smtp_ca_file",
            problem: e.to_string(),
        };
        let mut tls = TlsParameters::builder(settings.host.clone());
        if let Some(path) = &settings.ca_file {
            let pem = read_ca_file(path)?;
            let ca = Certificate::from_pem(&pem).map_err(|e| Error::CaFile {
                path: path.clone(),
                problem: e.to_string(),
            })?;
            tls = tls
                .certificate_store(CertificateStore::None)
                .add_root_certificate(ca);
        }
        let tls = tls.build_rustls().map_err(tls_error)?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(Tls::Required(tls))
            .timeout(Some(settings.timeout));
        match (&settings.username, &settings.password_file) {
            (Some(user), Some(file)) => {
                let password = read_secret_file(file, "smtp_password_file")?;
                let password = String::from_utf8(password.expose().clone()).map_err(|_| {
                    Error::SecretFile {
                        what: "smtp_password_file",
                        path: file.clone(),
                        problem: "is not UTF-8 text".into(),
                    }
                })?;
                builder = builder.credentials(Credentials::new(user.clone(), password));
            }
            (None, None) => {}
            _ => {
                return Err(Error::Setting {
                    setting: "smtp_username",
                    problem: "smtp_username and smtp_password_file go together".into(),
                });
            }
        }
        Ok(Email {
            transport: builder.build(),
            from,
            to,
        })
    }

    /// Sends one alert to every recipient; the error text is the server's or the TLS layer's.
    pub(crate) async fn send(&self, alert: &Alert) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(subject(alert))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message.body(body(alert)).map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// `[Strongroom] <severity>: <rule> (<group_by> <group>)`, escaped and capped.
pub fn subject(alert: &Alert) -> String {
    let group = audit::event::cap(&alert.group, 64);
    audit::event::escape_controls(&format!(
        "[Strongroom] {}: {} ({} {})",
        alert.severity.as_str(),
        alert.rule,
        alert.group_by.as_str(),
        group
    ))
}

fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The plain-text body: one `name: value` line per fact, client text escaped.
pub fn body(alert: &Alert) -> String {
    let lines = [
        ("alert", alert.id.clone()),
        ("rule", alert.rule.clone()),
        ("severity", alert.severity.as_str().to_owned()),
        (
            "group",
            format!("{} {}", alert.group_by.as_str(), alert.group),
        ),
        ("count", alert.count.to_string()),
        ("window", format!("{} s", alert.window_secs)),
        ("first", rfc3339(alert.first_at)),
        ("last", rfc3339(alert.last_at)),
        ("events", alert.event_ids.join(" ")),
    ];
    let mut out = String::from("Strongroom raised an alert.\r\n\r\n");
    for (name, value) in lines {
        out.push_str(&format!(
            "{name}: {}\r\n",
            audit::event::escape_controls(&value)
        ));
    }
    out.push_str("\r\nThe events are in the audit log (`strongroom audit`).\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
