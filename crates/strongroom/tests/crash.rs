//! Crash safety (P10): a real `strongroom serve` takes acknowledged writes from many concurrent
//! clients and is killed with SIGKILL at a random moment, again and again. After every restart
//! every acknowledged write must be there; at the end both mirrors must verify as identical.
//!
//! `CRASH_CYCLES` sets the number of cycles (default 50); `CRASH_SEED` replays a run.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{Client, Layout, Rng};

const WRITERS: usize = 8;
const CYCLE_DEADLINE: Duration = Duration::from_secs(120);

/// Every tenant id the server lists.
fn listed_ids(client: &Client) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut after = String::new();
    for _ in 0..10_000 {
        let path = if after.is_empty() {
            "/api/v1/admin/tenants?limit=500".to_owned()
        } else {
            format!("/api/v1/admin/tenants?limit=500&after={after}")
        };
        let page = client.request("GET", &path, None);
        assert_eq!(page.status, 200, "list failed: {}", page.text());
        let page = page.json();
        for item in page["items"].as_array().expect("items") {
            ids.insert(item["id"].as_str().expect("id").to_owned());
        }
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return ids,
        }
    }
    panic!("pagination did not end");
}

struct Shared {
    acked: Mutex<Vec<String>>,
    progress: Condvar,
    stop: AtomicBool,
}

fn writer(client: Client, shared: Arc<Shared>, cycle: usize, writer: usize) {
    for i in 0.. {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let body = format!(r#"{{"name":"cycle {cycle} writer {writer} write {i}"}}"#);
        match client.try_request("POST", "/api/v1/admin/tenants", Some(&body)) {
            Ok(r) if r.status == 201 => {
                let id = r.json()["id"].as_str().expect("id").to_owned();
                shared.acked.lock().expect("lock").push(id);
                shared.progress.notify_all();
            }
            Ok(r) => panic!("unexpected answer {}: {}", r.status, r.text()),
            // The server was killed: requests in flight are not acknowledged.
            Err(_) => return,
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let cycles: usize = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let seed = common::seed("CRASH_SEED");
    let mut rng = Rng::new(seed);
    let layout = Layout::new();
    let mut server = layout.serve();
    let token = server
        .token
        .clone()
        .expect("bootstrap token on first start");
    let mut acked_total: BTreeSet<String> = BTreeSet::new();
    for cycle in 0..cycles {
        let mut client = Client::new(&layout, &server);
        client.token = Some(token.clone());
        let listed = listed_ids(&client);
        let missing: Vec<_> = acked_total.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "cycle {cycle}: {} acknowledged writes lost after SIGKILL, e.g. {:?} (seed {seed})",
            missing.len(),
            missing.iter().take(5).collect::<Vec<_>>()
        );
        let target = 5 + rng.below(60) as usize;
        let shared = Arc::new(Shared {
            acked: Mutex::new(Vec::new()),
            progress: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (client, shared) = (client.clone(), Arc::clone(&shared));
                std::thread::spawn(move || writer(client, shared, cycle, w))
            })
            .collect();
        let deadline = Instant::now() + CYCLE_DEADLINE;
        {
            let mut acked = shared.acked.lock().expect("lock");
            while acked.len() < target {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(
                    !left.is_zero(),
                    "cycle {cycle}: {target} writes not acknowledged in time"
                );
                acked = shared.progress.wait_timeout(acked, left).expect("wait").0;
            }
        }
        // Kill while the writers still have requests in flight.
        server.kill();
        shared.stop.store(true, Ordering::SeqCst);
        for h in handles {
            h.join().expect("writer thread panicked");
        }
        acked_total.extend(shared.acked.lock().expect("lock").drain(..));
        server = layout.serve();
    }
    let mut client = Client::new(&layout, &server);
    client.token = Some(token);
    let listed = listed_ids(&client);
    assert!(
        acked_total.is_subset(&listed),
        "acknowledged writes lost at the end (seed {seed})"
    );
    println!(
        "{cycles} SIGKILL cycles, {} acknowledged writes, all present",
        acked_total.len()
    );
    assert_eq!(server.stop(), 0, "clean shutdown");
    let (code, out, err) = layout.run(&["verify"]);
    assert_eq!(
        code, 0,
        "verify failed after the crash cycles (seed {seed}):\n{out}\n{err}"
    );
}
