//! The audit signing key file: created 0600 and never overwritten, loaded back to the same key,
//! refused when others may read it, when it is a link, or when it is malformed — with messages
//! that name the file and never echo its content.

use std::os::unix::fs::PermissionsExt;

use keyring::{Error, create_signing_key, load_signing_key};

#[test]
fn created_once_loaded_back_and_guarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys").join("audit-signing.key");
    let key = create_signing_key(&path).expect("create");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = load_signing_key(&path).expect("load");
    assert_eq!(again.public_key(), key.public_key());
    let message = b"checkpoint";
    assert!(crypto::verify_signature(
        &key.public_key(),
        message,
        &again.sign(message)
    ));

    let err = create_signing_key(&path).expect_err("no overwrite");
    assert!(matches!(err, Error::KeyFileExists { .. }), "{err}");
    assert_eq!(
        load_signing_key(&path).expect("unchanged").public_key(),
        key.public_key()
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = load_signing_key(&path).expect_err("group-readable");
    assert!(matches!(err, Error::KeyFilePermissions { .. }), "{err}");
    assert!(err.to_string().contains("audit signing key file"), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(&path, &link).expect("symlink");
    let err = load_signing_key(&link).expect_err("a link");
    assert!(matches!(err, Error::KeyFileNotRegular { .. }), "{err}");

    // A master key file is not a signing key file, and the error does not echo the key.
    let master = dir.path().join("master.key");
    keyring::MasterKey::create(&master).expect("master");
    let content = std::fs::read_to_string(&master).expect("read");
    let secret_line = content.lines().nth(1).expect("key line");
    let err = load_signing_key(&master).expect_err("wrong kind");
    assert!(matches!(err, Error::KeyFileFormat { .. }), "{err}");
    assert!(!err.to_string().contains(secret_line), "{err}");
}
