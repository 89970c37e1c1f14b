//! `max_wait` of the fleet rate limiter: a call over the fleet's limit
//! waits for its cell, bounded, and holds nothing while it waits. Against
//! a `redis-server` of the test's own (see `test_server.rs`: without one
//! this fails when `CI` is set).
//!
//! Redis's clock is real and a paused tokio clock would fire the store
//! timeouts while a reply is on the wire, so these run on real time and
//! assert only what a slow machine cannot break: lower bounds on waits
//! (the server's GCRA spaces the cells), and refusals that need no wait.

#[path = "../resilience-runtime/src/redis/test_server.rs"]
mod test_server;

use std::time::{Duration, Instant};

use resilience::redis::{FleetRateLimiter, RedisStore};
use test_server::RedisServer;

fn store(server: &RedisServer, prefix: &str) -> RedisStore {
    // A generous store timeout: a slow machine's round trip is not an outage.
    RedisStore::open(&server.url())
        .unwrap()
        .store_timeout(Duration::from_secs(2))
        .key_prefix(prefix)
}

#[tokio::test]
async fn a_call_over_the_limit_waits_for_its_cell_within_max_wait() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // One cell every 50 ms for the fleet, none saved up.
    let limiter = FleetRateLimiter::new(&store(&server, "wait"), "api", 20, Duration::from_secs(1))
        .burst(1)
        .max_lease(1)
        .max_wait(Duration::from_secs(5));
    let start = Instant::now();
    for call in 0..3 {
        limiter
            .acquire()
            .await
            .unwrap_or_else(|e| panic!("call {call} waited for its cell: {e}"));
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(100),
        "three cells 50 ms apart take at least 100 ms: {elapsed:?}"
    );
    assert_eq!(limiter.snapshot().rejected, 0);
    // And through `call`, the attribute's way.
    let out: Result<u8, resilience::Rejection> = limiter.call(async { Ok(1) }).await;
    assert_eq!(out, Ok(1));
}

#[tokio::test]
async fn a_call_that_cannot_get_a_cell_within_max_wait_is_refused_without_waiting() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let limiter =
        FleetRateLimiter::new(&store(&server, "nowait"), "api", 1, Duration::from_secs(60))
            .max_wait(Duration::from_secs(1));
    limiter.acquire().await.unwrap();
    let start = Instant::now();
    let refused = limiter.acquire().await.unwrap_err();
    let elapsed = start.elapsed();
    let retry_after = refused.retry_after().unwrap();
    assert!(
        retry_after > Duration::from_secs(50),
        "the next cell is about a minute away: {retry_after:?}"
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "refused at once, not after waiting max_wait in vain: {elapsed:?}"
    );
    assert_eq!(limiter.snapshot().rejected, 1);
}

#[tokio::test]
async fn a_waiting_call_dropped_takes_nothing_from_the_fleet() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "drop");
    let make = || {
        FleetRateLimiter::new(&store, "api", 10, Duration::from_secs(1))
            .burst(1)
            .max_lease(1)
            .max_wait(Duration::from_secs(5))
    };
    let (a, b) = (make(), make());
    a.acquire().await.unwrap();
    // B waits for the next cell (100 ms away) and is dropped meanwhile.
    let dropped = tokio::time::timeout(Duration::from_millis(20), b.acquire()).await;
    assert!(dropped.is_err(), "still waiting after 20 ms");
    // The fleet's TAT is A's one cell ahead (at most 100 ms, and the key
    // expires then), not two: B's wait took no cell.
    let pttl: i64 = server.command("PTTL drop:rate_limiter:api")[1..]
        .parse()
        .unwrap();
    assert!(pttl <= 101, "PTTL {pttl} ms: a waiting call took a cell");
}
