//! Two locations: a missing, corrupt, older or tampered copy is detected and repaired from the
//! other; when neither is usable, or they disagree, opening fails; a write that cannot reach
//! both locations fails and names the one it could not reach.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use common::{Fixture, NOW};
use keyring::{Error, Keyring, MasterKey};

const TENANT: &str = "tn_0123456789abcdef0123456789abcdef";

fn open(fx: &Fixture, master: &MasterKey) -> (Keyring, Vec<String>) {
    Keyring::open(fx.dirs.clone(), master).unwrap()
}

/// Opens after damaging copy 1 and checks the report line and the repair.
fn assert_repaired(fx: &Fixture, master: &MasterKey, generation: u64, want_in_report: &str) {
    let (ring, report) = open(fx, master);
    assert_eq!(ring.generation(), generation);
    assert_eq!(report.len(), 1, "{report:?}");
    let path = fx.file(1).display().to_string();
    assert!(
        report[0].contains(&path) && report[0].contains(want_in_report),
        "{report:?}"
    );
    assert_eq!(fx.read(1), fx.read(0), "copy 1 was not rewritten");
    let (_, again) = open(fx, master);
    assert!(again.is_empty(), "second open still repairing: {again:?}");
}

#[test]
fn a_deleted_copy_is_rewritten_and_reported() {
    let (fx, master, ring) = Fixture::with_keyring();
    let generation = ring.generation();
    fs::remove_file(fx.file(1)).unwrap();
    assert_repaired(&fx, &master, generation, "was missing; rewritten");
    // A whole missing directory (a replaced disk) is recreated too.
    fs::remove_dir_all(&fx.dirs[1]).unwrap();
    assert_repaired(&fx, &master, generation, "was missing; rewritten");
}

#[test]
fn a_corrupt_copy_is_rewritten_and_reported() {
    let (fx, master, ring) = Fixture::with_keyring();
    let generation = ring.generation();
    fx.write(1, "{\"document\": truncated");
    assert_repaired(&fx, &master, generation, "not a keyring file");
}

#[test]
fn an_older_copy_is_rewritten_and_reported() {
    let (fx, master, mut ring) = Fixture::with_keyring();
    let old = fx.read(1);
    ring.add_scope(TENANT, NOW).unwrap();
    ring.rotate(TENANT, NOW).unwrap();
    ring.rotate(TENANT, NOW).unwrap();
    let generation = ring.generation();
    fx.write(1, &old);
    let want = format!(
        "was behind (generation {} < {generation}); rewritten",
        generation - 3
    );
    assert_repaired(&fx, &master, generation, &want);
    let (ring, _) = open(&fx, &master);
    assert_eq!(ring.current(TENANT).unwrap().0, 3);
}

#[test]
fn a_tampered_copy_fails_its_mac_and_is_repaired() {
    let (fx, master, ring) = Fixture::with_keyring();
    let text = fx.read(1);
    let bumped = text.replacen(
        &format!("\"generation\": {}", ring.generation()),
        &format!("\"generation\": {}", ring.generation() + 1),
        1,
    );
    assert_ne!(bumped, text);
    fx.write(1, &bumped);
    assert_repaired(&fx, &master, ring.generation(), "MAC does not verify");
}

#[test]
fn tampering_with_both_copies_is_a_mac_error() {
    let (fx, master, ring) = Fixture::with_keyring();
    let text = fx.read(0);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let wrapped = doc["document"]["scopes"]["system"]["versions"][0]["wrapped"]
        .as_str()
        .unwrap();
    // Change one character in the middle of the wrapped key.
    let mut chars: Vec<char> = wrapped.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();
    let bumped = format!("\"generation\": {}", ring.generation() + 5);
    let cases = [
        (
            "one character of a wrapped key",
            text.replacen(wrapped, &altered, 1),
        ),
        (
            "the generation",
            text.replacen(
                &format!("\"generation\": {}", ring.generation()),
                &bumped,
                1,
            ),
        ),
        (
            "a timestamp",
            text.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1),
        ),
    ];
    for (what, tampered) in cases {
        assert_ne!(tampered, text, "{what}: nothing changed");
        fx.write(0, &tampered);
        fx.write(1, &tampered);
        let err = Keyring::open(fx.dirs.clone(), &master).unwrap_err();
        assert!(matches!(err, Error::NoValidCopy { .. }), "{what}: {err}");
        assert!(
            err.to_string().contains("MAC does not verify"),
            "{what}: {err}"
        );
    }
}

#[test]
fn both_copies_corrupt_or_missing_is_an_error() {
    let (fx, master, _ring) = Fixture::with_keyring();
    fx.write(0, "garbage");
    fx.write(1, "");
    let err = Keyring::open(fx.dirs.clone(), &master).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::NoValidCopy { .. }), "{msg}");
    for i in 0..2 {
        assert!(msg.contains(&fx.file(i).display().to_string()), "{msg}");
    }
    fs::remove_file(fx.file(0)).unwrap();
    fs::remove_file(fx.file(1)).unwrap();
    assert!(!Keyring::exists(&fx.dirs));
    let err = Keyring::open(fx.dirs.clone(), &master).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn copies_that_differ_at_the_same_generation_are_refused() {
    let (fx, master, mut ring) = Fixture::with_keyring();
    let start = [fx.read(0), fx.read(1)];
    ring.add_scope("tn_aaaa", NOW).unwrap();
    let with_a = fx.read(0);
    drop(ring);
    fx.write(0, &start[0]);
    fx.write(1, &start[1]);
    let (mut ring, _) = open(&fx, &master);
    ring.add_scope("tn_bbbb", NOW).unwrap();
    fx.write(0, &with_a);
    let err = Keyring::open(fx.dirs.clone(), &master).unwrap_err();
    assert!(matches!(err, Error::Diverged { .. }), "{err}");
}

#[test]
fn a_write_that_cannot_reach_the_second_location_fails_naming_it() {
    let (fx, master, mut ring) = Fixture::with_keyring();
    let generation = ring.generation();
    // The second location becomes a plain file: no directory can be made there.
    fs::remove_dir_all(&fx.dirs[1]).unwrap();
    fs::write(&fx.dirs[1], "not a directory").unwrap();

    let err = ring.add_scope(TENANT, NOW).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Io { .. }), "{msg}");
    assert!(
        msg.contains(&fx.dirs[1].display().to_string()),
        "error does not name the location: {msg}"
    );
    // Nothing was acknowledged: the in-memory keyring is unchanged.
    assert!(matches!(
        ring.current(TENANT).unwrap_err(),
        Error::UnknownScope(_)
    ));
    assert_eq!(ring.generation(), generation);
    for err in [
        ring.rotate("system", NOW).unwrap_err(),
        ring.rewrap(&MasterKey::from_key(crypto::Key256::generate()))
            .unwrap_err(),
    ] {
        assert!(
            err.to_string().contains(&fx.dirs[1].display().to_string()),
            "{err}"
        );
    }

    // Once the location is back, the next write uses a generation never used before, so the
    // copy written during the failure can never tie with it.
    fs::remove_file(&fx.dirs[1]).unwrap();
    ring.add_scope(TENANT, NOW).unwrap();
    assert!(
        ring.generation() > generation + 3,
        "generation {} reused",
        ring.generation()
    );
    let (reopened, report) = open(&fx, &master);
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(reopened.generation(), ring.generation());
    assert!(reopened.current("system").is_ok());
}

#[test]
fn a_symlinked_copy_is_not_trusted_and_is_replaced() {
    let (fx, master, ring) = Fixture::with_keyring();
    let elsewhere = fx.tmp.path().join("elsewhere.json");
    fs::copy(fx.file(0), &elsewhere).unwrap();
    fs::remove_file(fx.file(1)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, fx.file(1)).unwrap();
    assert_repaired(&fx, &master, ring.generation(), "symbolic link");
    assert!(fs::symlink_metadata(fx.file(1)).unwrap().is_file());
}
