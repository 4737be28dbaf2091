//! TOTP second factors (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 6 digits, 30-second steps,
//! ±1 step of clock drift, each code usable once; the `otpauth://` enrolment URI and its QR code.
//!
//! The time is always a parameter: this module must never read a clock. It must never compare
//! codes in variable time, never accept a code for a step at or before the last one used, and
//! never show a secret in `Debug` (the enrolment URI and base32 form carry it: hand them only to
//! the enrolling user).

use std::fmt;

use crypto::{Secret, Zeroizing, ct_eq, random_bytes};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use ring::hmac;

use crate::encoding::{base32, percent_encode};
use crate::{Error, Result};

/// Length of a generated secret: 160 bits, RFC 4226's recommendation (and SHA-1's output size).
pub const SECRET_LEN: usize = 20;
/// Shortest secret accepted: 128 bits (RFC 4226 §4, R6).
pub const SECRET_MIN_LEN: usize = 16;
/// Longest secret accepted: one HMAC-SHA-1 block.
pub const SECRET_MAX_LEN: usize = 64;
/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds in a time step.
pub const PERIOD_SECS: u64 = 30;

/// 10^[`DIGITS`].
const MODULUS: u32 = 1_000_000;

/// A TOTP shared secret: zeroized on drop, `Debug` redacted, deliberately not `Clone`.
pub struct TotpSecret(Secret<Vec<u8>>);

impl TotpSecret {
    /// A fresh 20-byte secret from the operating system CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        random_bytes(&mut bytes);
        Self(Secret::new(bytes))
    }

    /// Takes a stored secret of 16 to 64 bytes. A refused `bytes` is zeroized before returning.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let len = bytes.len();
        let secret = Secret::new(bytes);
        if !(SECRET_MIN_LEN..=SECRET_MAX_LEN).contains(&len) {
            // Dropping `secret` zeroizes the refused bytes.
            return Err(Error::TotpSecretLength { got: len });
        }
        Ok(Self(secret))
    }

    /// The raw secret bytes, for sealing into storage. Never log them.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// The secret in unpadded RFC 4648 base32, as authenticator apps expect it.
    pub fn base32(&self) -> Zeroizing<String> {
        base32(self.expose())
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

/// The time step of `unix_secs`: `unix_secs / 30`.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / PERIOD_SECS
}

/// The 6-digit code (zero-padded) for the step containing `unix_secs`.
pub fn code_at(secret: &TotpSecret, unix_secs: u64) -> String {
    let code = hotp(secret, step_of(unix_secs));
    format!("{code:06}")
}

/// Checks `code` at `unix_secs` against the steps `step − 1`, `step` and `step + 1`, keeping only
/// steps after `last_used_step` (each code is usable once). Returns the matched step, which the
/// caller must store as the new `last_used_step` before answering; `None` when nothing matched or
/// `code` is not exactly six ASCII digits.
///
/// Every candidate step is computed and compared in constant time. Should a code match two
/// steps, the later one is returned, so the code can never be replayed against the other.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    unix_secs: u64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = step_of(unix_secs);
    let candidates = [step.checked_sub(1), Some(step), step.checked_add(1)];
    let mut matched = None;
    for candidate in candidates.into_iter().flatten() {
        let expected = Zeroizing::new(format!("{:06}", hotp(secret, candidate)));
        let equal = ct_eq(expected.as_bytes(), code.as_bytes());
        let fresh = last_used_step.is_none_or(|last| candidate > last);
        if equal && fresh {
            matched = Some(candidate);
        }
    }
    matched
}

/// The `otpauth://totp/` key URI (Google Authenticator's "Key Uri Format") for enrolment:
/// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`, issuer
/// and account percent-encoded (RFC 3986 unreserved characters kept).
///
/// The URI carries the secret: show it only to the enrolling user, never log or store it.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    let account = percent_encode(account);
    let secret = secret.base32();
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        secret.as_str()
    )
}

/// An SVG image (a complete XML document, black on white) of `uri` as a QR code with medium
/// error correction. Fails only when `uri` is too long for any QR code.
pub fn qr_svg(uri: &str) -> Result<String> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .map_err(|e| Error::Qr(e.to_string()))?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// RFC 4226 HOTP value (before zero-padding) of `secret` at `counter`.
fn hotp(secret: &TotpSecret, counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.expose());
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte picks four bytes.
    let offset = usize::from(mac[mac.len() - 1] & 0x0F);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7F,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    binary % MODULUS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4226_appendix_d_hotp_values() {
        let secret = TotpSecret(Secret::new(b"12345678901234567890".to_vec()));
        let want = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in want.into_iter().enumerate() {
            assert_eq!(hotp(&secret, counter as u64), want, "counter {counter}");
        }
    }
}
