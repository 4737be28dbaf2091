//! Strongroom's credential logic: the NIST SP 800-63B password policy and blocklist
//! ([`password`]), Argon2id password hashing ([`hash`]), TOTP second factors per RFC 6238
//! ([`totp`]) and one-time recovery codes ([`recovery`]). Promises P2 and P3.
//!
//! Architecture invariant: pure logic. This crate does no I/O (no files, no network, no clock
//! reads: the time is always a parameter); its only contact with the operating system is the
//! CSPRNG through [`crypto::random_bytes`]. It never logs, never stores anything, and never puts a
//! password, TOTP secret or recovery code into a `Debug`/`Display` output or an error message.
//!
//! Canonical paths are the modules (`credentials::password::check`,
//! `credentials::totp::verify`, ...); the types and the unambiguously named functions are also
//! re-exported here.

pub mod hash;
pub mod password;
pub mod recovery;
pub mod totp;
pub mod workspace;

mod blocklist;
mod encoding;
mod text;

pub use hash::{HashParams, OWASP, dummy_hash, hash_password, needs_rehash, verify_password};
pub use password::{PasswordPolicy, PolicyContext, Rejection, blocklist_len, is_common};
pub use recovery::{RECOVERY_CODES, generate_recovery_codes, recovery_code_hash};
pub use totp::TotpSecret;
pub use workspace::{Workspace, hash_password_in, verify_password_in};

/// What can go wrong in this crate. Messages never contain a password, a secret or a hash.
///
/// A password that fails the policy is not an error of this kind: [`password::check`] returns
/// the list of [`Rejection`]s instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A stored password hash is not an Argon2id PHC string this crate can verify.
    #[error("malformed password hash: {0}")]
    MalformedHash(String),
    /// The Argon2 parameters are out of range (e.g. `p = 0`, or `m_kib < 8 × p`).
    #[error("invalid Argon2 parameters: {0}")]
    HashParams(String),
    /// Argon2 itself failed while hashing (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// A TOTP secret of a length outside what RFC 4226 allows and this crate accepts.
    #[error(
        "a TOTP secret must be {min} to {max} bytes long, got {got}",
        min = totp::SECRET_MIN_LEN,
        max = totp::SECRET_MAX_LEN
    )]
    TotpSecretLength { got: usize },
    /// The text cannot be drawn as a QR code (too long for the largest QR version).
    #[error("cannot draw the QR code: {0}")]
    Qr(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
