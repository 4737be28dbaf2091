//! Master key rotation: the keys survive, the old master stops working, and a crash at any step
//! is recovered by `load_master_for`.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{Fixture, NOW};
use keyring::{
    Error, Keyring, MasterKey, SYSTEM_SCOPE, load_master_for, next_key_path, rotate_master,
};

const TENANT: &str = "tn_0123456789abcdef0123456789abcdef";

/// A keyring with a tenant whose key has two versions; returns the keys' bytes for comparison.
fn populated() -> (Fixture, MasterKey, Vec<[u8; 32]>) {
    let (fx, master, mut ring) = Fixture::with_keyring();
    ring.add_scope(TENANT, NOW).unwrap();
    ring.rotate(TENANT, NOW + 1).unwrap();
    let keys = snapshot(&ring);
    (fx, master, keys)
}

fn snapshot(ring: &Keyring) -> Vec<[u8; 32]> {
    vec![
        *ring.key(TENANT, 1).unwrap().expose(),
        *ring.key(TENANT, 2).unwrap().expose(),
        *ring.index_key(TENANT).unwrap().expose(),
        *ring.current(SYSTEM_SCOPE).unwrap().1.expose(),
    ]
}

#[test]
fn rotate_master_rewraps_and_retires_the_old_key() {
    let (fx, old, keys) = populated();
    let old_text = fs::read_to_string(&fx.key_path).unwrap();
    let rotation = rotate_master(&fx.key_path, fx.dirs.clone()).unwrap();
    assert_eq!(rotation.old_fingerprint, old.fingerprint());
    assert_ne!(rotation.new_fingerprint, old.fingerprint());
    assert!(rotation.report.is_empty(), "{:?}", rotation.report);

    assert!(!next_key_path(&fx.key_path).exists());
    assert_ne!(fs::read_to_string(&fx.key_path).unwrap(), old_text);
    let mode = fs::metadata(&fx.key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let new = MasterKey::load(&fx.key_path).unwrap();
    assert_eq!(new.fingerprint(), rotation.new_fingerprint);
    let (ring, report) = Keyring::open(fx.dirs.clone(), &new).unwrap();
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(ring.generation(), rotation.generation);
    assert_eq!(snapshot(&ring), keys, "rotation changed the data keys");

    let err = Keyring::open(fx.dirs.clone(), &old).unwrap_err();
    assert!(
        matches!(err, Error::WrongMaster { .. }),
        "old master still opens: {err}"
    );
    assert!(
        !fx.tmp.path().join("secrets").read_dir().unwrap().any(|e| {
            let text = fs::read_to_string(e.unwrap().path()).unwrap_or_default();
            text == old_text
        }),
        "old key bytes still on disk"
    );
}

#[test]
fn a_crash_after_the_rewrap_is_finished_by_load_master_for() {
    let (fx, old, keys) = populated();
    // Do the rotation by hand and "crash" before the rename.
    let next = next_key_path(&fx.key_path);
    let new = MasterKey::create(&next).unwrap();
    let (mut ring, _) = Keyring::open(fx.dirs.clone(), &old).unwrap();
    ring.rewrap(&new).unwrap();
    drop(ring);

    let loaded = load_master_for(&fx.key_path, &fx.dirs).unwrap();
    assert_eq!(loaded.fingerprint(), new.fingerprint());
    assert!(!next.exists(), ".next left behind");
    assert_eq!(
        MasterKey::load(&fx.key_path).unwrap().fingerprint(),
        new.fingerprint()
    );
    let (ring, _) = Keyring::open(fx.dirs.clone(), &loaded).unwrap();
    assert_eq!(snapshot(&ring), keys);
}

#[test]
fn a_crash_between_the_two_copies_is_finished_and_repaired() {
    let (fx, old, keys) = populated();
    // The second location refuses writes during the rotation (a directory squats on the
    // temporary file's name), so only copy 0 gets the new key.
    let squatter = fx.dirs[1].join("keyring.json.tmp");
    fs::create_dir_all(squatter.join("x")).unwrap();
    let err = rotate_master(&fx.key_path, fx.dirs.clone()).unwrap_err();
    assert!(matches!(err, Error::RotationIncomplete { .. }), "{err}");
    assert!(
        err.to_string().contains(&squatter.display().to_string()),
        "{err}"
    );
    assert_eq!(
        MasterKey::load(&fx.key_path).unwrap().fingerprint(),
        old.fingerprint()
    );
    assert!(
        next_key_path(&fx.key_path).exists(),
        "the new key must be kept"
    );

    // The location comes back still holding its old copy, made for the old master key.
    fs::remove_dir_all(&squatter).unwrap();
    let err = Keyring::open(fx.dirs.clone(), &old).unwrap_err();
    assert!(
        matches!(err, Error::NewerCopyForOtherMaster { .. }),
        "{err}"
    );

    let new = load_master_for(&fx.key_path, &fx.dirs).unwrap();
    assert_ne!(new.fingerprint(), old.fingerprint());
    let (ring, report) = Keyring::open(fx.dirs.clone(), &new).unwrap();
    assert_eq!(report.len(), 1, "{report:?}");
    assert!(
        report[0].contains(&format!("made for master key {}", old.fingerprint())),
        "{report:?}"
    );
    assert_eq!(snapshot(&ring), keys);
}

#[test]
fn a_crash_before_the_rewrap_leaves_the_old_key_in_charge() {
    let (fx, old, keys) = populated();
    let next = next_key_path(&fx.key_path);
    MasterKey::create(&next).unwrap();

    let loaded = load_master_for(&fx.key_path, &fx.dirs).unwrap();
    assert_eq!(loaded.fingerprint(), old.fingerprint());
    assert!(next.exists(), "load_master_for must not delete a key file");

    // A half-written .next is ignored the same way.
    fs::write(&next, "strongroom-master-key v1\nAAAA").unwrap();
    fs::set_permissions(&next, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        load_master_for(&fx.key_path, &fx.dirs)
            .unwrap()
            .fingerprint(),
        old.fingerprint()
    );

    // The next rotation clears the stale file and completes.
    let rotation = rotate_master(&fx.key_path, fx.dirs.clone()).unwrap();
    assert!(
        rotation
            .report
            .iter()
            .any(|l| l.contains("interrupted rotation")),
        "{:?}",
        rotation.report
    );
    let new = load_master_for(&fx.key_path, &fx.dirs).unwrap();
    assert_eq!(new.fingerprint(), rotation.new_fingerprint);
    let (ring, _) = Keyring::open(fx.dirs.clone(), &new).unwrap();
    assert_eq!(snapshot(&ring), keys);
}

#[test]
fn load_master_for_without_rotation_is_a_plain_load() {
    let (fx, master, _keys) = populated();
    assert_eq!(
        load_master_for(&fx.key_path, &fx.dirs)
            .unwrap()
            .fingerprint(),
        master.fingerprint()
    );
    fs::set_permissions(&fx.key_path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = load_master_for(&fx.key_path, &fx.dirs).unwrap_err();
    assert!(matches!(err, Error::KeyFilePermissions { .. }), "{err}");
}

#[test]
fn rotating_twice_works_and_only_the_latest_key_opens() {
    let (fx, first, keys) = populated();
    let a = rotate_master(&fx.key_path, fx.dirs.clone()).unwrap();
    let b = rotate_master(&fx.key_path, fx.dirs.clone()).unwrap();
    assert_eq!(b.old_fingerprint, a.new_fingerprint);
    assert!(b.generation > a.generation);
    let latest = MasterKey::load(&fx.key_path).unwrap();
    let (ring, _) = Keyring::open(fx.dirs.clone(), &latest).unwrap();
    assert_eq!(snapshot(&ring), keys);
    assert!(Keyring::open(fx.dirs.clone(), &first).is_err());
}
