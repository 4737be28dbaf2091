//! The keyring's error type. Every message names the file or scope it is about and what to do,
//! and none ever contains key material (not even wrapped keys).

use std::io;
use std::path::PathBuf;

/// What can go wrong with the master key file or the keyring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed; names the action, the path and the OS error.
    #[error("cannot {action} {path}: {source}", path = path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A key file (the master key, the audit signing key) is readable or writable by group or
    /// others.
    #[error(
        "{what} file {path} has mode {mode:04o}; it must be readable by its owner only \
         (no group or other bits): run `chmod 600 {path}`",
        path = path.display()
    )]
    KeyFilePermissions {
        what: &'static str,
        path: PathBuf,
        mode: u32,
    },

    /// A key file path is a symlink, a directory or another non-regular file.
    #[error("{what} file {path} is {kind}, not a regular file; refusing to use it", path = path.display())]
    KeyFileNotRegular {
        what: &'static str,
        path: PathBuf,
        kind: &'static str,
    },

    /// A key file is not in its format.
    #[error("{what} file {path} is malformed: {reason}", path = path.display())]
    KeyFileFormat {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },

    /// Creating a key file found a file already at the path.
    #[error("{what} file {path} already exists; refusing to overwrite it", path = path.display())]
    KeyFileExists { what: &'static str, path: PathBuf },

    /// The master key given is not the one the keyring was made for.
    #[error("master key {given} does not open this keyring (made for {expected})")]
    WrongMaster { given: String, expected: String },

    /// `Keyring::create` found an existing keyring copy.
    #[error("a keyring already exists at {path}; refusing to overwrite it", path = path.display())]
    AlreadyExists { path: PathBuf },

    /// The two keyring locations are the same directory: that is one location, not two.
    #[error(
        "keyring locations {first} and {second} are the same directory; the keyring must be \
         written to two separate locations",
        first = first.display(),
        second = second.display()
    )]
    SameLocation { first: PathBuf, second: PathBuf },

    /// Neither location holds a keyring.
    #[error("no keyring found at {first} or {second}", first = first.display(), second = second.display())]
    NotFound { first: PathBuf, second: PathBuf },

    /// Neither copy could be used; `details` says why for each.
    #[error("no valid keyring copy: {details}")]
    NoValidCopy { details: String },

    /// Both copies verify and claim the same generation but differ: a split brain that must not
    /// be resolved by guessing.
    #[error(
        "keyring copies {first} and {second} both claim generation {generation} but differ; \
         refusing to choose one",
        first = first.display(),
        second = second.display()
    )]
    Diverged {
        generation: u64,
        first: PathBuf,
        second: PathBuf,
    },

    /// A copy made for another master key is newer than the copy this key opens: probably an
    /// interrupted master key rotation, which `load_master_for` finishes.
    #[error(
        "keyring copy {path} (generation {generation}) is newer than the one this master key \
         opens and was made for master key {fingerprint}; load the master key with \
         `load_master_for` to finish an interrupted master key rotation",
        path = path.display()
    )]
    NewerCopyForOtherMaster {
        path: PathBuf,
        generation: u64,
        fingerprint: String,
    },

    /// The keyring content is inconsistent although its MAC verified.
    #[error("keyring is inconsistent: {0}")]
    Corrupt(String),

    /// A scope name outside `[a-z0-9_]{1,64}`.
    #[error("invalid scope `{0}`: expected 1 to 64 characters of [a-z0-9_]")]
    InvalidScope(String),

    /// `add_scope` for a scope that exists (or existed and was destroyed).
    #[error("scope `{0}` already exists in the keyring")]
    ScopeExists(String),

    /// The `system` scope protects data every tenant depends on; it is never destroyed.
    #[error("the `system` scope cannot be destroyed")]
    SystemScope,

    /// A child scope (a data subject's key) has one key version and no children of its own.
    #[error("scope `{0}` is a child scope: it is not rotated and has no children")]
    ChildScope(String),

    /// The scope is not in the keyring.
    #[error("scope `{0}` is not in the keyring")]
    UnknownScope(String),

    /// The scope exists but has no such key version.
    #[error("scope `{scope}` has no key version {version}")]
    UnknownVersion { scope: String, version: u32 },

    /// The scope's keys were destroyed (crypto-shredding); its data can never be read again.
    #[error("the keys of scope `{scope}` were destroyed at {at} (ms since epoch)")]
    Destroyed { scope: String, at: i64 },

    /// A wrapped key did not unwrap although the document MAC verified.
    #[error("key {what} of scope `{scope}` does not unwrap: {source}")]
    Unwrap {
        scope: String,
        what: String,
        #[source]
        source: crypto::Error,
    },

    /// Serialising the keyring failed.
    #[error("cannot serialise the keyring: {0}")]
    Serialize(#[source] serde_json::Error),

    /// `rotate_master` could not rewrap both keyring copies. The new key is kept at `next`;
    /// `load_master_for` finishes the rotation on the next start if any copy was rewrapped.
    #[error(
        "master key rotation did not complete ({source}); the new key is kept at {next}, and \
         the next load of the master key finishes the rotation if a keyring copy was rewrapped",
        next = next.display()
    )]
    RotationIncomplete {
        next: PathBuf,
        #[source]
        source: Box<Error>,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an `io::Error` with the action and the path it concerns.
pub(crate) fn io_error(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
