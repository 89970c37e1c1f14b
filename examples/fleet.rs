//! N replica processes share one quota through Redis, then Redis goes away
//! for a while and comes back.
//!
//! ```text
//! cargo run --example fleet --features redis              # 3 replicas, 10 s
//! cargo run --example fleet --features redis -- --short  # 6 s
//! cargo run --example fleet --features redis -- --replicas 5
//! ```
//!
//! It starts a `redis-server` of its own on a free loopback port (no
//! persistence; the shared one at 6379 is left alone), then N copies of
//! itself, each calling a `FleetRateLimiter` of 100 calls/s for the whole
//! fleet as fast as it may (one attempt a millisecond). Every second it
//! prints what each replica admitted and the total against the limit.
//! Part-way through it kills Redis: the replicas fall back to their local
//! share (`on_store_error = local`: 100 / N each), and once Redis is back
//! they resume the shared count.

#[path = "../resilience-runtime/src/redis/test_server.rs"]
mod server;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resilience::redis::{FleetRateLimiter, OnStoreError, RedisStore};

const RATE: u32 = 100;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One replica: reports `second admitted on_fallback` every second.
fn replica(url: &str, replicas: u32, start_ms: u64, seconds: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = RedisStore::open(url).expect("a Redis URL");
        let limiter = FleetRateLimiter::new(&store, "downstream-api", RATE, Duration::from_secs(1))
            .burst(RATE / 5)
            .replicas(replicas)
            .on_store_error(OnStoreError::Local);
        for second in 0..seconds {
            let end_ms = start_ms + (second + 1) * 1_000;
            tokio::time::sleep(Duration::from_millis(
                (start_ms + second * 1_000).saturating_sub(unix_ms()),
            ))
            .await;
            let (mut admitted, mut fallback) = (0u32, false);
            while unix_ms() < end_ms {
                if limiter.acquire().await.is_ok() {
                    admitted += 1;
                }
                fallback |= limiter.snapshot().on_fallback;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            println!("{second} {admitted} {}", u8::from(fallback));
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--replica") {
        let n = |i: usize| args[i].parse().expect("a number");
        return replica(&args[2], n(3) as u32, n(4), n(5));
    }
    let short = args.iter().any(|a| a == "--short");
    let replicas: u32 = args
        .iter()
        .position(|a| a == "--replicas")
        .map(|i| args[i + 1].parse().expect("--replicas N"))
        .unwrap_or(3);
    let (seconds, down_at, up_at) = if short { (6, 2, 4) } else { (10, 4, 7) };

    let Some(mut redis) = server::RedisServer::start() else {
        eprintln!("this example needs redis-server (apt-get install -y redis-server)");
        std::process::exit(1);
    };
    println!(
        "{replicas} replicas share {RATE} calls/s through redis-server on port {}; Redis is killed at {down_at}s and restarted at {up_at}s",
        redis.port()
    );
    let start_ms = unix_ms() + 800;
    let (tx, rx) = mpsc::channel::<(usize, u64, u32, bool)>();
    let mut children = Vec::new();
    for i in 0..replicas as usize {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--replica", &redis.url()])
            .args([
                replicas.to_string(),
                start_ms.to_string(),
                seconds.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("a replica process starts");
        let stdout = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let f: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
                if let [second, admitted, fallback] = f[..] {
                    let _ = tx.send((i, second, admitted as u32, fallback == 1));
                }
            }
        });
        children.push(child);
    }
    drop(tx);

    let header: String = (0..replicas).map(|i| format!("  r{i:<4}")).collect();
    println!("\n second{header}   total / limit   redis");
    let mut rows = vec![(vec![0u32; replicas as usize], 0u32, false); seconds as usize];
    let mut printed = 0;
    while let Ok((i, second, admitted, fallback)) = rx.recv() {
        let row = &mut rows[second as usize];
        row.0[i] = admitted;
        row.1 += 1;
        row.2 |= fallback;
        if second == down_at - 1 && row.1 == replicas {
            // The row before the outage is in: kill Redis as the next second starts.
            let wait = (start_ms + down_at * 1_000).saturating_sub(unix_ms());
            std::thread::sleep(Duration::from_millis(wait));
            redis.stop();
        }
        if second == up_at - 1 && row.1 == replicas {
            let wait = (start_ms + up_at * 1_000).saturating_sub(unix_ms());
            std::thread::sleep(Duration::from_millis(wait));
            redis.restart();
        }
        while printed < rows.len() && rows[printed].1 == replicas {
            let (counts, _, fallback) = &rows[printed];
            let cells: String = counts.iter().map(|c| format!("  {c:<5}")).collect();
            let total: u32 = counts.iter().sum();
            let up = (printed as u64) < down_at || (printed as u64) >= up_at;
            let state = match (up, fallback) {
                (true, false) => "up: shared count",
                (true, true) => "up: resuming",
                (false, _) => "DOWN: local share each",
            };
            println!(" {printed:>4}s{cells}   {total:>5} / {RATE:<5}   {state}");
            printed += 1;
        }
    }
    for mut child in children {
        let _ = child.wait();
    }
    println!(
        "\nWhile Redis is up the fleet admits about {RATE}/s in total (the first second adds the burst of {}); \
         while it is down each replica admits its share, {}/s, so the fleet stays near its limit; \
         after the restart the shared count resumes on its own.",
        RATE / 5,
        RATE / replicas
    );
}
