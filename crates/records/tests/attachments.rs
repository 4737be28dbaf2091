//! Attachments through the records service on a real engine: sealed chunks in both locations,
//! round trip, refusals with clear errors, tamper detection, deletion, and no plaintext on disk.

use std::sync::Arc;

use engine::{Engine, Options, Paths};
use records::{Error, Records};
use serde_json::json;
use types::{ManualClock, TenantId, Timestamp, UserId};

struct Fixture {
    dir: tempfile::TempDir,
    records: Records,
    tenant: TenantId,
    record: types::RecordId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_owned();
    let engine = tokio::task::spawn_blocking(move || {
        let paths = Paths {
            data: root.join("data"),
            mirror: root.join("mirror"),
            key_file: root.join("k").join("master.key"),
        };
        let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
        Engine::open(
            &paths,
            Options {
                segment_bytes: 1 << 20,
                clock,
                create: true,
                ..Options::default()
            },
        )
        .map(|o| o.engine)
    })
    .await
    .expect("join")
    .expect("engine");
    let tenancy = tenancy::Tenancy::new(engine.clone());
    let tenant = tenancy.create("Files Inc").await.expect("tenant").id;
    let records = Records::new(engine);
    let schema = serde_json::from_value(json!({ "fields": [{ "name": "title", "type": "text" }] }))
        .expect("schema");
    records
        .create_collection(tenant, "docs", schema)
        .await
        .expect("collection");
    let (rec, _) = records
        .create_record(
            tenant,
            "docs",
            UserId::random(),
            &json!({ "title": "with files" }),
            None,
        )
        .await
        .expect("record");
    Fixture {
        dir,
        records,
        tenant,
        record: rec.id,
    }
}

fn files_containing(root: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .expect("read")
                .windows(needle.len())
                .any(|w| w == needle)
            {
                hits.push(p);
            }
        }
    }
    hits
}

#[tokio::test]
async fn round_trip_in_two_locations_without_plaintext() {
    let f = fixture().await;
    let canary = b"ATTACHMENT-CANARY-4411";
    let mut content = Vec::new();
    for i in 0..20_000u32 {
        content.extend_from_slice(canary);
        content.extend_from_slice(&i.to_be_bytes());
    }
    assert!(
        content.len() > 3 * records::attachments::CHUNK,
        "several chunks"
    );
    let view = f
        .records
        .add_attachment(
            f.tenant,
            "docs",
            f.record,
            "report final.pdf",
            "application/pdf",
            &content,
        )
        .await
        .expect("add");
    assert_eq!(view.size, content.len() as u64);
    for loc in ["data", "mirror"] {
        assert!(
            f.dir
                .path()
                .join(loc)
                .join("blobs")
                .join(view.id.to_string())
                .exists(),
            "blob missing in {loc}"
        );
    }
    let down = f
        .records
        .download(f.tenant, "docs", f.record, view.id)
        .expect("download");
    assert_eq!(down.bytes, content);
    assert_eq!(down.view.name, "report final.pdf");
    assert!(
        files_containing(f.dir.path(), canary).is_empty(),
        "canary on disk in plain form"
    );
    assert!(
        files_containing(f.dir.path(), b"report final.pdf").is_empty(),
        "file name on disk in plain form"
    );
    assert_eq!(
        f.records
            .list_attachments(f.tenant, "docs", f.record)
            .expect("list")
            .len(),
        1
    );
    f.records
        .delete_attachment(f.tenant, "docs", f.record, view.id)
        .await
        .expect("delete");
    assert!(matches!(
        f.records.download(f.tenant, "docs", f.record, view.id),
        Err(Error::NotFound(_))
    ));
    assert!(
        !f.dir
            .path()
            .join("data")
            .join("blobs")
            .join(view.id.to_string())
            .exists()
    );
}

#[tokio::test]
async fn bad_names_types_and_sizes_are_refused_clearly() {
    let mut f = fixture().await;
    for name in [
        "../../etc/passwd",
        "..",
        "a/b.txt",
        "c:\\boot.ini",
        "nul\u{0}.txt",
        "",
        "..hidden",
    ] {
        let err = f
            .records
            .add_attachment(f.tenant, "docs", f.record, name, "text/plain", b"x")
            .await
            .expect_err("refused");
        assert!(matches!(err, Error::Invalid(_)), "{name:?}: {err}");
    }
    let err = f
        .records
        .add_attachment(
            f.tenant,
            "docs",
            f.record,
            "x.html",
            "text/html",
            b"<script>",
        )
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("not allowed"), "{err}");
    f.records.max_attachment_bytes = 1000;
    let err = f
        .records
        .add_attachment(
            f.tenant,
            "docs",
            f.record,
            "big.txt",
            "text/plain",
            &[b'a'; 1001],
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::TooLarge { limit: 1000 }), "{err}");
    let blobs = std::fs::read_dir(f.dir.path().join("data").join("blobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "refusals leave no file");
}

#[tokio::test]
async fn tampering_with_a_blob_is_detected() {
    let f = fixture().await;
    let content = vec![7u8; 200_000];
    let view = f
        .records
        .add_attachment(
            f.tenant,
            "docs",
            f.record,
            "data.bin",
            "application/zip",
            &content,
        )
        .await
        .expect("add");
    for loc in ["data", "mirror"] {
        let path = f
            .dir
            .path()
            .join(loc)
            .join("blobs")
            .join(view.id.to_string());
        let mut bytes = std::fs::read(&path).expect("read");
        let n = bytes.len();
        bytes.truncate(n - 70_000);
        std::fs::write(&path, bytes).expect("write");
    }
    let err = f
        .records
        .download(f.tenant, "docs", f.record, view.id)
        .err()
        .expect("must fail");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

#[tokio::test]
async fn garbage_collection_removes_only_files_no_attachment_refers_to() {
    let f = fixture().await;
    let live = f
        .records
        .add_attachment(
            f.tenant,
            "docs",
            f.record,
            "keep.txt",
            "text/plain",
            b"keep",
        )
        .await
        .expect("add");
    let dirs = ["data", "mirror"].map(|loc| f.dir.path().join(loc).join("blobs"));
    let orphan = types::AttachmentId::random().to_string();
    let one_sided = types::AttachmentId::random().to_string();
    // A file whose event never committed (both places), one whose deletion stopped half way
    // (second place only), unfinished writes, and a stray file.
    for dir in &dirs {
        std::fs::write(dir.join(&orphan), b"sealed bytes").expect("orphan");
        std::fs::write(dir.join(format!("{orphan}.tmp")), b"half").expect("tmp");
    }
    std::fs::write(dirs[1].join(&one_sided), b"sealed").expect("one-sided");
    std::fs::write(dirs[0].join("notes.bak"), b"stray").expect("stray");
    let removed = f.records.collect_garbage().expect("gc");
    assert_eq!(removed, 5, "2 orphans (by name), 2 unfinished, 1 stray");
    for dir in &dirs {
        let mut left: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec![live.id.to_string()], "in {}", dir.display());
    }
    let down = f
        .records
        .download(f.tenant, "docs", f.record, live.id)
        .expect("the live file still opens");
    assert_eq!(down.bytes, b"keep");
    assert_eq!(f.records.collect_garbage().expect("again"), 0);
}
