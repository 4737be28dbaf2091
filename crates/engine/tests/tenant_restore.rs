//! Point-in-time restore of one tenant on the live engine (P11), at the engine's level: identity
//! is never rolled back (a token or session revoked after the moment stays revoked), refusals
//! write nothing, and a restore event outside the tenant's own scope changes nothing. The
//! workload over several tenants through the services is `crates/records/tests/tenant_restore.rs`.

use std::sync::Arc;

use engine::event::{Blob, Event, TenantData, TokenPrincipal};
use engine::fields::FieldRef;
use engine::model::{Document, SessionDoc, TokenDoc};
use engine::{Engine, Error, Options, Paths, Scope};
use types::{CollectionId, ManualClock, RecordId, SessionId, TenantId, Timestamp, TokenId, UserId};

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    clock: Arc<ManualClock>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let paths = Paths {
        data: dir.path().join("data"),
        mirror: dir.path().join("mirror"),
        key_file: dir.path().join("k").join("master.key"),
    };
    let engine = Engine::open(
        &paths,
        Options {
            segment_bytes: 1 << 20,
            clock: clock.clone(),
            create: true,
            ..Options::default()
        },
    )
    .expect("open")
    .engine;
    Fixture {
        _dir: dir,
        engine,
        clock,
    }
}

impl Fixture {
    /// Moves the clock on, so that every entry has a moment of its own.
    fn tick(&self) -> i64 {
        self.clock.advance_millis(10);
        self.engine.now().millis()
    }

    fn commit(&self, tenant: TenantId, event: Event) {
        self.tick();
        self.engine
            .commit_blocking(Scope::Tenant(tenant), &event)
            .unwrap_or_else(|e| panic!("commit {event:?}: {e}"));
    }

    fn tenant(&self) -> TenantId {
        let id = TenantId::random();
        self.engine.create_scope(Scope::Tenant(id)).expect("scope");
        let row = id.to_string();
        let field = FieldRef {
            scope: Scope::Tenant(id),
            table: "tenants",
            row: &row,
            field: "name",
        };
        let name = self.engine.seal_field(field, b"t").expect("seal");
        self.commit(
            id,
            Event::TenantCreated {
                tenant: id,
                name: Blob(name),
            },
        );
        id
    }

    /// A record with an opaque body (the engine does not open it).
    fn record(&self, tenant: TenantId, body: Vec<u8>) -> RecordId {
        let id = RecordId::random();
        self.commit(
            tenant,
            Event::RecordCreated {
                record: id,
                tenant,
                collection: CollectionId::random(),
                owner: UserId::random(),
                body: Blob(body),
                index: vec![Blob(vec![7; 32])],
            },
        );
        id
    }

    fn data(&self, tenant: TenantId) -> state_sqlite::TenantData {
        self.engine
            .state()
            .tenant_data(tenant, engine::model::TENANT_DATA_KINDS)
            .expect("tenant data")
    }

    fn doc(&self, kind: &'static str, id: impl ToString) -> Vec<u8> {
        self.engine
            .state()
            .get_doc(kind, &id.to_string())
            .expect("doc")
            .unwrap_or_else(|| panic!("no {kind} {}", id.to_string()))
            .body
    }
}

#[test]
fn identity_is_never_rolled_back() {
    let f = fixture();
    let a = f.tenant();
    let user = UserId::random();
    let secret = "srt_tenant-restore-test-token";
    let token = TokenDoc {
        id: TokenId::random(),
        tenant: Some(a),
        principal: TokenPrincipal::User,
        owner: Some(user),
        hash: Blob(crypto::token_hash(secret).to_vec()),
        scopes: None,
        label: None,
        created_at: f.tick(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    let session = SessionDoc {
        id: SessionId::random(),
        tenant: Some(a),
        user,
        hash: Blob(vec![3; 32]),
        created_at: f.tick(),
        last_seen_at: f.tick(),
        expires_at: f.tick() + 3_600_000,
        restricted: false,
        revoked_at: None,
    };
    f.commit(a, Event::TokenIssued { doc: token.clone() });
    f.commit(
        a,
        Event::SessionCreated {
            doc: session.clone(),
        },
    );
    f.record(a, b"before".to_vec());
    let t1 = f.tick();
    let data_t1 = f.data(a);

    // After the moment: both revoked, and the data changes.
    f.commit(a, Event::TokenRevoked { token: token.id });
    f.commit(
        a,
        Event::SessionRevoked {
            session: session.id,
        },
    );
    f.record(a, b"after".to_vec());
    let token_before = f.doc(TokenDoc::KIND, token.id);
    let session_before = f.doc(SessionDoc::KIND, session.id);

    f.tick();
    let restored = f
        .engine
        .restore_tenant_data_blocking(a, t1)
        .expect("restore");
    assert_eq!(restored.counts.records, 1, "{restored:?}");
    assert_eq!(f.data(a), data_t1, "data is the moment's");
    assert_eq!(
        f.doc(TokenDoc::KIND, token.id),
        token_before,
        "the token document changed"
    );
    assert_eq!(
        f.doc(SessionDoc::KIND, session.id),
        session_before,
        "the session document changed"
    );
    let found = f.engine.find_token(secret).expect("find").expect("token");
    assert!(
        found.revoked_at.is_some(),
        "a token revoked after the moment is usable again: {found:?}"
    );
    f.engine.shutdown();
}

#[test]
fn refusals_write_nothing() {
    let f = fixture();
    let before_a = f.tick();
    let a = f.tenant();
    f.record(a, b"x".to_vec());
    let head = f.engine.journal().head();

    let unknown = TenantId::random();
    let e = f
        .engine
        .restore_tenant_data_blocking(unknown, f.engine.now().millis())
        .expect_err("unknown tenant");
    assert!(matches!(e, Error::UnknownTenant(t) if t == unknown), "{e}");

    let future = f.engine.now().millis() + 1;
    let e = f
        .engine
        .restore_tenant_data_blocking(a, future)
        .expect_err("future");
    assert!(
        matches!(e, Error::RestoreInFuture { at, .. } if at == future),
        "{e}"
    );

    let e = f
        .engine
        .restore_tenant_data_blocking(a, before_a)
        .expect_err("before the tenant");
    assert!(
        matches!(e, Error::TenantAbsentAt { tenant, at, .. } if tenant == a && at == before_a),
        "{e}"
    );
    assert_eq!(f.engine.journal().head(), head, "a refusal wrote an entry");
    assert!(
        !scratch_left(&f.engine),
        "the scratch state of a refused restore was left behind"
    );
    f.engine.shutdown();
}

fn scratch_left(engine: &Engine) -> bool {
    let state = engine.paths().state();
    let dir = state.parent().expect("state dir");
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("tenant-restore"))
}

#[test]
fn data_above_the_journal_limit_is_refused_naming_its_size() {
    let f = fixture();
    let a = f.tenant();
    // Four records of 4 MiB: 16 MiB of bodies, more than one entry takes once encoded.
    for i in 0..4u8 {
        f.record(a, vec![i; 4 << 20]);
    }
    let head = f.engine.journal().head();
    let now = f.tick();
    let e = f
        .engine
        .restore_tenant_data_blocking(a, now)
        .expect_err("too large");
    match &e {
        Error::RestoreTooLarge {
            tenant,
            size,
            limit,
        } => {
            assert_eq!(*tenant, a);
            assert_eq!(*limit, journal::MAX_PAYLOAD);
            assert!(*size > *limit, "{e}");
            assert!(e.to_string().contains(&size.to_string()), "{e}");
        }
        other => panic!("expected RestoreTooLarge, got {other}"),
    }
    assert_eq!(f.engine.journal().head(), head, "a refusal wrote an entry");
    f.engine.shutdown();
}

#[test]
fn a_restore_event_under_another_scope_changes_nothing() {
    let f = fixture();
    let a = f.tenant();
    let b = f.tenant();
    f.record(a, b"kept".to_vec());
    let before = f.engine.state().tenant_digest(a).expect("digest");
    let empty = Event::TenantDataRestored {
        tenant: a,
        cut: 0,
        at: 0,
        data: TenantData::default(),
    };
    for scope in [Scope::System, Scope::Tenant(b)] {
        f.tick();
        f.engine.commit_blocking(scope, &empty).expect("commit");
        assert_eq!(
            f.engine.state().tenant_digest(a).expect("digest"),
            before,
            "a restore of {a} sealed under {scope:?} was applied"
        );
    }
    // Under its own scope, it is.
    f.commit(a, empty);
    assert!(f.data(a).records.is_empty());
    f.engine.shutdown();
}
