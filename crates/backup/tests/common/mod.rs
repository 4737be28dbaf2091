//! A live engine on a manual clock with tenants, collections and records, a local destination,
//! and restores into fresh directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use backup::{Destination, Location, Spec};
use engine::{Engine, Options, Paths};
use serde_json::json;
use types::{ManualClock, RecordId, TenantId, Timestamp, UserId};

pub struct Live {
    pub root: PathBuf,
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub records: records::Records,
    pub tenants: Vec<TenantId>,
    pub paths: Paths,
}

/// A small deterministic generator (xorshift64*), so a failing run can be repeated.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn paths(root: &Path) -> Paths {
    Paths {
        data: root.join("data"),
        mirror: root.join("mirror"),
        key_file: root.join("keys").join("master.key"),
    }
}

pub async fn live(root: &Path, tenants: usize) -> Live {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let p = paths(root);
    let engine = {
        let (p, clock) = (p.clone(), Arc::clone(&clock));
        tokio::task::spawn_blocking(move || {
            Engine::open(
                &p,
                Options {
                    segment_bytes: 64 * 1024,
                    clock,
                    create: true,
                    ..Options::default()
                },
            )
            .map(|o| o.engine)
        })
        .await
        .expect("join")
        .expect("engine")
    };
    let tenancy = tenancy::Tenancy::new(engine.clone());
    let records = records::Records::new(engine.clone());
    let mut ids = Vec::new();
    for i in 0..tenants {
        let tenant = tenancy
            .create(&format!("Tenant {i}"))
            .await
            .expect("tenant")
            .id;
        let schema = serde_json::from_value(json!({ "fields": [
            { "name": "title", "type": "text" },
            { "name": "n", "type": "number" }
        ] }))
        .expect("schema");
        records
            .create_collection(tenant, "notes", schema)
            .await
            .expect("collection");
        ids.push(tenant);
    }
    Live {
        root: root.to_owned(),
        engine,
        clock,
        records,
        tenants: ids,
        paths: p,
    }
}

impl Live {
    pub async fn create(&self, tenant: TenantId, title: &str, n: i64) -> RecordId {
        self.records
            .create_record(
                tenant,
                "notes",
                UserId::random(),
                &json!({ "title": title, "n": n }),
                None,
            )
            .await
            .expect("create")
            .0
            .id
    }

    pub async fn update(&self, tenant: TenantId, id: RecordId, n: i64) {
        self.records
            .update_record(tenant, "notes", id, &json!({ "n": n }), true, None)
            .await
            .expect("update");
    }

    pub async fn delete(&self, tenant: TenantId, id: RecordId) {
        self.records
            .delete_record(tenant, "notes", id, None)
            .await
            .expect("delete");
    }

    pub fn digest(&self) -> [u8; 32] {
        self.engine.state().digest().expect("digest")
    }
}

pub fn local(name: &str, path: &Path) -> Destination {
    Destination::open(Spec {
        name: name.to_owned(),
        region: format!("{name}-region"),
        jurisdiction: "EU".into(),
        location: Location::Local {
            path: path.to_owned(),
        },
    })
    .expect("destination")
}

/// A restore of `dest` into `root/<label>` (new directories), at `at`.
pub async fn restore(
    live: &Live,
    dest: &Destination,
    root: &Path,
    at: Option<i64>,
) -> backup::Result<backup::restore::Restored> {
    restore_with(dest, root, &live.paths.key_file, at).await
}

/// A restore of `dest` into `root` with the master key in `master_key_file`: data in
/// `root/data`, mirror in `root/mirror`, the audit signing key at `root/audit-signing.key`.
pub async fn restore_with(
    dest: &Destination,
    root: &Path,
    master_key_file: &Path,
    at: Option<i64>,
) -> backup::Result<backup::restore::Restored> {
    let target = Paths {
        data: root.join("data"),
        mirror: root.join("mirror"),
        key_file: master_key_file.to_owned(),
    };
    backup::restore::restore(
        backup::restore::Request {
            destination: dest.clone(),
            master_key_file: master_key_file.to_owned(),
            paths: target,
            audit_key_file: root.join("audit-signing.key"),
            at,
            segment_bytes: 64 * 1024,
        },
        Arc::new(backup::progress::Quiet),
    )
    .await
}

/// What a failed restore into `root` (as [`restore_with`] lays it out) left behind: files in
/// the data or mirror directory, or the audit signing key. Empty when it kept nothing.
pub fn kept_by_restore(root: &Path) -> Vec<PathBuf> {
    let mut kept = Vec::new();
    for dir in [root.join("data"), root.join("mirror")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            kept.extend(entries.flatten().map(|e| e.path()));
        }
    }
    let key = root.join("audit-signing.key");
    if std::fs::symlink_metadata(&key).is_ok() {
        kept.push(key);
    }
    kept
}

/// `backup verify` of `dest` with the master key in `master_key_file`.
pub async fn verify(
    dest: &Destination,
    master_key_file: &Path,
    work: &Path,
) -> backup::Result<backup::verify::Verified> {
    backup::verify::verify(
        dest,
        master_key_file,
        work,
        Arc::new(backup::progress::Quiet),
    )
    .await
}

/// A full backup of `live` to `dest`; its manifest.
pub async fn full(live: &Live, dest: &Destination, work: &Path) -> backup::Manifest {
    let out = backup::take::full(
        &live.engine,
        std::slice::from_ref(dest),
        work,
        Arc::new(backup::progress::Quiet),
    )
    .await;
    match out.into_iter().next().map(|o| o.result) {
        Some(Ok(Some(manifest))) => manifest,
        other => panic!("full backup: {other:?}"),
    }
}

/// Journal shipping from `live` to `dest`; the increment's manifest (there must be one).
pub async fn ship(live: &Live, dest: &Destination, work: &Path) -> backup::Manifest {
    let out = backup::take::ship(
        &live.engine,
        std::slice::from_ref(dest),
        work,
        Arc::new(backup::progress::Quiet),
    )
    .await;
    match out.into_iter().next().map(|o| o.result) {
        Some(Ok(Some(manifest))) => manifest,
        other => panic!("shipping: {other:?}"),
    }
}

/// Copies the directory tree `from` to `to` (created).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Every file under `root`, as paths relative to it, sorted.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Every file under `root` whose bytes contain `needle`.
pub fn files_containing(root: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                hits.push(p);
            }
        }
    }
    hits
}
