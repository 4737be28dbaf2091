//! The sealed archive refuses what it must (P14): a wrong passphrase, a changed byte in the
//! header, in a chunk or in the last chunk, a file cut short (at a chunk boundary or inside a
//! chunk), chunks reordered, bytes appended — each with a clear error and nothing written: no
//! target directory and no staging directory beside it. The untouched file opens, its CSV cells
//! are escaped, and its attachment is the one stored.

mod common;

use std::path::Path;

use export::Error;

/// `(start, end)` of every chunk frame of an archive (length prefix included).
fn chunks(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = export::sealed::HEADER_LEN;
    while at < bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("len")) as usize;
        out.push((at, at + 4 + len));
        at += 4 + len;
    }
    out
}

/// Nothing but `keep` in `dir`.
fn only(dir: &Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != keep)
        .collect()
}

#[tokio::test]
async fn a_wrong_passphrase_and_every_kind_of_tampering_are_refused_leaving_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let live = common::live(tmp.path()).await;
    live.fill(20, 2_500_000).await;
    let service = live.service(2);
    let (view, passphrase) = service
        .request(live.tenant, live.user)
        .await
        .expect("request");
    let done = service
        .finished(live.tenant, view.id)
        .await
        .expect("finished");
    assert_eq!(done.status, "completed", "{done:?}");
    let original = std::fs::read(live.archive(view.id)).expect("archive");
    let frames = chunks(&original);
    assert!(
        frames.len() >= 3,
        "{} chunks: the attachment should make three",
        frames.len()
    );

    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work");
    #[allow(clippy::result_large_err)]
    let try_open = |name: &str, bytes: &[u8], pass: &str| -> Result<(), Error> {
        let file = work.join(format!("{name}.srx"));
        std::fs::write(&file, bytes).expect("write");
        let to = work.join(format!("{name}.out"));
        let result = export::open_archive(&file, pass, &to).map(drop);
        std::fs::remove_file(&file).expect("remove");
        if result.is_err() {
            assert!(!to.exists(), "{name}: the target was created");
            assert_eq!(only(&work, ""), Vec::<String>::new(), "{name}: left behind");
        }
        result
    };
    let pass = passphrase.expose().as_str();

    // A wrong passphrase.
    let mut wrong = pass.to_owned();
    wrong.replace_range(0..1, if wrong.starts_with('A') { "B" } else { "A" });
    let e = try_open("wrong", &original, &wrong).expect_err("wrong passphrase");
    assert!(matches!(e, Error::FirstChunk), "{e}");
    assert!(e.to_string().contains("passphrase is wrong"), "{e}");

    // One byte changed: magic, version, KDF parameters, salt, export id; first, middle, last chunk.
    let (mid, last) = (frames[1], frames[frames.len() - 1]);
    for (what, at) in [
        ("magic", 0),
        ("version", 8),
        ("kdf t", 16),
        ("salt", 25),
        ("export id", 40),
        ("first chunk", frames[0].0 + 100),
        ("middle chunk", mid.0 + 100),
        ("last chunk", last.1 - 3),
        ("a length prefix", mid.0 + 1),
    ] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x20;
        let e = try_open(what, &bytes, pass).expect_err(what);
        match what {
            "middle chunk" => assert!(matches!(e, Error::Chunk { index: 1 }), "{what}: {e}"),
            "last chunk" => assert!(matches!(e, Error::LastChunk { .. }), "{what}: {e}"),
            _ => {}
        }
    }

    // Cut short: at a chunk boundary (the last chunk gone), inside a chunk, inside the header.
    for (what, len) in [
        ("without its last chunk", last.0),
        ("inside the last chunk", last.1 - 10),
        ("inside a middle chunk", mid.0 + 50),
        ("inside the header", 20),
        ("empty", 0),
    ] {
        let e = try_open(what, &original[..len], pass).expect_err(what);
        if what == "without its last chunk" {
            assert!(matches!(e, Error::LastChunk { .. }), "{what}: {e}");
        }
    }

    // Reordered chunks, a chunk dropped, bytes appended.
    let frame = |i: usize| &original[frames[i].0..frames[i].1];
    let mut swapped = original[..export::sealed::HEADER_LEN].to_vec();
    swapped.extend_from_slice(frame(1));
    swapped.extend_from_slice(frame(0));
    for i in 2..frames.len() {
        swapped.extend_from_slice(frame(i));
    }
    assert!(try_open("swapped", &swapped, pass).is_err());
    let mut dropped = original[..frames[1].0].to_vec();
    dropped.extend_from_slice(&original[frames[2].0..]);
    let e = try_open("dropped", &dropped, pass).expect_err("dropped");
    assert!(
        matches!(e, Error::Chunk { index: 1 } | Error::LastChunk { index: 1 }),
        "{e}"
    );
    let mut longer = original.clone();
    longer.extend_from_slice(frame(1));
    assert!(try_open("appended", &longer, pass).is_err());

    // The untouched file opens, with the same passphrase typed differently.
    let typed = pass.to_lowercase().replace('-', " ");
    let to = work.join("good");
    let opened = export::open_archive(&live.archive(view.id), &typed, &to).expect("opens");
    assert_eq!(opened.manifest.counts.records, 40);
    assert_eq!(opened.manifest.counts.attachments, 1);
    let csv = std::fs::read_to_string(to.join("collections/notes.csv")).expect("csv");
    assert!(csv.contains("\"'=cmd|' /C calc'!A0\""), "{}", &csv[..300]);
    assert!(!csv.contains(",\"=cmd"), "an unescaped formula cell");
    let a = &opened.manifest.attachments[0];
    let bytes = std::fs::read(to.join(format!("attachments/{}/{}", a.record, a.id))).expect("att");
    let want: Vec<u8> = (0..2_500_000).map(|i| (i * 7 % 251) as u8).collect();
    assert!(bytes == want, "the attachment differs");
    // An existing, non-empty target is refused.
    let e = export::open_archive(&live.archive(view.id), pass, &to).expect_err("busy target");
    assert!(matches!(e, Error::Target(_)), "{e}");
}
