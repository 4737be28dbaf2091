//! Export jobs (P14, P20): at most `max_concurrent` run at once and the others wait in order
//! (held by a hook, no sleeps); a job a stop interrupted fails at the next start; links are
//! single-use and short-lived; archives expire 7 days after completion; the archive file and
//! the scratch files hold no plaintext.

mod common;

use std::sync::Arc;

use export::{Error, Hook};
use tokio::sync::{mpsc, oneshot};
use types::ExportId;

/// A hook that reports each job that got a slot and holds it until released.
fn gate() -> (
    Hook,
    mpsc::UnboundedReceiver<(ExportId, oneshot::Sender<()>)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let hook: Hook = Arc::new(move |id| {
        let tx = tx.clone();
        Box::pin(async move {
            let (release, wait) = oneshot::channel();
            let _ = tx.send((id, release));
            let _ = wait.await;
        })
    });
    (hook, rx)
}

#[tokio::test]
async fn with_one_slot_a_second_job_stays_queued_until_the_first_ends() {
    let tmp = tempfile::tempdir().expect("tmp");
    let live = common::live(tmp.path()).await;
    live.fill(5, 10).await;
    let service = live.service(1);
    let (hook, mut started) = gate();
    service.set_hook(hook);
    let (a, _) = service.request(live.tenant, live.user).await.expect("a");
    // One export in progress per tenant: the second job is another tenant's.
    let again = service.request(live.tenant, live.user).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    let bravo = tenancy::Tenancy::new(live.engine.clone());
    let bravo = bravo.create("Bravo").await.expect("tenant").id;
    let (b, _) = service.request(bravo, live.user).await.expect("b");
    let (first, release_a) = started.recv().await.expect("a started");
    assert_eq!(first, a.id, "the first request runs first");
    let show = |t, id| service.show(t, id).expect("show").status;
    assert_eq!(show(live.tenant, a.id), "running");
    assert_eq!(
        show(bravo, b.id),
        "queued",
        "the second job must wait for the slot"
    );
    assert!(started.try_recv().is_err(), "a second job got a slot");
    // Both are open: their 30-day deadlines are reported from 7 days before.
    let week = 7 * 24 * 60 * 60 * 1000;
    assert!(service.deadlines_near(week).expect("near").is_empty());
    live.clock.advance_millis(23 * 24 * 60 * 60 * 1000);
    let near: Vec<_> = service
        .deadlines_near(week)
        .expect("near")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(near.len(), 2, "{near:?}");
    release_a.send(()).expect("release a");
    let done = service.finished(live.tenant, a.id).await.expect("a ends");
    assert_eq!(done.status, "completed");
    let (second, release_b) = started.recv().await.expect("b started");
    assert_eq!(second, b.id);
    assert_eq!(show(bravo, b.id), "running");
    release_b.send(()).expect("release b");
    let done = service.finished(bravo, b.id).await.expect("b ends");
    assert_eq!(done.status, "completed");
    assert_eq!(service.list(live.tenant).expect("list").len(), 1);
    assert_eq!(service.list(bravo).expect("list").len(), 1);
    assert!(
        service.deadlines_near(week).expect("near").is_empty(),
        "completed exports have no deadline left"
    );
}

#[tokio::test]
async fn an_interrupted_job_fails_at_the_next_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    let live = common::live(tmp.path()).await;
    live.fill(3, 10).await;
    let service = live.service(1);
    let (hook, mut started) = gate();
    service.set_hook(hook);
    let (a, _) = service.request(live.tenant, live.user).await.expect("a");
    let bravo = tenancy::Tenancy::new(live.engine.clone());
    let bravo = bravo.create("Bravo").await.expect("tenant").id;
    let (b, _) = service.request(bravo, live.user).await.expect("b");
    let (_, _held) = started.recv().await.expect("a started");
    // A new process over the same state finds a running and a queued job.
    let next = live.service(1);
    assert_eq!(next.recover().await.expect("recover"), 2);
    for (t, id) in [(live.tenant, a.id), (bravo, b.id)] {
        let v = next.show(t, id).expect("show");
        assert_eq!(v.status, "failed");
        assert_eq!(
            v.error.as_deref(),
            Some("interrupted; request a new export")
        );
    }
    assert_eq!(next.recover().await.expect("again"), 0);
}

#[tokio::test]
async fn links_are_single_use_short_lived_and_archives_expire() {
    let tmp = tempfile::tempdir().expect("tmp");
    let live = common::live(tmp.path()).await;
    live.fill(3, 10).await;
    let service = live.service(2);
    let (view, _) = service
        .request(live.tenant, live.user)
        .await
        .expect("request");
    let other = types::TenantId::random();
    assert!(matches!(service.show(other, view.id), Err(Error::NotFound)));
    assert!(matches!(service.link(other, view.id), Err(Error::NotFound)));
    service.finished(live.tenant, view.id).await.expect("done");

    let link = service.link(live.tenant, view.id).expect("link");
    let got = service.take(link.token.expose()).await.expect("first use");
    assert_eq!(
        got.size,
        std::fs::metadata(live.archive(view.id))
            .expect("file")
            .len()
    );
    let again = service.take(link.token.expose()).await;
    assert!(matches!(again, Err(Error::LinkUnknown)), "{again:?}");
    assert!(matches!(
        service.take("srx_nonsense").await,
        Err(Error::LinkUnknown)
    ));

    let late = service.link(live.tenant, view.id).expect("link");
    live.clock.advance_millis(15 * 60 * 1000 + 1);
    assert!(matches!(
        service.take(late.token.expose()).await,
        Err(Error::LinkExpired)
    ));
    assert!(matches!(
        service.take(late.token.expose()).await,
        Err(Error::LinkUnknown)
    ));
    assert_eq!(
        service.show(live.tenant, view.id).expect("show").downloads,
        1
    );

    // Seven days after completion the archive goes, and no link can be made for it.
    let pending = service.link(live.tenant, view.id).expect("link");
    assert_eq!(service.sweep().await.expect("sweep"), 0);
    live.clock.advance_millis(7 * 24 * 60 * 60 * 1000);
    assert_eq!(service.sweep().await.expect("sweep"), 1);
    assert!(!live.archive(view.id).exists());
    assert_eq!(
        service.show(live.tenant, view.id).expect("show").status,
        "expired"
    );
    assert!(matches!(
        service.link(live.tenant, view.id),
        Err(Error::Conflict(_))
    ));
    assert!(service.take(pending.token.expose()).await.is_err());
    assert_eq!(service.sweep().await.expect("sweep"), 0);
}
