//! Group commit under concurrency, async appends, and the commit hook contract.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};

use common::{Mirrors, append_range, assert_entries, payload, read_all};
use journal::{Entry, Error, Health, Journal};

#[test]
fn many_blocking_writers_share_fsyncs() {
    let m = Mirrors::new();
    let (j, _) = m.open(256 * 1024);
    let threads = 64;
    let per_thread = 50;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let j = j.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..per_thread)
                    .map(|i| {
                        j.append_blocking(format!("t{t}-i{i}").into_bytes())
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for h in handles {
        let positions = h.join().unwrap();
        // One thread's appends are acknowledged in its own order.
        assert!(positions.windows(2).all(|w| w[0].seq < w[1].seq));
        seqs.extend(positions.iter().map(|p| p.seq));
    }
    let total = (threads * per_thread) as u64;
    let unique: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(unique.len() as u64, total, "positions must be unique");
    assert_eq!(
        unique,
        (1..=total).collect::<HashSet<u64>>(),
        "seqs must be contiguous"
    );
    let stats = j.stats();
    assert_eq!(stats.appends, total);
    assert!(
        stats.batches < stats.appends,
        "group commit did not batch: {} batches for {} appends",
        stats.batches,
        stats.appends
    );
    assert!(stats.mirror_a.fsyncs >= stats.batches && stats.mirror_b.fsyncs >= stats.batches);
    let sizes = &stats.batch_sizes;
    assert_eq!((sizes.count, sizes.sum), (stats.batches, stats.appends));
    assert_eq!(sizes.buckets.iter().sum::<u64>(), stats.batches);
    assert!(
        sizes.buckets[0] < stats.batches,
        "some batch held more than one entry: {sizes:?}"
    );
    let latency = &stats.mirror_a.fsync_latency;
    assert_eq!(
        (latency.count, latency.sum),
        (stats.mirror_a.fsyncs, stats.mirror_a.fsync_micros)
    );
    let on_disk: u64 = std::fs::read_dir(&m.a)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(j.size_bytes().unwrap(), on_disk);
    assert!(
        on_disk > stats.bytes_written,
        "segment headers come on top of the frames"
    );
    let entries = read_all(&j, 1);
    assert_eq!(entries.len() as u64, total);
    let payloads: HashSet<Vec<u8>> = entries.into_iter().map(|e| e.payload).collect();
    assert_eq!(payloads.len() as u64, total);
    j.shutdown();
    assert!(journal::verify(&m.a, &m.b).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_appends_under_tokio() {
    let m = Mirrors::new();
    let (j, _) = m.open(64 * 1024);
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let j = j.clone();
            tokio::spawn(async move { j.append(format!("async-{i}").into_bytes()).await })
        })
        .collect();
    let mut seqs = HashSet::new();
    for t in tasks {
        seqs.insert(t.await.unwrap().unwrap().seq);
    }
    assert_eq!(seqs, (1..=200).collect::<HashSet<u64>>());
    assert_eq!(j.head().seq, 200);
    let stats = j.stats();
    assert!(stats.batches < stats.appends, "{stats:?}");
    let j2 = j.clone();
    tokio::task::spawn_blocking(move || j2.shutdown())
        .await
        .unwrap();
    assert!(matches!(
        j.append(b"late".to_vec()).await,
        Err(Error::Closed)
    ));
}

#[test]
fn hook_sees_every_entry_once_in_order() {
    let m = Mirrors::new();
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let hook = Box::new(move |entries: &[Entry]| {
        sink.lock().unwrap().extend(entries.iter().map(|e| e.seq));
        Ok(())
    });
    let (j, _) = Journal::open(m.config(4096), hook).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let j = j.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let pos = j.append_blocking(b"x".to_vec()).unwrap();
                    assert!(pos.seq >= 1);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    j.shutdown();
    let seen = seen.lock().unwrap();
    assert_eq!(*seen, (1..=200).collect::<Vec<u64>>());
}

#[test]
fn hook_error_fails_the_batch_and_degrades() {
    let m = Mirrors::new();
    let hook = Box::new(|entries: &[Entry]| {
        if entries.iter().any(|e| e.payload == b"poison") {
            Err("state store rejected the batch".to_owned())
        } else {
            Ok(())
        }
    });
    let (j, _) = Journal::open(m.config(1 << 20), hook).unwrap();
    append_range(&j, 1, 3);
    let err = j.append_blocking(b"poison".to_vec()).unwrap_err();
    match &err {
        Error::Hook(msg) => assert!(msg.contains("state store rejected"), "{err}"),
        other => panic!("expected Error::Hook, got {other}"),
    }
    assert!(matches!(j.health(), Health::Degraded { .. }));
    let err = j.append_blocking(payload(5)).unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    // The failed batch is durable: head includes it and reads return it.
    assert_eq!(j.head().seq, 4);
    assert_eq!(read_all(&j, 4)[0].payload, b"poison");
}

#[test]
fn hook_panic_is_caught_and_appenders_get_an_error() {
    let m = Mirrors::new();
    let hook = Box::new(|_: &[Entry]| -> Result<(), String> { panic!("hook bug") });
    let (j, _) = Journal::open(m.config(1 << 20), hook).unwrap();
    let err = j.append_blocking(payload(1)).unwrap_err();
    assert!(
        matches!(&err, Error::Hook(msg) if msg.contains("hook bug")),
        "{err}"
    );
    let err = j.append_blocking(payload(2)).unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_entries(&read_all(&j, 1), 1);
}

#[test]
fn appending_from_the_hook_is_refused_not_deadlocked() {
    let m = Mirrors::new();
    let slot: Arc<Mutex<Option<Journal>>> = Arc::default();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let (hook_slot, hook_errors) = (Arc::clone(&slot), Arc::clone(&errors));
    let hook = Box::new(move |_: &[Entry]| {
        if let Some(j) = hook_slot.lock().unwrap().as_ref() {
            match j.append_blocking(b"from the hook".to_vec()) {
                Err(Error::Reentrant) => hook_errors.lock().unwrap().push("reentrant".into()),
                other => hook_errors.lock().unwrap().push(format!("{other:?}")),
            }
        }
        Ok(())
    });
    let (j, _) = Journal::open(m.config(1 << 20), hook).unwrap();
    *slot.lock().unwrap() = Some(j.clone());
    append_range(&j, 1, 1);
    j.shutdown();
    slot.lock().unwrap().take();
    assert_eq!(*errors.lock().unwrap(), vec!["reentrant".to_owned()]);
    assert_eq!(j.head().seq, 1);
}
