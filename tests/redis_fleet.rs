//! Four OS processes share one fleet limit of 200 calls/s for 5 s, against
//! a `redis-server` of the test's own: the total admitted stays within
//! the bound `FleetRateLimiter` documents (`burst + (t + lease_ttl) ×
//! rate`), and no replica starves (each gets at least a quarter of its
//! fair share).
//!
//! The test binary is its own replica: run with `--replica <url>
//! <start_unix_ms>` it calls the limiter as fast as it may (one attempt a
//! millisecond) for 5 s from `start_unix_ms` and prints what it admitted.
//! A custom harness (`harness = false`) so that it can. This is the one
//! test on real time (Redis's clock is real); it takes about 5.5 s.
//! Without `redis-server` it fails when `CI` is set (see `test_server.rs`).

#[path = "../resilience-runtime/src/redis/test_server.rs"]
mod test_server;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resilience::redis::{FleetRateLimiter, LEASE_TTL, OnStoreError, RedisStore};
use test_server::RedisServer;

const REPLICAS: usize = 4;
const RATE: u32 = 200;
const RUN: Duration = Duration::from_secs(5);

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn replica(url: &str, start_unix_ms: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = RedisStore::open(url).unwrap();
        let limiter = FleetRateLimiter::new(&store, "fleet-test", RATE, Duration::from_secs(1))
            .replicas(REPLICAS as u32)
            .on_store_error(OnStoreError::Local);
        tokio::time::sleep(Duration::from_millis(
            start_unix_ms.saturating_sub(unix_ms()),
        ))
        .await;
        let end = tokio::time::Instant::now() + RUN;
        let mut admitted = 0u64;
        while tokio::time::Instant::now() < end {
            if limiter.acquire().await.is_ok() {
                admitted += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let s = limiter.snapshot();
        println!(
            "admitted={admitted} round_trips={} store_errors={}",
            s.round_trips, s.store_errors
        );
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--replica") {
        return replica(&args[2], args[3].parse().unwrap());
    }
    print!("test four_processes_share_one_limit ... ");
    let Some(server) = RedisServer::start() else {
        println!("not run (no redis-server)");
        return;
    };
    let start = unix_ms() + 700;
    let children: Vec<_> = (0..REPLICAS)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--replica", &server.url(), &start.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("a replica process starts")
        })
        .collect();
    let mut admitted = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a replica failed: {out:?}");
        let line = String::from_utf8(out.stdout).unwrap();
        eprintln!("replica: {}", line.trim());
        let count: u64 = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("admitted="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a replica's report: {line:?}"));
        admitted.push(count);
    }
    let total: u64 = admitted.iter().sum();
    // The documented bound over the run: burst (= rate) + (t + lease_ttl) × rate / per.
    let bound = u64::from(RATE) + ((RUN + LEASE_TTL).as_secs_f64() * f64::from(RATE)) as u64;
    assert!(
        total <= bound,
        "{total} admitted, the bound is {bound}: {admitted:?}"
    );
    // The fleet used its quota (a replica process starting late costs a little).
    let expected = u64::from(RATE) * RUN.as_secs();
    assert!(
        total >= expected * 3 / 4,
        "{total} admitted of {expected} possible: {admitted:?}"
    );
    let fair = total / REPLICAS as u64;
    for (i, &n) in admitted.iter().enumerate() {
        assert!(
            n >= fair / 4,
            "replica {i} starved: {n} of a fair share of {fair}: {admitted:?}"
        );
    }
    println!("ok ({total} admitted, bound {bound}: {admitted:?})");
}
