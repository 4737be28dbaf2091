//! The archive format under attack: every byte of a sealed part flipped, chunks dropped,
//! reordered, moved to another part or backup, a part cut anywhere, the wrong key; every byte of
//! a manifest flipped, a manifest under another master key. Each is refused, naming the part;
//! an untouched part and manifest read back exactly, and no plaintext is in the sealed bytes.

use backup::part::{self, CHUNK, PartRef};
use backup::{Error, Kind, Manifest, PartEntry, Position, Snapshot};
use crypto::Key256;

const AT: PartRef<'static> = PartRef {
    backup: "bk_1",
    name: "journal/00000000000000000001",
};

/// Bytes with a canary, long enough for three chunks (the last one short).
fn plaintext() -> Vec<u8> {
    let mut data: Vec<u8> = (0..(2 * CHUNK + 12_345))
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    data[CHUNK + 7..CHUNK + 7 + 21].copy_from_slice(b"CANARY-7c1f0e9d-PLAIN");
    data
}

fn seal(key: &Key256, at: PartRef<'_>, data: &[u8]) -> (Vec<u8>, backup::Sealed) {
    let mut out = Vec::new();
    let sealed = part::seal(key, at, &mut &data[..], &mut out).expect("seal");
    (out, sealed)
}

fn open(key: &Key256, at: PartRef<'_>, sealed: &[u8]) -> backup::Result<Vec<u8>> {
    let mut out = Vec::new();
    part::open(key, at, &mut &sealed[..], &mut out).map(|_| out)
}

/// The frames of a sealed part: (offset, whole frame bytes).
fn frames(sealed: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < sealed.len() {
        let len = u32::from_be_bytes(sealed[at..at + 4].try_into().expect("4")) as usize;
        out.push((at, sealed[at..at + 4 + len].to_vec()));
        at += 4 + len;
    }
    out
}

#[test]
fn a_part_reads_back_exactly_and_holds_no_plaintext() {
    let key = Key256::generate();
    let data = plaintext();
    let (sealed, info) = seal(&key, AT, &data);
    assert_eq!(info.len, data.len() as u64);
    assert_eq!(info.chunks, 3);
    assert_eq!(info.sha256, crypto::sha256(&sealed));
    assert!(
        !sealed.windows(10).any(|w| w == b"CANARY-7c1"),
        "plaintext in the sealed part"
    );
    assert_eq!(open(&key, AT, &sealed).expect("opens"), data);
    // Edge sizes: empty, exactly one chunk, one byte over.
    for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1] {
        let data = vec![7u8; size];
        let (sealed, info) = seal(&key, AT, &data);
        assert_eq!(
            info.chunks,
            (size.max(1)).div_ceil(CHUNK) as u64,
            "size {size}"
        );
        assert_eq!(open(&key, AT, &sealed).expect("opens"), data, "size {size}");
    }
}

#[test]
fn every_alteration_of_a_part_is_refused_naming_it() {
    let key = Key256::generate();
    let data = plaintext();
    let (sealed, _) = seal(&key, AT, &data);
    let refused = |bytes: &[u8], what: &str| match open(&key, AT, bytes) {
        Ok(_) => panic!("{what}: accepted"),
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains(AT.name),
                "{what}: the error names the part: {text}"
            );
            assert!(!text.contains("CANARY"), "{what}: no plaintext in errors");
        }
    };
    // A flipped bit anywhere: 150 places spread over the part, and the first 40 bytes of every
    // frame (its length, the version and nonce of the sealed chunk).
    let mut positions: Vec<usize> = (0..sealed.len()).step_by(sealed.len() / 150).collect();
    for (offset, _) in frames(&sealed) {
        positions.extend(offset..offset + 40);
    }
    positions.push(sealed.len() - 1);
    for p in positions {
        let mut bad = sealed.clone();
        bad[p] ^= 0x01;
        refused(&bad, &format!("bit flipped at {p}"));
    }
    // Cut anywhere: at each frame boundary and inside frames.
    let parts = frames(&sealed);
    for (offset, frame) in &parts {
        refused(
            &sealed[..*offset],
            &format!("cut at frame boundary {offset}"),
        );
        refused(&sealed[..offset + frame.len() / 2], "cut inside a frame");
    }
    // A frame dropped, two swapped, one repeated, bytes appended.
    let join = |fs: &[&Vec<u8>]| {
        fs.iter()
            .flat_map(|f| f.iter().copied())
            .collect::<Vec<u8>>()
    };
    let (a, b, c) = (&parts[0].1, &parts[1].1, &parts[2].1);
    refused(&join(&[a, c]), "middle chunk dropped");
    refused(&join(&[b, a, c]), "chunks swapped");
    refused(&join(&[a, b, b, c]), "chunk repeated");
    refused(&join(&[a, b, c, a]), "chunk appended after the last");
    // The same bytes presented as another part, another backup, or under another key.
    for (at, what) in [
        (
            PartRef {
                name: "state",
                ..AT
            },
            "another part",
        ),
        (
            PartRef {
                backup: "bk_2",
                ..AT
            },
            "another backup",
        ),
    ] {
        match open(&key, at, &sealed) {
            Err(Error::Chunk { index: 0, .. }) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
    match open(&Key256::generate(), AT, &sealed) {
        Err(Error::Chunk { index: 0, .. }) => {}
        other => panic!("another key: {other:?}"),
    }
    // A whole chunk taken from another part of the same backup, in place.
    let other = PartRef {
        name: "state",
        ..AT
    };
    let (foreign, _) = seal(&key, other, &data);
    let foreign_frames = frames(&foreign);
    refused(
        &join(&[a, &foreign_frames[1].1, c]),
        "chunk from another part",
    );
}

fn manifest() -> Manifest {
    let at = |seq: u64, h: &str| Position {
        seq,
        hash: h.repeat(32),
    };
    Manifest {
        version: 1,
        installation: "in_1".into(),
        backup: "bk_1".into(),
        kind: Kind::Full,
        created_at: 1_800_000_000_000,
        journal_from: at(0, "00"),
        journal_to: at(99, "ef"),
        last_at: 1_799_999_999_000,
        audit_from: at(0, "00"),
        audit_to: at(40, "12"),
        snapshot: Some(Snapshot {
            position: at(10, "ab"),
            max_at: 1_799_999_000_000,
            digest: "cd".repeat(32),
        }),
        keyring_generation: 3,
        archive_key: "00".repeat(40),
        backup_key_version: 1,
        attachments: vec!["at_1".into()],
        parts: vec![PartEntry {
            name: "state".into(),
            len: 4096,
            chunks: 1,
            sha256: "11".repeat(32),
        }],
    }
}

#[test]
fn a_manifest_is_refused_when_any_byte_changes_or_the_master_key_differs() {
    let master = keyring::MasterKey::from_key(Key256::generate());
    let key = keyring::backup_manifest_key(&master);
    let bytes = manifest().to_bytes(&key).expect("encode");
    assert_eq!(
        Manifest::from_bytes(&key, &bytes).expect("reads"),
        manifest()
    );
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(
            Manifest::from_bytes(&key, &bad).is_err(),
            "byte {i} flipped: accepted"
        );
    }
    for cut in [0, 10, 64, 65, bytes.len() - 1] {
        assert!(
            Manifest::from_bytes(&key, &bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let other = keyring::backup_manifest_key(&keyring::MasterKey::from_key(Key256::generate()));
    assert!(matches!(
        Manifest::from_bytes(&other, &bytes),
        Err(Error::ManifestForged)
    ));
    // A forger who re-MACs an edited manifest needs the master key.
    let mut edited = manifest();
    edited.parts[0].sha256 = "22".repeat(32);
    let forged = edited.to_bytes(&other).expect("encode");
    assert!(matches!(
        Manifest::from_bytes(&key, &forged),
        Err(Error::ManifestForged)
    ));
    assert!(matches!(
        manifest().part("journal/1"),
        Err(Error::MissingPart(name)) if name == "journal/1"
    ));
}
