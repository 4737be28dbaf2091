//! The master key file: format, permissions, refusal of unsafe files, redaction.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use common::Fixture;
use keyring::{Error, MasterKey};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn create_writes_the_v1_format_with_owner_only_modes() {
    let fx = Fixture::new();
    let master = MasterKey::create(&fx.key_path).unwrap();
    let text = fs::read_to_string(&fx.key_path).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert_eq!(lines[0], "strongroom-master-key v1");
    assert_eq!(lines[1].len(), 44, "base64 of 32 bytes");
    assert_eq!(lines[2], "");
    assert_eq!(mode(&fx.key_path), 0o600);
    assert_eq!(mode(fx.key_path.parent().unwrap()), 0o700);

    let loaded = MasterKey::load(&fx.key_path).unwrap();
    assert_eq!(loaded.fingerprint(), master.fingerprint());
    assert_eq!(master.fingerprint().len(), 16);
}

#[test]
fn create_never_overwrites() {
    let fx = Fixture::new();
    let first = MasterKey::create(&fx.key_path).unwrap();
    let err = MasterKey::create(&fx.key_path).unwrap_err();
    assert!(matches!(err, Error::KeyFileExists { .. }), "{err}");
    assert_eq!(
        MasterKey::load(&fx.key_path).unwrap().fingerprint(),
        first.fingerprint()
    );
}

#[test]
fn any_group_or_other_bit_is_refused_with_the_chmod_hint() {
    let fx = Fixture::new();
    MasterKey::create(&fx.key_path).unwrap();
    let path = fx.key_path.display().to_string();
    for bad in [
        0o644, 0o640, 0o604, 0o660, 0o666, 0o610, 0o601, 0o620, 0o602, 0o777,
    ] {
        fs::set_permissions(&fx.key_path, fs::Permissions::from_mode(bad)).unwrap();
        let err = MasterKey::load(&fx.key_path).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::KeyFilePermissions { .. }),
            "mode {bad:o}: {msg}"
        );
        assert!(msg.contains(&path), "message does not name the path: {msg}");
        assert!(
            msg.contains(&format!("{bad:04o}")),
            "message does not show mode {bad:04o}: {msg}"
        );
        assert!(
            msg.contains(&format!("chmod 600 {path}")),
            "no chmod hint: {msg}"
        );
    }
    for good in [0o600, 0o400] {
        fs::set_permissions(&fx.key_path, fs::Permissions::from_mode(good)).unwrap();
        assert!(
            MasterKey::load(&fx.key_path).is_ok(),
            "mode {good:o} refused"
        );
    }
}

#[test]
fn symlinks_and_directories_are_refused() {
    let fx = Fixture::new();
    MasterKey::create(&fx.key_path).unwrap();
    let link = fx.tmp.path().join("link.key");
    symlink(&fx.key_path, &link).unwrap();
    let err = MasterKey::load(&link).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");

    let err = MasterKey::load(fx.key_path.parent().unwrap()).unwrap_err();
    assert!(err.to_string().contains("a directory"), "{err}");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let fx = Fixture::new();
    let err = MasterKey::load(&fx.key_path).unwrap_err();
    assert!(
        err.to_string().contains(&fx.key_path.display().to_string()),
        "{err}"
    );
}

#[test]
fn malformed_files_get_clear_errors_that_never_echo_the_content() {
    let fx = Fixture::new();
    fs::create_dir_all(fx.key_path.parent().unwrap()).unwrap();
    let canary = "Q0FOQVJZQ0FOQVJZQ0FOQVJZQ0FOQVJZQ0FOQVJZ";
    let cases = [
        (format!("{canary}\n"), "first line"),
        (
            format!("strongroom-master-key v1\n{canary}\n"),
            "exactly 32 bytes",
        ),
        (
            format!("strongroom-master-key v1\n{canary}!\n"),
            "not valid base64",
        ),
        (
            format!("strongroom-master-key v9\n{canary}\n"),
            "unsupported format version",
        ),
        ("strongroom-master-key v1\n".to_owned(), "missing"),
    ];
    for (text, want) in cases {
        fs::write(&fx.key_path, &text).unwrap();
        fs::set_permissions(&fx.key_path, fs::Permissions::from_mode(0o600)).unwrap();
        let msg = MasterKey::load(&fx.key_path).unwrap_err().to_string();
        assert!(msg.contains(want), "expected `{want}` in: {msg}");
        assert!(!msg.contains("Q0FO"), "error echoed file content: {msg}");
        assert!(msg.contains(&fx.key_path.display().to_string()), "{msg}");
    }
}

#[test]
fn debug_is_redacted() {
    let fx = Fixture::new();
    let master = MasterKey::create(&fx.key_path).unwrap();
    let encoded = fs::read_to_string(&fx.key_path)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let shown = format!("{master:?} {master:#?}");
    assert!(!shown.contains(&encoded[..12]), "{shown}");
    assert!(
        shown.contains("REDACTED") && shown.contains(&master.fingerprint()),
        "{shown}"
    );
}

#[test]
fn derived_keys_are_stable_and_separated() {
    let fx = Fixture::new();
    let master = MasterKey::create(&fx.key_path).unwrap();
    let again = MasterKey::load(&fx.key_path).unwrap();
    let a = master.derive(b"strongroom/backup/v1");
    assert_eq!(a.expose(), again.derive(b"strongroom/backup/v1").expose());
    assert_ne!(a.expose(), master.derive(b"strongroom/other/v1").expose());
}
