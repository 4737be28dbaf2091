//! A live engine on a manual clock with one tenant, two collections, a few records and an
//! attachment of several MiB (so that its archive has several chunks), and the export service
//! with cheap key-derivation parameters.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::{Engine, Options, Paths};
use export::{Config, KdfParams, Service};
use serde_json::json;
use types::{ManualClock, TenantId, Timestamp, UserId};

/// Cheap Argon2id for tests that are not about its cost.
pub const CHEAP: KdfParams = KdfParams {
    m_kib: 64,
    t: 1,
    p: 1,
};

pub struct Live {
    pub root: PathBuf,
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub records: records::Records,
    pub identity: identity::Identity,
    pub tenant: TenantId,
    pub user: UserId,
}

pub async fn live(root: &Path) -> Live {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let paths = Paths {
        data: root.join("data"),
        mirror: root.join("mirror"),
        key_file: root.join("keys").join("master.key"),
    };
    let engine = {
        let clock = Arc::clone(&clock);
        tokio::task::spawn_blocking(move || {
            let options = Options {
                segment_bytes: 1 << 20,
                clock,
                create: true,
                ..Options::default()
            };
            Engine::open(&paths, options).map(|o| o.engine)
        })
        .await
        .expect("join")
        .expect("engine")
    };
    let tenancy = tenancy::Tenancy::new(engine.clone());
    let tenant = tenancy.create("Export test").await.expect("tenant").id;
    let records = records::Records::new(engine.clone());
    let identity = identity::Identity::new(engine.clone(), identity::IdentityConfig::default());
    Live {
        root: root.to_owned(),
        engine,
        clock,
        records,
        identity,
        tenant,
        user: UserId::random(),
    }
}

impl Live {
    /// Two collections with `n` records each, and one attachment of `attachment` bytes.
    pub async fn fill(&self, n: usize, attachment: usize) {
        for name in ["notes", "people"] {
            let schema = serde_json::from_value(json!({ "fields": [
                { "name": "title", "type": "text" },
                { "name": "n", "type": "number" }
            ] }))
            .expect("schema");
            self.records
                .create_collection(self.tenant, name, schema)
                .await
                .expect("collection");
            for i in 0..n {
                self.records
                    .create_record(
                        self.tenant,
                        name,
                        self.user,
                        &json!({ "title": format!("=cmd|' /C calc'!A{i}"), "n": i }),
                        None,
                    )
                    .await
                    .expect("record");
            }
        }
        let first = self
            .records
            .list_records(self.tenant, "notes", &records::ListOptions::default())
            .expect("list")
            .items[0]
            .id;
        let bytes: Vec<u8> = (0..attachment).map(|i| (i * 7 % 251) as u8).collect();
        self.records
            .add_attachment(
                self.tenant,
                "notes",
                first,
                "big.zip",
                "application/zip",
                &bytes,
            )
            .await
            .expect("attachment");
    }

    pub fn service(&self, max_concurrent: usize) -> Arc<Service> {
        let src = export::archive::Sources {
            engine: self.engine.clone(),
            records: self.records.clone(),
            identity: self.identity.clone(),
        };
        let config = Config {
            max_concurrent,
            kdf: CHEAP,
            ..Config::default()
        };
        Service::new(src, config).expect("service")
    }

    pub fn archive(&self, export: types::ExportId) -> PathBuf {
        self.engine
            .paths()
            .exports_dir()
            .join(format!("{export}.srx"))
    }
}
