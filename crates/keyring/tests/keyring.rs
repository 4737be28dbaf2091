//! The keyring's life: create, open, scopes, rotation, lookups, destruction, and what reaches
//! the disk.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{Fixture, NOW, assert_key_absent, contains};
use crypto::Key256;
use keyring::{Error, Keyring, MasterKey, SYSTEM_SCOPE, VersionInfo};

const TENANT: &str = "tn_0123456789abcdef0123456789abcdef";

#[test]
fn create_then_open_round_trips_every_key() {
    let (fx, master, mut ring) = Fixture::with_keyring();
    assert!(Keyring::exists(&fx.dirs));
    assert_eq!(ring.add_scope(TENANT, NOW + 1).unwrap(), 1);
    let (v, data) = ring.current(TENANT).unwrap();
    let index = ring.index_key(TENANT).unwrap();
    let (_, system) = ring.current(SYSTEM_SCOPE).unwrap();
    let generation = ring.generation();
    drop(ring);

    let (ring, report) = Keyring::open(fx.dirs.clone(), &master).unwrap();
    assert!(report.is_empty(), "clean open reported repairs: {report:?}");
    assert_eq!(ring.generation(), generation);
    assert_eq!(ring.master_fingerprint(), master.fingerprint());
    assert_eq!(ring.key(TENANT, v).unwrap().expose(), data.expose());
    assert_eq!(ring.index_key(TENANT).unwrap().expose(), index.expose());
    assert_eq!(
        ring.current(SYSTEM_SCOPE).unwrap().1.expose(),
        system.expose()
    );
    assert_ne!(data.expose(), index.expose());
    assert_ne!(data.expose(), system.expose());
}

#[test]
fn create_refuses_an_existing_keyring_in_either_location() {
    let (fx, master, _ring) = Fixture::with_keyring();
    let err = Keyring::create(fx.dirs.clone(), &master, NOW).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    fs::remove_file(fx.file(0)).unwrap();
    let err = Keyring::create(fx.dirs.clone(), &master, NOW).unwrap_err();
    assert!(
        err.to_string().contains(&fx.file(1).display().to_string()),
        "{err}"
    );
}

#[test]
fn files_are_0600_and_created_directories_0700() {
    let (fx, _master, _ring) = Fixture::with_keyring();
    for i in 0..2 {
        let file_mode = fs::metadata(fx.file(i)).unwrap().permissions().mode() & 0o777;
        let dir_mode = fs::metadata(&fx.dirs[i]).unwrap().permissions().mode() & 0o777;
        assert_eq!((file_mode, dir_mode), (0o600, 0o700), "location {i}");
        assert!(
            !fx.dirs[i].join("keyring.json.tmp").exists(),
            "temporary file left behind"
        );
    }
}

#[test]
fn rotation_keeps_old_versions_readable_and_the_index_key_stable() {
    let (_fx, _master, mut ring) = Fixture::with_keyring();
    ring.add_scope(TENANT, NOW).unwrap();
    let (_, v1) = ring.current(TENANT).unwrap();
    let index = ring.index_key(TENANT).unwrap();
    assert_eq!(ring.rotate(TENANT, NOW + 10).unwrap(), 2);
    assert_eq!(ring.rotate(TENANT, NOW + 20).unwrap(), 3);
    let (current, v3) = ring.current(TENANT).unwrap();
    assert_eq!(current, 3);
    assert_ne!(v3.expose(), v1.expose());
    assert_eq!(ring.key(TENANT, 1).unwrap().expose(), v1.expose());
    assert_ne!(ring.key(TENANT, 2).unwrap().expose(), v3.expose());
    assert_eq!(ring.index_key(TENANT).unwrap().expose(), index.expose());
    let err = ring.key(TENANT, 4).unwrap_err();
    assert!(
        matches!(err, Error::UnknownVersion { version: 4, .. }),
        "{err}"
    );

    let info = ring
        .scopes()
        .into_iter()
        .find(|s| s.scope == TENANT)
        .unwrap();
    assert_eq!(info.current, 3);
    assert_eq!(
        info.versions,
        vec![
            VersionInfo {
                version: 1,
                created_at: NOW
            },
            VersionInfo {
                version: 2,
                created_at: NOW + 10
            },
            VersionInfo {
                version: 3,
                created_at: NOW + 20
            },
        ]
    );
    assert_eq!((info.created_at, info.destroyed_at), (NOW, None));
}

#[test]
fn scope_names_and_duplicates_are_refused() {
    let (_fx, _master, mut ring) = Fixture::with_keyring();
    for bad in ["", "Tenant", "tn-1", "../etc", "a b", &"x".repeat(65)] {
        let err = ring.add_scope(bad, NOW).unwrap_err();
        assert!(matches!(err, Error::InvalidScope(_)), "{bad:?}: {err}");
    }
    let err = ring.add_scope(SYSTEM_SCOPE, NOW).unwrap_err();
    assert!(matches!(err, Error::ScopeExists(_)), "{err}");
    for err in [
        ring.current("tn_nope").unwrap_err(),
        ring.rotate("tn_nope", NOW).unwrap_err(),
    ] {
        assert!(matches!(err, Error::UnknownScope(_)), "{err}");
    }
}

#[test]
fn a_wrong_master_key_is_refused_naming_both_fingerprints() {
    let (fx, master, _ring) = Fixture::with_keyring();
    let other = MasterKey::from_key(Key256::generate());
    let err = Keyring::open(fx.dirs.clone(), &other).unwrap_err();
    let want = format!(
        "master key {} does not open this keyring (made for {})",
        other.fingerprint(),
        master.fingerprint()
    );
    assert_eq!(err.to_string(), want);
}

#[test]
fn destroy_scope_shreds_every_key_of_the_scope_only() {
    let (fx, master, mut ring) = Fixture::with_keyring();
    ring.add_scope(TENANT, NOW).unwrap();
    ring.rotate(TENANT, NOW + 1).unwrap();
    let v1 = ring.key(TENANT, 1).unwrap();
    let v2 = ring.key(TENANT, 2).unwrap();
    let index = ring.index_key(TENANT).unwrap();
    let before: Vec<String> = (0..2).map(|i| fx.read(i)).collect();
    let (_, system) = ring.current(SYSTEM_SCOPE).unwrap();

    ring.destroy_scope(TENANT, NOW + 5).unwrap();
    for err in [
        ring.key(TENANT, 1).unwrap_err(),
        ring.current(TENANT).unwrap_err(),
        ring.index_key(TENANT).unwrap_err(),
        ring.rotate(TENANT, NOW).unwrap_err(),
    ] {
        assert!(
            matches!(err, Error::Destroyed { at, .. } if at == NOW + 5),
            "{err}"
        );
    }
    ring.destroy_scope(TENANT, NOW + 9).unwrap();
    assert!(matches!(
        ring.add_scope(TENANT, NOW).unwrap_err(),
        Error::ScopeExists(_)
    ));

    // The wrapped keys that were in the files before are gone from both copies.
    for (i, text) in before.iter().enumerate() {
        let after = fx.read(i);
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let scope = &doc["document"]["scopes"][TENANT];
        for wrapped in [
            &scope["versions"][0]["wrapped"],
            &scope["versions"][1]["wrapped"],
            &scope["index_key"],
        ] {
            let wrapped = wrapped.as_str().unwrap();
            assert!(
                !after.contains(wrapped),
                "wrapped key survived destruction in copy {i}"
            );
        }
    }
    // And the raw keys never were anywhere.
    for (key, what) in [
        (&v1, "data key v1"),
        (&v2, "data key v2"),
        (&index, "index key"),
    ] {
        assert_key_absent(fx.tmp.path(), key.expose(), what);
    }

    // The tombstone survives a reopen; the system scope is untouched.
    drop(ring);
    let (ring, _) = Keyring::open(fx.dirs.clone(), &master).unwrap();
    let info = ring
        .scopes()
        .into_iter()
        .find(|s| s.scope == TENANT)
        .unwrap();
    assert_eq!(info.destroyed_at, Some(NOW + 5));
    assert!(matches!(
        ring.key(TENANT, 2).unwrap_err(),
        Error::Destroyed { .. }
    ));
    assert_eq!(
        ring.current(SYSTEM_SCOPE).unwrap().1.expose(),
        system.expose()
    );
}

#[test]
fn canary_unwrapped_keys_never_reach_any_file() {
    let (fx, master, mut ring) = Fixture::with_keyring();
    let mut keys = Vec::new();
    for n in 0..5 {
        let scope = format!("tn_{n:032x}");
        ring.add_scope(&scope, NOW).unwrap();
        ring.rotate(&scope, NOW + 1).unwrap();
        keys.push(ring.key(&scope, 1).unwrap());
        keys.push(ring.key(&scope, 2).unwrap());
        keys.push(ring.index_key(&scope).unwrap());
    }
    keys.push(ring.current(SYSTEM_SCOPE).unwrap().1);
    keys.push(ring.index_key(SYSTEM_SCOPE).unwrap());
    let new_master_path = fx.tmp.path().join("secrets/new.key");
    let new_master = MasterKey::create(&new_master_path).unwrap();
    ring.rewrap(&new_master).unwrap();
    drop(master);

    for (i, key) in keys.iter().enumerate() {
        assert_key_absent(fx.tmp.path(), key.expose(), &format!("key #{i}"));
    }
    // The scanner itself works: the master key's base64 is in its file.
    let encoded = fs::read_to_string(&new_master_path)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(contains(fx.tmp.path(), encoded.as_bytes()));
}

#[test]
fn debug_of_the_keyring_shows_no_key_material() {
    let (fx, _master, ring) = Fixture::with_keyring();
    let shown = format!("{ring:?}");
    let text = fx.read(0);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let wrapped = doc["document"]["scopes"]["system"]["versions"][0]["wrapped"]
        .as_str()
        .unwrap();
    assert!(!shown.contains(&wrapped[..16]), "{shown}");
    assert!(shown.contains("generation"), "{shown}");
}

#[test]
fn the_system_scope_cannot_be_destroyed() {
    let (_fx, _master, mut ring) = Fixture::with_keyring();
    let err = ring.destroy_scope(SYSTEM_SCOPE, NOW).unwrap_err();
    assert!(matches!(err, Error::SystemScope), "{err}");
    assert!(ring.current(SYSTEM_SCOPE).is_ok());
}

#[test]
fn one_directory_named_twice_is_not_two_locations() {
    let fx = Fixture::new();
    let master = MasterKey::create(&fx.key_path).unwrap();
    let same = [fx.dirs[0].clone(), fx.dirs[0].clone()];
    let err = Keyring::create(same, &master, NOW).unwrap_err();
    assert!(matches!(err, Error::SameLocation { .. }), "{err}");

    fs::create_dir_all(&fx.dirs[0]).unwrap();
    let alias = fx.tmp.path().join("alias");
    std::os::unix::fs::symlink(&fx.dirs[0], &alias).unwrap();
    let err = Keyring::create([fx.dirs[0].clone(), alias.clone()], &master, NOW).unwrap_err();
    assert!(matches!(err, Error::SameLocation { .. }), "{err}");
    let err = Keyring::open([alias, fx.dirs[0].clone()], &master).unwrap_err();
    assert!(matches!(err, Error::SameLocation { .. }), "{err}");
}

#[test]
fn the_keyring_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Keyring>();
    assert_send_sync::<MasterKey>();
    let (_fx, _master, ring) = Fixture::with_keyring();
    let ring = std::sync::Arc::new(std::sync::RwLock::new(ring));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                *ring
                    .read()
                    .unwrap()
                    .current(SYSTEM_SCOPE)
                    .unwrap()
                    .1
                    .expose()
            })
        })
        .collect();
    let keys: Vec<[u8; 32]> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn create_makes_an_empty_durable_keyring() {
    let fx = Fixture::new();
    let master = MasterKey::create(&fx.key_path).unwrap();
    let ring = Keyring::create(fx.dirs.clone(), &master, NOW).unwrap();
    assert_eq!((ring.generation(), ring.scopes().len()), (1, 0));
    assert!(matches!(
        ring.current(SYSTEM_SCOPE).unwrap_err(),
        Error::UnknownScope(_)
    ));
    let (ring, report) = Keyring::open(fx.dirs.clone(), &master).unwrap();
    assert!(report.is_empty(), "{report:?}");
    assert_eq!((ring.generation(), ring.scopes().len()), (1, 0));
}

const SUBJECT: &str = "tn_0123456789abcdef0123456789abcdef_s0123456789abcdef0123";
const OTHER_SUBJECT: &str = "tn_0123456789abcdef0123456789abcdef_s99999999999999999999";

#[test]
fn a_child_scope_is_wrapped_by_its_parent_and_goes_with_it() {
    let (fx, master, mut ring) = Fixture::with_keyring();
    ring.add_scope(TENANT, NOW).unwrap();
    ring.add_child_scope(SUBJECT, TENANT, NOW + 1).unwrap();
    ring.add_child_scope(OTHER_SUBJECT, TENANT, NOW + 1)
        .unwrap();
    // Adding it again changes nothing; a child has no children and is not rotated.
    let (_, subject_key) = ring.current(SUBJECT).unwrap();
    ring.add_child_scope(SUBJECT, TENANT, NOW + 2).unwrap();
    assert_eq!(
        ring.current(SUBJECT).unwrap().1.expose(),
        subject_key.expose()
    );
    assert!(matches!(
        ring.add_child_scope("tn_x_s1", SUBJECT, NOW).unwrap_err(),
        Error::ChildScope(_)
    ));
    assert!(matches!(
        ring.rotate(SUBJECT, NOW).unwrap_err(),
        Error::ChildScope(_)
    ));

    // Wrapped by the parent's data key version 1 (recorded), not the KEK: after a rotation of
    // the parent and a reopen (cold cache) it still opens.
    ring.rotate(TENANT, NOW + 3).unwrap();
    drop(ring);
    let (ring, _) = Keyring::open(fx.dirs.clone(), &master).unwrap();
    assert_eq!(ring.key(SUBJECT, 1).unwrap().expose(), subject_key.expose());
    assert!(ring.index_key(SUBJECT).is_ok());
    let doc: serde_json::Value = serde_json::from_str(&fx.read(0)).unwrap();
    assert_eq!(
        doc["document"]["scopes"][SUBJECT]["parent"]["scope"],
        TENANT
    );
    assert_eq!(doc["document"]["scopes"][SUBJECT]["parent"]["version"], 1);

    // Destroying one child leaves the parent and the other child; destroying the parent
    // destroys every child of it, in both copies.
    let mut ring = ring;
    let other_wrapped = doc["document"]["scopes"][OTHER_SUBJECT]["versions"][0]["wrapped"]
        .as_str()
        .unwrap()
        .to_owned();
    ring.destroy_scope(SUBJECT, NOW + 4).unwrap();
    assert!(matches!(
        ring.key(SUBJECT, 1).unwrap_err(),
        Error::Destroyed { .. }
    ));
    assert!(ring.current(TENANT).is_ok());
    assert!(ring.current(OTHER_SUBJECT).is_ok());
    ring.destroy_scope(TENANT, NOW + 5).unwrap();
    assert!(matches!(
        ring.key(OTHER_SUBJECT, 1).unwrap_err(),
        Error::Destroyed { at, .. } if at == NOW + 5
    ));
    for i in 0..2 {
        assert!(!fx.read(i).contains(&other_wrapped), "copy {i}");
    }
    assert_key_absent(fx.tmp.path(), subject_key.expose(), "a subject's data key");
    let destroyed: Vec<String> = ring.destroyed().into_iter().map(|(s, _)| s).collect();
    assert_eq!(destroyed.len(), 3, "{destroyed:?}");
}

#[test]
fn a_master_rotation_leaves_child_scopes_readable() {
    let (fx, _master, mut ring) = Fixture::with_keyring();
    ring.add_scope(TENANT, NOW).unwrap();
    ring.add_child_scope(SUBJECT, TENANT, NOW).unwrap();
    let (_, key) = ring.current(SUBJECT).unwrap();
    let new_master = MasterKey::from_key(Key256::generate());
    ring.rewrap(&new_master).unwrap();
    drop(ring);
    let (ring, _) = Keyring::open(fx.dirs.clone(), &new_master).unwrap();
    assert_eq!(ring.key(SUBJECT, 1).unwrap().expose(), key.expose());
}

#[test]
fn a_stored_copy_holding_a_destroyed_key_is_found() {
    let (_fx, _master, mut ring) = Fixture::with_keyring();
    ring.add_scope(TENANT, NOW).unwrap();
    ring.add_child_scope(SUBJECT, TENANT, NOW).unwrap();
    let (_, before) = ring.stored().unwrap();
    assert!(ring.destroyed_keys_in(&before).unwrap().is_empty());
    ring.destroy_scope(SUBJECT, NOW + 1).unwrap();
    assert_eq!(ring.destroyed_keys_in(&before).unwrap(), [SUBJECT]);
    let (_, after) = ring.stored().unwrap();
    assert!(ring.destroyed_keys_in(&after).unwrap().is_empty());
    assert!(ring.destroyed_keys_in(b"not a keyring").is_err());
}
