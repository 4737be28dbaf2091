//! Group-commit benchmark: raw mirrored write+fdatasync rate versus journal appends/s with 1, 8
//! and 64 concurrent writers, all on the same disk in one run.
//!
//! Run: `cargo run --release -p journal --example journal_bench -- --dir /path/on/disk
//! [--seconds 5] [--rounds 3]`. Disk latency drifts between cases, so the whole sequence runs
//! `--rounds` times and the verdict uses the median ratios. It creates and removes a scratch directory under `--dir` and must never touch
//! anything else.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use journal::{Entry, Journal, JournalConfig};

const RECORD: usize = 300;

struct Args {
    dir: PathBuf,
    seconds: u64,
    rounds: usize,
    /// Only these journal cases (for profiling one of them); the table needs all.
    writers: Vec<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut seconds = 5;
    let mut writers = vec![1, 8, 64];
    let mut rounds = 3;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => dir = it.next().map(PathBuf::from),
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a number")?
            }
            "--rounds" => {
                rounds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|r| *r > 0)
                    .ok_or("--rounds needs a positive number")?
            }
            "--writers" => {
                writers = it
                    .next()
                    .map(|s| s.split(',').filter_map(|w| w.parse().ok()).collect())
                    .ok_or("--writers needs a list like 1,8,64")?
            }
            "--help" | "-h" => {
                return Err(
                    "usage: journal_bench --dir PATH [--seconds N] [--rounds R] [--writers 1,8,64]"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other}; try --help")),
        }
    }
    let dir = dir.ok_or("--dir PATH is required (a directory on the disk to measure)")?;
    Ok(Args {
        dir,
        seconds,
        rounds,
        writers,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let scratch = args
        .dir
        .join(format!("journal-bench-{}", std::process::id()));
    let result = run(&scratch, &args);
    let _ = std::fs::remove_dir_all(&scratch);
    if let Err(e) = result {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

struct Row {
    name: String,
    rate: f64,
    mean_batch: f64,
}

/// One round: raw, then the journal with 1, 8 and 64 writers, back to back on the same disk.
fn round(scratch: &Path, duration: Duration) -> Result<Vec<Row>, String> {
    let mut rows = vec![Row {
        name: "raw: write+fdatasync A and B in parallel, 1 thread".to_owned(),
        rate: raw_rate(scratch, duration)?,
        mean_batch: 1.0,
    }];
    for writers in [1usize, 8, 64] {
        let (rate, mean_batch) = journal_rate(scratch, writers, duration)?;
        rows.push(Row {
            name: format!("journal: {writers} writer thread(s)"),
            rate,
            mean_batch,
        });
    }
    Ok(rows)
}

fn run(scratch: &Path, args: &Args) -> Result<(), String> {
    let duration = Duration::from_secs(args.seconds);
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    println!(
        "scratch dir: {} ({} s per case, {} rounds)",
        scratch.display(),
        args.seconds,
        args.rounds
    );
    if args.writers != [1, 8, 64] {
        for &w in &args.writers {
            journal_rate(scratch, w, duration)?;
        }
        return Ok(());
    }
    let mut single_vs_raw = Vec::new();
    let mut many_vs_single = Vec::new();
    for r in 1..=args.rounds {
        let rows = round(scratch, duration)?;
        println!();
        println!("round {r}:");
        println!("| case | appends/s | mean batch (appends per fdatasync) |");
        println!("|---|---:|---:|");
        for row in &rows {
            println!("| {} | {:.0} | {:.1} |", row.name, row.rate, row.mean_batch);
        }
        let (raw, one, many) = (rows[0].rate, rows[1].rate, rows[3].rate);
        println!(
            "1-writer / raw = {:.2}; 64-writers / 1-writer = {:.1}x",
            one / raw,
            many / one
        );
        single_vs_raw.push(one / raw);
        many_vs_single.push(many / one);
    }
    let (a, b) = (median(&mut single_vs_raw), median(&mut many_vs_single));
    println!();
    println!("median over {} rounds:", args.rounds);
    println!(
        "1-writer / raw = {a:.2} (target >= 0.80): {}",
        verdict(a >= 0.8)
    );
    println!(
        "64-writers / 1-writer = {b:.1}x (target >= 20x): {}",
        verdict(b >= 20.0)
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "NOT MET" }
}

fn create(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// One thread: write 300 bytes to A and B and fdatasync both, B on a helper thread exactly as
/// the journal drives its mirror b.
fn raw_rate(scratch: &Path, duration: Duration) -> Result<f64, String> {
    for sub in ["raw-a", "raw-b"] {
        std::fs::create_dir_all(scratch.join(sub)).map_err(|e| e.to_string())?;
    }
    let file_a = create(&scratch.join("raw-a/data"))?;
    let file_b = create(&scratch.join("raw-b/data"))?;
    let (jobs_tx, jobs_rx) = mpsc::channel::<(Arc<Vec<u8>>, u64)>();
    let (done_tx, done_rx) = mpsc::channel::<std::io::Result<()>>();
    let helper = std::thread::spawn(move || {
        while let Ok((buf, at)) = jobs_rx.recv() {
            let r = file_b
                .write_all_at(&buf, at)
                .and_then(|()| file_b.sync_data());
            if done_tx.send(r).is_err() {
                break;
            }
        }
    });
    let record = vec![0x5a_u8; RECORD];
    let start = Instant::now();
    let mut at = 0u64;
    let mut n = 0u64;
    while start.elapsed() < duration {
        let buf = Arc::new(record.clone());
        jobs_tx
            .send((Arc::clone(&buf), at))
            .map_err(|e| e.to_string())?;
        file_a
            .write_all_at(&buf, at)
            .and_then(|()| file_a.sync_data())
            .map_err(|e| format!("raw A: {e}"))?;
        done_rx
            .recv()
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("raw B: {e}"))?;
        at += RECORD as u64;
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(jobs_tx);
    let _ = helper.join();
    println!(
        "raw: {n} mirrored records in {:?}: {rate:.0}/s",
        start.elapsed()
    );
    Ok(rate)
}

fn journal_rate(scratch: &Path, writers: usize, duration: Duration) -> Result<(f64, f64), String> {
    let base = scratch.join(format!("journal-{writers}"));
    let config = JournalConfig::new(base.join("a"), base.join("b"));
    let hook = Box::new(|_: &[Entry]| Ok(()));
    let (journal, _) = Journal::open(config, hook).map_err(|e| e.to_string())?;
    let barrier = Arc::new(Barrier::new(writers + 1));
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let j: Journal = journal.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || -> Result<u64, String> {
                let payload = vec![0xa5_u8; RECORD];
                barrier.wait();
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < duration {
                    j.append_blocking(payload.clone())
                        .map_err(|e| e.to_string())?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut total = 0u64;
    for h in handles {
        total += h
            .join()
            .map_err(|_| "writer thread panicked".to_owned())??;
    }
    let elapsed = start.elapsed();
    let stats = journal.stats();
    journal.shutdown();
    let rate = total as f64 / elapsed.as_secs_f64();
    let mean_batch = stats.appends as f64 / stats.batches.max(1) as f64;
    println!(
        "journal {writers:>2} writers: {total} appends in {elapsed:?}: {rate:.0}/s, {} batches, \
         mean batch {mean_batch:.1}, fdatasync mean a {:.0} us / b {:.0} us",
        stats.batches,
        stats.mirror_a.fsync_micros as f64 / stats.mirror_a.fsyncs.max(1) as f64,
        stats.mirror_b.fsync_micros as f64 / stats.mirror_b.fsyncs.max(1) as f64,
    );
    Ok((rate, mean_batch))
}
