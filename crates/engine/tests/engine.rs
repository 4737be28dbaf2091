//! The engine end to end on real files: commit → journal (both mirrors) → state; replay after
//! reopen; sealed bodies and fields bound to their scope; rebuild identical; no plaintext on disk.

use std::sync::Arc;

use engine::event::{Blob, Event, Status};
use engine::fields::FieldRef;
use engine::{Engine, Options, Paths, Scope, TenantStatus};
use types::{ManualClock, TenantId, Timestamp};

fn paths(root: &std::path::Path) -> Paths {
    Paths {
        data: root.join("data"),
        mirror: root.join("mirror"),
        key_file: root.join("k").join("master.key"),
    }
}

fn options(create: bool) -> Options {
    Options {
        segment_bytes: 64 * 1024,
        clock: Arc::new(ManualClock::new(Timestamp(1_700_000_000_000))),
        create,
        ..Options::default()
    }
}

fn create_tenant(engine: &Engine, name: &str) -> TenantId {
    let id = TenantId::random();
    engine.create_scope(Scope::Tenant(id)).expect("scope");
    let row = id.to_string();
    let field = FieldRef {
        scope: Scope::Tenant(id),
        table: "tenants",
        row: &row,
        field: "name",
    };
    let sealed = engine.seal_field(field, name.as_bytes()).expect("seal");
    engine
        .commit_blocking(
            Scope::Tenant(id),
            &Event::TenantCreated {
                tenant: id,
                name: Blob(sealed),
            },
        )
        .expect("commit");
    id
}

#[test]
fn commits_are_applied_replayed_and_rebuilt_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = paths(dir.path());
    let opened = Engine::open(&p, options(true)).expect("init");
    assert!(
        opened.bootstrap_token.is_some(),
        "first open issues the bootstrap token"
    );
    let engine = opened.engine;
    let ids: Vec<TenantId> = (0..50)
        .map(|i| create_tenant(&engine, &format!("tenant {i}")))
        .collect();
    engine
        .commit_blocking(
            Scope::Tenant(ids[0]),
            &Event::TenantStatusChanged {
                tenant: ids[0],
                status: Status::Suspended,
            },
        )
        .expect("suspend");
    assert_eq!(
        engine
            .state()
            .find_tenant(ids[0])
            .expect("find")
            .expect("row")
            .status,
        TenantStatus::Suspended
    );
    let live = engine.state().digest().expect("digest");
    let head = engine.journal().head();
    engine.shutdown();
    drop(engine);

    // Reopen: no second bootstrap token, same state.
    let opened = Engine::open(&p, options(false)).expect("reopen");
    assert!(opened.bootstrap_token.is_none());
    assert_eq!(opened.engine.journal().head(), head);
    assert_eq!(opened.engine.state().digest().expect("digest"), live);
    opened.engine.shutdown();
    drop(opened);

    // Lose the state entirely: it is replayed from the journal to the same digest.
    state_sqlite::remove(&p.state()).expect("remove state");
    let opened = Engine::open(&p, options(false)).expect("reopen");
    assert!(
        opened.report.iter().any(|l| l.contains("replayed")),
        "{:?}",
        opened.report
    );
    assert_eq!(opened.engine.state().digest().expect("digest"), live);
    opened.engine.shutdown();
    drop(opened);

    let report = engine::rebuild_state(&p, options(false)).expect("rebuild");
    assert!(report.identical(), "{report:?}");
    assert_eq!(report.rebuilt, live);
}

#[test]
fn sealed_fields_are_bound_to_their_tenant_and_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(&paths(dir.path()), options(true))
        .expect("init")
        .engine;
    let a = create_tenant(&engine, "Alpha");
    let b = create_tenant(&engine, "Beta");
    let row_a = engine.state().find_tenant(a).expect("find").expect("row");
    let (ra, rb) = (a.to_string(), b.to_string());
    let at = |scope, row| FieldRef {
        scope,
        table: "tenants",
        row,
        field: "name",
    };
    let name = engine
        .open_field(at(Scope::Tenant(a), &ra), &row_a.name_sealed)
        .expect("open");
    assert_eq!(name.as_slice(), b"Alpha");
    // The same ciphertext presented as tenant b's, or as another field, does not open.
    assert!(
        engine
            .open_field(at(Scope::Tenant(b), &rb), &row_a.name_sealed)
            .is_err()
    );
    assert!(
        engine
            .open_field(at(Scope::Tenant(a), &rb), &row_a.name_sealed)
            .is_err()
    );
    let other_field = FieldRef {
        field: "email",
        ..at(Scope::Tenant(a), &ra)
    };
    assert!(engine.open_field(other_field, &row_a.name_sealed).is_err());

    // After rotation new seals use version 2 and old ones still open.
    let v = engine
        .rotate_key_blocking(Scope::Tenant(a))
        .expect("rotate");
    assert_eq!(v, 2);
    let fresh = engine
        .seal_field(at(Scope::Tenant(a), &ra), b"Alpha 2")
        .expect("seal");
    assert_eq!(&fresh[..4], &2u32.to_be_bytes());
    assert_eq!(&row_a.name_sealed[..4], &1u32.to_be_bytes());
    assert!(
        engine
            .open_field(at(Scope::Tenant(a), &ra), &row_a.name_sealed)
            .is_ok()
    );
}

#[test]
fn no_plaintext_reaches_any_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(&paths(dir.path()), options(true))
        .expect("init")
        .engine;
    let canary = "engine-canary-6f1d2c";
    for i in 0..20 {
        create_tenant(&engine, &format!("{canary} {i}"));
    }
    engine.shutdown();
    drop(engine);
    let mut stack = vec![dir.path().to_owned()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                let bytes = std::fs::read(&path).expect("read");
                assert!(
                    !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                    "canary in {}",
                    path.display()
                );
            }
        }
    }
    assert!(
        files >= 6,
        "expected journal, keyring and state files, saw {files}"
    );
}

#[test]
fn a_second_engine_on_the_same_locations_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = paths(dir.path());
    let _first = Engine::open(&p, options(true)).expect("init");
    let second = Engine::open(&p, options(true));
    assert!(
        matches!(second, Err(engine::Error::Locked { .. })),
        "{:?}",
        second.err()
    );
}

#[test]
fn admin_commands_refuse_empty_locations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Engine::open(&paths(dir.path()), options(false))
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("strongroom serve"), "{err}");
}

/// Every event (action, tenant) of the audit log, oldest first.
fn trail(engine: &Engine) -> Vec<(String, Option<String>, bool)> {
    engine
        .audit_after(0, 10_000)
        .expect("audit")
        .into_iter()
        .map(|r| {
            (
                r.event.action,
                r.event.actor.tenant.or(r
                    .event
                    .resource
                    .and_then(|res| res.id)
                    .filter(|id| id.starts_with("tn_"))),
                r.event.details.get("recovered") == Some(&serde_json::Value::Bool(true)),
            )
        })
        .collect()
}

#[test]
fn audit_events_travel_in_their_entry_and_are_written_again_when_the_log_lost_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = paths(dir.path());
    let engine = Engine::open(&p, options(true)).expect("init").engine;
    let a = create_tenant(&engine, "Alpha");
    engine
        .commit_blocking(
            Scope::Tenant(a),
            &Event::TenantStatusChanged {
                tenant: a,
                status: Status::Suspended,
            },
        )
        .expect("suspend");
    let before = trail(&engine);
    let actions: Vec<&str> = before.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["token.created", "tenant.created", "tenant.suspended"],
        "the bootstrap token, then the tenant's two acts"
    );
    assert!(before.iter().all(|(_, _, recovered)| !recovered));
    engine.shutdown();
    drop(engine);

    // The audit log and its index are lost (both locations); the journal entries still carry
    // their events, which are written again at start and say so.
    for dir in p.audit_dirs() {
        std::fs::remove_dir_all(dir).expect("remove audit dir");
    }
    std::fs::remove_file(p.audit_index()).expect("remove index");
    let (engine, report) = {
        let opened = Engine::open(&p, options(false)).expect("reopen");
        (opened.engine, opened.report)
    };
    assert!(
        report.iter().any(|l| l.contains("wrote 3 audit event(s)")),
        "{report:?}"
    );
    let after = trail(&engine);
    assert_eq!(
        after.iter().map(|(a, t, _)| (a, t)).collect::<Vec<_>>(),
        before.iter().map(|(a, t, _)| (a, t)).collect::<Vec<_>>()
    );
    assert!(after.iter().all(|(_, _, recovered)| *recovered));
    engine.shutdown();
    drop(engine);

    // Written once: a second start finds nothing missing.
    let opened = Engine::open(&p, options(false)).expect("reopen");
    assert!(
        !opened.report.iter().any(|l| l.contains("audit event(s)")),
        "{:?}",
        opened.report
    );
    assert_eq!(trail(&opened.engine).len(), 3);
}

#[test]
fn the_gauges_read_the_journal_size_and_the_space_of_both_locations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = paths(dir.path());
    let engine = Engine::open(&p, options(true)).expect("init").engine;
    let before = engine.journal_bytes().expect("size");
    create_tenant(&engine, "Gauged");
    let after = engine.journal_bytes().expect("size");
    assert!(
        after > before,
        "a commit grows the journal: {before} → {after}"
    );
    let spaces = engine.disk_space();
    assert_eq!(spaces.each_ref().map(|(name, _)| *name), ["data", "mirror"]);
    for (name, space) in spaces {
        let space = space.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            space.total_bytes > 0 && space.free_bytes <= space.total_bytes,
            "{name}: {space:?}"
        );
    }
    std::fs::remove_dir_all(&p.mirror).expect("remove the mirror");
    let err = engine.disk_space()[1]
        .1
        .as_ref()
        .err()
        .map(ToString::to_string);
    assert!(
        err.as_deref().is_some_and(|e| e.contains("mirror")),
        "a missing location is an error naming it: {err:?}"
    );
}

#[test]
fn retention_removes_old_audit_segments_records_it_and_nothing_comes_back() {
    const DAY: i64 = 24 * 3600 * 1000;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = paths(dir.path());
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let options = |create| Options {
        clock: Arc::new(clock.clone()),
        ..options(create)
    };
    let engine = Engine::open(&p, options(true)).expect("init").engine;
    // Enough old events to fill several 64 KiB segments, then some 500 days later.
    let old: Vec<TenantId> = (0..200)
        .map(|i| create_tenant(&engine, &format!("Old {i}")))
        .collect();
    clock.advance_millis(500 * DAY);
    let recent = create_tenant(&engine, "Recent");
    let horizon = engine.now().millis() - 400 * DAY;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt
        .block_on(engine.audit_retention(horizon))
        .expect("retention");
    assert!(report.segments_removed > 0, "{report:?}");
    let kept = trail(&engine);
    let old_names: Vec<String> = old.iter().map(ToString::to_string).collect();
    let old_kept = kept
        .iter()
        .filter(|(_, t, _)| t.as_ref().is_some_and(|t| old_names.contains(t)))
        .count();
    assert!(
        old_kept < old.len(),
        "old events were removed ({old_kept} kept)"
    );
    assert!(
        kept.iter()
            .any(|(a, t, _)| a == "tenant.created" && t.as_deref() == Some(&*recent.to_string())),
        "the recent event stays"
    );
    assert!(
        kept.iter().any(|(a, _, _)| a == "audit.retention"),
        "the removal is an event"
    );
    // The index forgot the removed positions: the reading route finds only what is kept.
    let page = engine
        .audit_page(&engine::AuditQuery {
            scope: engine::AuditScope::All,
            from: None,
            to: None,
            actor: None,
            action: Some("tenant.created"),
            outcome: None,
            before: None,
            limit: 500,
        })
        .expect("page");
    assert_eq!(page.len(), old_kept + 1);
    let public = engine.audit_public_key();
    engine.shutdown();
    drop(engine);
    // The files verify with the public key alone, and a restart writes nothing back.
    let verified = audit::verify_dir(&p.audit_dirs()[0], &public).expect("verifies");
    assert!(verified.events > 0);
    let opened = Engine::open(&p, options(false)).expect("reopen");
    assert!(
        !opened.report.iter().any(|l| l.contains("audit event(s)")),
        "removed events are not recovered: {:?}",
        opened.report
    );
    assert_eq!(trail(&opened.engine).len(), kept.len());
}
