//! Backups and restores under attack. A real destination (a full backup and an increment) is
//! copied, the copy altered — every object of both sets with bytes flipped, deleted, cut short
//! or swapped with the other set's, manifests copied or forged under another master key,
//! attachment objects altered or swapped — and restored into new directories and verified:
//! each attack must be refused, naming what was altered, and the restore must keep nothing.
//! Also: the wrong master key writes nothing, a target that is not empty is left as it was,
//! and neither tenant data nor the master key is in any destination object in any form.

mod common;

use std::path::{Path, PathBuf};

use backup::Manifest;
use base64::Engine as _;
use common::{
    Live, copy_dir, files_containing, files_under, kept_by_restore, live, local, restore_with,
    verify,
};
use crypto::Key256;
use tempfile::TempDir;

/// A live engine with a full backup and an increment after it at a local destination.
struct Backed {
    dir: TempDir,
    live: Live,
    /// The destination directory (only ever copied, never altered).
    dest: PathBuf,
    work: PathBuf,
    full: Manifest,
    increment: Manifest,
}

/// Records titled `title …` before and after the full backup; `attachments` on the first record,
/// before the full backup.
async fn backed_up(title: &str, attachments: &[&[u8]]) -> Backed {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = live(&dir.path().join("live"), 2).await;
    let dest = dir.path().join("dest");
    let work = dir.path().join("work");
    let disk = local("disk", &dest);
    let mut first = None;
    for i in 0..10 {
        live.clock.advance_millis(1_000);
        let id = live
            .create(live.tenants[i % 2], &format!("{title} {i}"), i as i64)
            .await;
        first.get_or_insert(id);
    }
    for (i, bytes) in attachments.iter().enumerate() {
        live.records
            .add_attachment(
                live.tenants[0],
                "notes",
                first.expect("a record"),
                &format!("file-{i}.pdf"),
                "application/pdf",
                bytes,
            )
            .await
            .expect("attachment");
    }
    let full = common::full(&live, &disk, &work).await;
    for i in 10..20 {
        live.clock.advance_millis(1_000);
        live.create(live.tenants[i % 2], &format!("{title} {i}"), i as i64)
            .await;
    }
    let increment = common::ship(&live, &disk, &work).await;
    Backed {
        dir,
        live,
        dest,
        work,
        full,
        increment,
    }
}

impl Backed {
    fn key_file(&self) -> &Path {
        &self.live.paths.key_file
    }

    /// The sets, full first: directory and manifest.
    fn sets(&self) -> [(String, &Manifest); 2] {
        [&self.full, &self.increment].map(|m| (backup::catalog::set_dir(m), m))
    }

    /// Every object under `prefix/` at the destination (keys relative to it), sorted.
    fn objects(&self, prefix: &str) -> Vec<String> {
        files_under(&self.dest)
            .into_iter()
            .filter(|k| k.starts_with(&format!("{prefix}/")))
            .collect()
    }
}

/// Whether `text` names the part `name` as the crate's errors do (`part NAME:`, `part NAME `).
fn names_part(text: &str, name: &str) -> bool {
    [':', ' ']
        .iter()
        .any(|c| text.contains(&format!("part {name}{c}")))
}

/// What a refusal must say.
enum Names<'a> {
    /// The set directory and the part.
    Part(&'a str, &'a str),
    /// The set directory and its manifest.
    Manifest(&'a str),
    /// The set directory and its manifest's MAC.
    Mac(&'a str),
    /// Each of these.
    All(&'a [&'a str]),
}

impl Names<'_> {
    fn missing_in(&self, text: &str) -> Option<String> {
        match self {
            Names::Part(set, part) => (!text.contains(set) || !names_part(text, part))
                .then(|| format!("set {set} and part {part}")),
            Names::Manifest(set) => Names::All(&[set, "manifest"]).missing_in(text),
            Names::Mac(set) => Names::All(&[set, "MAC"]).missing_in(text),
            Names::All(all) => all
                .iter()
                .find(|n| !text.contains(**n))
                .map(|n| format!("{n:?}")),
        }
    }
}

/// Alters a copy of the destination with `alter`, then restores it into new directories and
/// verifies it. Returns every way this fell short: accepted by the restore or the verification,
/// refused without naming what was altered, or the failed restore kept something.
async fn attack(
    b: &Backed,
    what: &str,
    names: Names<'_>,
    alter: impl FnOnce(&Path),
) -> Vec<String> {
    let case = tempfile::tempdir_in(b.dir.path()).expect("case dir");
    let copy = case.path().join("dest");
    copy_dir(&b.dest, &copy);
    alter(&copy);
    let dest = local("copy", &copy);
    let target = case.path().join("restored");
    let mut problems = Vec::new();
    match restore_with(&dest, &target, b.key_file(), None).await {
        Ok(r) => problems.push(format!(
            "{what}: restore succeeded (to entry {}, {} set(s), digest {})",
            r.journal.seq,
            r.sets.len(),
            crypto::hex(r.digest)
        )),
        Err(e) => {
            let text = e.to_string();
            if let Some(missing) = names.missing_in(&text) {
                problems.push(format!(
                    "{what}: restore refused without naming {missing}: {text}"
                ));
            }
            let kept = kept_by_restore(&target);
            if !kept.is_empty() {
                problems.push(format!("{what}: the failed restore kept {kept:?}"));
            }
        }
    }
    match verify(&dest, b.key_file(), &case.path().join("work")).await {
        Ok(v) => problems.push(format!(
            "{what}: verify accepted it ({} sets, {} parts, {} attachments)",
            v.sets, v.parts, v.attachments
        )),
        Err(e) => {
            let text = e.to_string();
            if let Some(missing) = names.missing_in(&text) {
                problems.push(format!(
                    "{what}: verify refused without naming {missing}: {text}"
                ));
            }
        }
    }
    problems
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).expect("read object");
    bytes[offset] ^= 0xff;
    std::fs::write(path, bytes).expect("write object");
}

fn cut(path: &Path, len: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open object");
    file.set_len(len).expect("truncate object");
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).expect("object").len()
}

/// Fails with every problem found, and how to run the test again.
fn report(problems: &[String], test: &str) {
    assert!(
        problems.is_empty(),
        "{} attack(s) not refused as they must be (rerun: cargo test -p backup --test refusals \
         {test}):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_altered_object_of_both_sets_is_refused_naming_it() {
    let b = backed_up("note", &[]).await;
    let sets = b.sets();

    // The destination holds exactly the parts the manifests list, and a manifest per set; an
    // untouched copy restores to the live state and verifies.
    let mut expected: Vec<String> = sets
        .iter()
        .flat_map(|(dir, m)| {
            m.parts
                .iter()
                .map(|p| p.name.clone())
                .chain(["manifest".to_owned()])
                .map(move |name| format!("{dir}/{name}"))
        })
        .collect();
    expected.sort();
    assert_eq!(b.objects("sets"), expected, "objects under sets/");
    {
        let case = tempfile::tempdir_in(b.dir.path()).expect("case dir");
        let copy = case.path().join("dest");
        copy_dir(&b.dest, &copy);
        let dest = local("copy", &copy);
        let restored = restore_with(&dest, &case.path().join("r"), b.key_file(), None)
            .await
            .expect("an untouched copy restores");
        assert_eq!(restored.digest, b.live.digest(), "untouched copy: digest");
        assert_eq!(restored.sets.len(), 2, "untouched copy: both sets read");
        verify(&dest, b.key_file(), &case.path().join("work"))
            .await
            .expect("an untouched copy verifies");
    }

    let mut problems = Vec::new();
    for (dir, manifest) in &sets {
        // Every object, at its first, a middle and its last byte.
        let names: Vec<&str> = manifest
            .parts
            .iter()
            .map(|p| p.name.as_str())
            .chain(["manifest"])
            .collect();
        for name in &names {
            let key = format!("{dir}/{name}");
            let len = size(&b.dest.join(&key)) as usize;
            let expect = || match *name {
                "manifest" => Names::Mac(dir),
                part => Names::Part(dir, part),
            };
            for offset in [0, len / 2, len - 1] {
                let what = format!("{key}: byte {offset} of {len} flipped");
                problems.extend(attack(&b, &what, expect(), |d| flip(&d.join(&key), offset)).await);
            }
            // Cut short: to half, and by its last byte.
            for keep in [len as u64 / 2, len as u64 - 1] {
                let what = format!("{key}: cut to {keep} of {len} bytes");
                problems.extend(attack(&b, &what, expect(), |d| cut(&d.join(&key), keep)).await);
            }
        }
        // Every part deleted.
        for part in &manifest.parts {
            let key = format!("{dir}/{}", part.name);
            let what = format!("{key}: deleted");
            problems.extend(
                attack(&b, &what, Names::Part(dir, &part.name), |d| {
                    std::fs::remove_file(d.join(&key)).expect("delete");
                })
                .await,
            );
        }
    }

    // A part replaced by the same-named part of the other set, both ways.
    let [(full_dir, full), (incr_dir, increment)] = &sets;
    for (into, from) in [(full_dir, incr_dir), (incr_dir, full_dir)] {
        for name in increment.parts.iter().map(|p| p.name.as_str()) {
            let what = format!("{into}/{name}: replaced by {from}/{name}");
            problems.extend(
                attack(&b, &what, Names::Part(into, name), |d| {
                    std::fs::copy(d.join(from).join(name), d.join(into).join(name)).expect("swap");
                })
                .await,
            );
        }
        // The other set's manifest in its place.
        let what = format!("{into}/manifest: replaced by {from}/manifest");
        problems.extend(
            attack(&b, &what, Names::Manifest(into), |d| {
                std::fs::copy(d.join(from).join("manifest"), d.join(into).join("manifest"))
                    .expect("swap");
            })
            .await,
        );
    }
    // A part the manifest does not list: the full backup's snapshot put into the increment.
    for part in full.parts.iter().map(|p| p.name.as_str()) {
        if increment.part(part).is_ok() {
            continue;
        }
        let what = format!("{incr_dir}/{part}: added from {full_dir}/{part}");
        problems.extend(
            attack(&b, &what, Names::Part(incr_dir, part), |d| {
                std::fs::copy(d.join(full_dir).join(part), d.join(incr_dir).join(part))
                    .expect("add");
            })
            .await,
        );
    }
    report(
        &problems,
        "every_altered_object_of_both_sets_is_refused_naming_it",
    );
    b.live.engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_or_swapped_attachment_objects_are_refused_naming_them() {
    let one: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let two: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    let b = backed_up("note", &[&one, &two]).await;
    let blobs = b.objects("blobs");
    assert_eq!(blobs.len(), 2, "attachment objects: {blobs:?}");
    let names: Vec<&str> = blobs
        .iter()
        .map(|k| k.strip_prefix("blobs/").expect("under blobs/"))
        .collect();

    let mut problems = Vec::new();
    for (key, name) in blobs.iter().zip(&names) {
        let len = size(&b.dest.join(key)) as usize;
        for offset in [0, len / 2, len - 1] {
            let what = format!("{key}: byte {offset} of {len} flipped");
            problems.extend(
                attack(&b, &what, Names::All(&[name]), |d| {
                    flip(&d.join(key), offset)
                })
                .await,
            );
        }
    }
    // The two objects under each other's names: the first read (in name order) is refused.
    let what = format!("{} and {} swapped", blobs[0], blobs[1]);
    problems.extend(
        attack(&b, &what, Names::All(&[names[0]]), |d| {
            let (a, c) = (d.join(&blobs[0]), d.join(&blobs[1]));
            let held = d.join("held");
            std::fs::rename(&a, &held).expect("rename");
            std::fs::rename(&c, &a).expect("rename");
            std::fs::rename(&held, &c).expect("rename");
        })
        .await,
    );
    report(
        &problems,
        "altered_or_swapped_attachment_objects_are_refused_naming_them",
    );
    b.live.engine.shutdown();
}

/// Attachment objects are not parts of a set (they are shipped once, by name), so no manifest
/// lists them; a restore that finds one missing must still refuse rather than bring back records
/// whose files are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_attachment_object_is_refused_naming_it() {
    let one: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let two: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    let b = backed_up("note", &[&one, &two]).await;
    let blobs = b.objects("blobs");
    assert_eq!(blobs.len(), 2, "attachment objects: {blobs:?}");
    let mut problems = Vec::new();
    for key in &blobs {
        let name = key.strip_prefix("blobs/").expect("under blobs/");
        let what = format!("{key}: deleted");
        problems.extend(
            attack(&b, &what, Names::All(&[name]), |d| {
                std::fs::remove_file(d.join(key)).expect("delete");
            })
            .await,
        );
    }
    report(
        &problems,
        "a_deleted_attachment_object_is_refused_naming_it",
    );
    b.live.engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_master_key_writes_nothing() {
    let b = backed_up("note", &[]).await;
    let other = b.dir.path().join("other-key").join("master.key");
    keyring::MasterKey::create(&other).expect("another master key");
    let dest = local("disk", &b.dest);
    let target = b.dir.path().join("restored");

    let refused = restore_with(&dest, &target, &other, None).await;
    let text = match refused {
        Ok(r) => panic!("restore with another master key succeeded: {:?}", r.journal),
        Err(e) => e.to_string(),
    };
    assert!(
        text.contains("master key") && text.contains("does not open"),
        "the refusal says the master key does not open the keyring: {text}"
    );
    for dir in ["data", "mirror"] {
        assert!(
            !target.join(dir).exists(),
            "the {dir} directory was created: {:?}",
            files_under(&target.join(dir))
        );
    }
    assert!(
        !target.join("audit-signing.key").exists(),
        "an audit signing key was written"
    );
    let work = b.dir.path().join("verify-work");
    match verify(&dest, &other, &work).await {
        Ok(v) => panic!("verify with another master key succeeded: {} sets", v.sets),
        Err(e) => assert!(
            e.to_string().contains("master key"),
            "verify names the master key: {e}"
        ),
    }
    assert!(
        files_under(&work).is_empty(),
        "verify left {:?}",
        files_under(&work)
    );
    // The destination is as it was: the right key still restores it.
    restore_with(&dest, &b.dir.path().join("right"), b.key_file(), None)
        .await
        .expect("the right master key restores");
    b.live.engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_is_not_empty_is_refused_and_left_as_it_was() {
    let b = backed_up("note", &[]).await;
    let dest = local("disk", &b.dest);
    let content = b"someone else's file\n";

    // A file in the data directory.
    let root = b.dir.path().join("busy-data");
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    std::fs::write(root.join("data").join("keep.txt"), content).expect("write");
    match restore_with(&dest, &root, b.key_file(), None).await {
        Ok(_) => panic!("restore into a data directory holding a file succeeded"),
        Err(e) => assert!(e.to_string().contains("not empty"), "{e}"),
    }
    assert_eq!(
        std::fs::read(root.join("data").join("keep.txt")).expect("still there"),
        content
    );
    assert_eq!(
        files_under(&root),
        ["data/keep.txt"],
        "nothing else written"
    );

    // A file in the mirror directory: the data directory the restore made is gone again.
    let root = b.dir.path().join("busy-mirror");
    std::fs::create_dir_all(root.join("mirror")).expect("mkdir");
    std::fs::write(root.join("mirror").join("keep.txt"), content).expect("write");
    match restore_with(&dest, &root, b.key_file(), None).await {
        Ok(_) => panic!("restore into a mirror directory holding a file succeeded"),
        Err(e) => assert!(e.to_string().contains("not empty"), "{e}"),
    }
    assert_eq!(
        std::fs::read(root.join("mirror").join("keep.txt")).expect("still there"),
        content
    );
    assert!(!root.join("data").exists(), "the data directory was left");
    assert_eq!(
        files_under(&root),
        ["mirror/keep.txt"],
        "nothing else written"
    );
    b.live.engine.shutdown();
}

/// The forms a secret could take in a file: itself, hex, and base64 at every alignment.
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        secret.to_vec(),
        crypto::hex(secret).into_bytes(),
        crypto::hex(secret).to_uppercase().into_bytes(),
    ];
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        for skew in 0..3 {
            let mut bytes = vec![0u8; skew];
            bytes.extend_from_slice(secret);
            let text = engine.encode(&bytes);
            // The characters that depend on the secret alone, whatever surrounds it.
            let from = if skew == 0 { 0 } else { 4 };
            out.push(text.as_bytes()[from..text.len() - 4].to_vec());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_canary_and_no_master_key_in_any_destination_object() {
    let record_canary = "CANARY-backup-7f3e9a";
    let file_canary = b"CANARY-attachment-2b8d41";
    let mut attachment = Vec::new();
    for i in 0..2_000u32 {
        attachment.extend_from_slice(file_canary);
        attachment.extend_from_slice(&i.to_be_bytes());
    }
    let b = backed_up(record_canary, &[&attachment]).await;
    assert_eq!(b.objects("blobs").len(), 1, "the attachment was backed up");

    let key_text = std::fs::read_to_string(b.key_file()).expect("master key file");
    let key_line = key_text.lines().nth(1).expect("key line").trim().to_owned();
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(&key_line)
        .expect("base64 key");
    let secrets: [(&str, &[u8]); 4] = [
        ("record canary", record_canary.as_bytes()),
        ("attachment canary", file_canary),
        ("master key file line", key_line.as_bytes()),
        ("master key", &key_bytes),
    ];
    for (what, secret) in secrets {
        for form in forms(secret) {
            let hits = files_containing(&b.dest, &form);
            assert!(
                hits.is_empty(),
                "{what} as {:?} in {hits:?}",
                String::from_utf8_lossy(&form)
            );
        }
    }
    assert!(
        files_under(&b.work).is_empty(),
        "the backup work directory kept {:?}",
        files_under(&b.work)
    );
    // The canaries are in the backup all the same, sealed: a restore gives the live state.
    let restored = restore_with(
        &local("disk", &b.dest),
        &b.dir.path().join("restored"),
        b.key_file(),
        None,
    )
    .await
    .expect("restore");
    assert_eq!(restored.digest, b.live.digest(), "restored digest");
    assert_eq!(restored.blobs, 1, "attachment restored");
    b.live.engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_forged_under_another_master_key_is_refused() {
    let b = backed_up("note", &[]).await;
    let master = keyring::MasterKey::load(b.key_file()).expect("master key");
    let real = keyring::backup_manifest_key(&master);
    let forger = keyring::backup_manifest_key(&keyring::MasterKey::from_key(Key256::generate()));

    let mut problems = Vec::new();
    for (dir, _) in b.sets() {
        let key = format!("{dir}/manifest");
        let stored = std::fs::read(b.dest.join(&key)).expect("manifest");
        let manifest = Manifest::from_bytes(&real, &stored).expect("a genuine manifest");
        // Re-MACed under the real key, the same manifest is accepted: the forgery below fails
        // for its key alone.
        let genuine = manifest.to_bytes(&real).expect("encode");
        {
            let case = tempfile::tempdir_in(b.dir.path()).expect("case dir");
            let copy = case.path().join("dest");
            copy_dir(&b.dest, &copy);
            std::fs::write(copy.join(&key), &genuine).expect("write");
            restore_with(
                &local("copy", &copy),
                &case.path().join("r"),
                b.key_file(),
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("{key} re-encoded under the real key: {e}"));
        }
        let mut edited = manifest.clone();
        edited.created_at += 1;
        for (what, forged) in [("as it was", manifest), ("edited", edited)] {
            let bytes = forged.to_bytes(&forger).expect("encode");
            let what = format!("{key}: {what}, MACed under another master key");
            problems.extend(
                attack(&b, &what, Names::Mac(&dir), |d| {
                    std::fs::write(d.join(&key), &bytes).expect("write");
                })
                .await,
            );
        }
    }
    report(
        &problems,
        "a_manifest_forged_under_another_master_key_is_refused",
    );
    b.live.engine.shutdown();
}
