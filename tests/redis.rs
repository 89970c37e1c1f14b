//! The fleet's state in a real `redis-server`, started by each test on a
//! free loopback port (see `test_server.rs`: without `redis-server` these
//! tests fail when `CI` is set, and say so and return on a laptop).
//!
//! Redis's clock is real and a paused tokio clock would fire the store
//! timeouts while a reply is on the wire, so these run on tokio's real
//! clock; the waits they need are a few tens of milliseconds.

#[path = "support/fleet_breakers.rs"]
mod fleet_breakers;
#[path = "../resilience-runtime/src/redis/test_server.rs"]
mod test_server;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_breakers::{Replicas, replica_breaker};
use resilience::Rejection;
use resilience::breaker::State;
use resilience::rate_limiter;
use resilience::redis::{FleetBreaker, FleetRateLimiter, FleetSlot, OnStoreError, RedisStore};
use test_server::RedisServer;

fn store(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::open(&server.url()).unwrap().key_prefix(prefix)
}

#[tokio::test]
async fn a_busy_replica_spends_leases_not_a_round_trip_per_call() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let limiter = FleetRateLimiter::new(
        &store(&server, "busy"),
        "api",
        1_000_000,
        Duration::from_secs(1),
    )
    .burst(10_000);
    for call in 0..1_000 {
        limiter
            .acquire()
            .await
            .unwrap_or_else(|e| panic!("call {call}: {e}"));
    }
    let trips = limiter.snapshot().round_trips;
    // Leases double from 1 to 512 cells (10 trips for 1,023 calls), prefetching
    // the next once a quarter spent: a dozen trips at most.
    assert!(trips <= 12, "1,000 calls took {trips} round trips");
    assert!(
        limiter.snapshot().leased > 0,
        "a busy replica holds a lease"
    );
}

#[tokio::test]
async fn a_busy_replica_prefetches_its_next_lease_and_holds_at_most_two() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let limiter = FleetRateLimiter::new(
        &store(&server, "prefetch"),
        "api",
        1_000_000,
        Duration::from_secs(1),
    )
    .burst(100_000)
    .max_lease(64);
    let mut most_held = 0;
    for call in 0..2_000 {
        limiter
            .acquire()
            .await
            .unwrap_or_else(|e| panic!("call {call}: {e}"));
        most_held = most_held.max(limiter.snapshot().leased);
        if call % 16 == 0 {
            // A service's task yields now and then: the prefetch runs.
            tokio::task::yield_now().await;
        }
    }
    let s = limiter.snapshot();
    assert!(
        s.prefetches >= 1,
        "a lease spent this fast has its successor fetched in the background: {s:?}"
    );
    assert!(
        most_held <= 2 * 64,
        "the lease being spent and the one prefetched, no more: {most_held}"
    );
}

#[tokio::test]
async fn replicas_share_one_quota() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "share");
    let replicas: Vec<_> = (0..3)
        .map(|_| FleetRateLimiter::new(&store, "api", 10, Duration::from_secs(60)).max_lease(4))
        .collect();
    let mut admitted = [0; 3];
    for round in 0..10 {
        for (i, replica) in replicas.iter().enumerate() {
            if replica.acquire().await.is_ok() {
                admitted[i] += 1;
            }
            let _ = round;
        }
    }
    assert_eq!(
        admitted.iter().sum::<i32>(),
        10,
        "one burst of 10 for all: {admitted:?}"
    );
    let refused = replicas[0].acquire().await.unwrap_err();
    let retry_after = refused.retry_after().unwrap();
    assert!(
        retry_after > Duration::from_secs(1) && retry_after <= Duration::from_secs(6),
        "the next cell frees within one interval (6 s): {retry_after:?}"
    );
    // The key expires when the TAT passes (10 cells of 6 s: at most a
    // minute from now), so an idle limiter leaves nothing in Redis.
    let pttl: i64 = server.command("PTTL share:rate_limiter:api")[1..]
        .parse()
        .unwrap();
    assert!((54_000..=60_001).contains(&pttl), "PTTL {pttl}");
}

#[tokio::test]
async fn a_quiet_replica_gives_its_unspent_cells_back() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "quiet");
    let ttl = Duration::from_millis(300);
    let make = || {
        FleetRateLimiter::new(&store, "api", 8, Duration::from_secs(60))
            .max_lease(8)
            .lease_ttl(ttl)
    };
    let (busy, quiet) = (make(), make());
    // The busy replica grows its lease to 4 cells (1 + 2 + 4 spent in a row
    // within half a lease's life), spends one and stops.
    for _ in 0..4 {
        busy.acquire().await.unwrap();
    }
    assert_eq!(busy.snapshot().leased, 3);
    tokio::time::sleep(ttl * 2).await;
    assert_eq!(busy.snapshot().leased, 0, "an ended lease holds nothing");
    // Its next call gives the three unspent cells back in the same round
    // trip: the quiet replica finds them (8 - 4 spent - 1 just taken = 3).
    busy.acquire().await.unwrap();
    let mut found = 0;
    while quiet.acquire().await.is_ok() {
        found += 1;
    }
    assert_eq!(found, 3, "the 3 unspent cells went back to the fleet");
}

pub struct Client {
    limiter: Arc<FleetRateLimiter>,
}

impl Client {
    #[rate_limiter(with = self.limiter)]
    async fn get(&self, n: u32) -> Result<u32, Rejection> {
        Ok(n)
    }
}

static SEARCH: FleetSlot = FleetSlot::new("tests-redis-search");

#[rate_limiter(with = SEARCH)]
async fn search(n: u32) -> Result<u32, Rejection> {
    Ok(n)
}

#[tokio::test]
async fn the_attribute_takes_a_fleet_limiter_or_a_slot_bound_at_start_up() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "attr");
    let client = Client {
        limiter: Arc::new(FleetRateLimiter::new(
            &store,
            "get",
            2,
            Duration::from_secs(60),
        )),
    };
    assert_eq!(client.get(1).await, Ok(1));
    assert_eq!(client.get(2).await, Ok(2));
    assert!(matches!(
        client.get(3).await,
        Err(Rejection::RateLimited { .. })
    ));

    let unbound = search(1).await.unwrap_err();
    assert!(
        matches!(&unbound, Rejection::RateLimited { name, .. } if name == "tests-redis-search")
    );
    FleetRateLimiter::new(&store, "tests-redis-search", 3, Duration::from_secs(60)).bind();
    for n in 0..3 {
        assert_eq!(
            search(n).await,
            Ok(n),
            "bound at start-up: the fleet's burst of 3"
        );
    }
    assert!(search(3).await.is_err());
    assert!(
        resilience::registry::entries()
            .iter()
            .any(|e| e.kind == "fleet_rate_limiter" && e.name == "tests-redis-search"),
        "a bound limiter is listed by the registry"
    );
}

/// How long a call may take over the store timeout: scheduling on a
/// loaded machine (stalls of 130 ms seen with ~6 builds on 2 cores), never
/// a wait on Redis. Without the store timeout a call would wait for the
/// connection's own bounds (`RedisStore::open`: 500 ms to connect, 1 s for
/// a reply), well past timeout + slack, so the check still tells them apart.
const SLACK: Duration = Duration::from_millis(150);

#[tokio::test]
async fn a_server_that_never_answers_costs_at_most_the_store_timeout() {
    // Accepts connections, never replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let timeout = Duration::from_millis(30);
    let store = RedisStore::open(&url).unwrap().store_timeout(timeout);
    let limiter = FleetRateLimiter::new(&store, "silent", 100, Duration::from_secs(1))
        .on_store_error(OnStoreError::Allow);
    let start = Instant::now();
    limiter
        .acquire()
        .await
        .expect("`allow` admits while the store is silent");
    assert!(
        start.elapsed() <= timeout + SLACK,
        "waited {:?}",
        start.elapsed()
    );
    assert!(limiter.snapshot().on_fallback);
    assert_eq!(limiter.snapshot().store_errors, 1);
    // During the backoff, calls do not ask the store at all.
    for _ in 0..100 {
        limiter.acquire().await.unwrap();
    }
    assert_eq!(limiter.snapshot().store_errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_then_back_the_fallback_applies_and_the_shared_count_resumes() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let timeout = Duration::from_millis(250);
    let store = store(&server, "outage").store_timeout(timeout);
    // One cell a lease, so each call asks Redis; 20 a minute for 4
    // replicas: a local share of 5.
    let make = |name: &'static str, policy| {
        FleetRateLimiter::new(&store, name, 20, Duration::from_secs(60))
            .max_lease(1)
            .replicas(4)
            .on_store_error(policy)
    };
    let local = make("local", OnStoreError::Local);
    let allow = make("allow", OnStoreError::Allow);
    let deny = make("deny", OnStoreError::Deny);
    // Half the shared burst is spent (each call one round trip).
    for limiter in [&local, &allow, &deny] {
        for _ in 0..10 {
            limiter.acquire().await.unwrap();
        }
        assert_eq!(limiter.snapshot().round_trips, 10);
    }

    server.stop();
    // Every call, the ones that find Redis gone included, ends within the
    // store timeout.
    let mut outcomes = Vec::new();
    for limiter in [&local, &allow, &deny] {
        let mut admitted = 0;
        for _ in 0..30 {
            let start = Instant::now();
            let out = limiter.acquire().await;
            assert!(
                start.elapsed() <= timeout + SLACK,
                "{}: a call waited {:?} on a dead server",
                limiter.name(),
                start.elapsed()
            );
            admitted += usize::from(out.is_ok());
            // Spread the calls over more than one backoff, so some ask Redis.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        assert!(limiter.snapshot().store_errors >= 1, "{}", limiter.name());
        outcomes.push(admitted);
    }
    assert_eq!(
        outcomes,
        [5, 30, 0],
        "local: its share's burst of 5; allow: all; deny: none"
    );

    server.restart();
    // The connection comes back on its own; the restarted server has no
    // script (NOSCRIPT, loaded again) and an empty count: a fresh burst of
    // 20, more than the local share could admit.
    for limiter in [&local, &allow, &deny] {
        let deadline = Instant::now() + Duration::from_secs(4);
        let mut admitted = 0;
        while admitted < 20 {
            assert!(
                Instant::now() < deadline,
                "{}: the shared count did not resume ({admitted} admitted)",
                limiter.name()
            );
            let start = Instant::now();
            let out = limiter.acquire().await;
            assert!(
                start.elapsed() <= timeout + SLACK,
                "waited {:?}",
                start.elapsed()
            );
            if out.is_ok() && !limiter.snapshot().on_fallback {
                admitted += 1;
            } else {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let refused = limiter.acquire().await.unwrap_err();
        assert!(
            refused.retry_after().unwrap() > Duration::from_secs(1),
            "{}: refused by the shared count (next cell in ~3 s), not by a fallback: {refused}",
            limiter.name()
        );
    }
}

#[tokio::test]
async fn a_breaker_opens_everywhere_once_k_replicas_report_it_open() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "breakers");
    let replicas = Replicas::new(&store, "payments", 3, 2);
    let (breakers, fleet) = (&replicas.breakers, &replicas.fleet);
    let tick_all = || replicas.tick_all();
    tick_all().await;

    breakers[0].try_acquire().unwrap().failure();
    assert_eq!(breakers[0].state(), State::Open);
    tick_all().await;
    assert_eq!(
        breakers[1].state(),
        State::Closed,
        "one bad replica does not shut the fleet"
    );
    assert_eq!(breakers[2].state(), State::Closed);

    breakers[1].try_acquire().unwrap().failure();
    tick_all().await;
    assert_eq!(
        breakers[2].state(),
        State::ForcedOpen,
        "two of three report open: k = 2"
    );
    tick_all().await;
    let states = fleet[0].fleet_states().await.unwrap();
    let listed: Vec<_> = states
        .iter()
        .map(|s| (s.replica.as_str(), s.state.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("web-0", "open"),
            ("web-1", "open"),
            ("web-2", "fleet-open")
        ]
    );

    breakers[0].reset();
    tick_all().await;
    assert_eq!(
        breakers[2].state(),
        State::Closed,
        "fewer than k open: closed again"
    );
    assert_eq!(
        breakers[1].state(),
        State::Open,
        "a replica's own verdict stays"
    );
}

#[tokio::test]
async fn a_breaker_the_fleet_opened_is_released_when_redis_goes_away() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "breakers-outage");
    let (sick, healthy) = (replica_breaker("search"), replica_breaker("search"));
    let a = FleetBreaker::new(&store, sick.clone(), "a", 1);
    let b = FleetBreaker::new(&store, healthy.clone(), "b", 1);
    sick.try_acquire().unwrap().failure();
    a.tick().await.unwrap();
    b.tick().await.unwrap();
    assert_eq!(healthy.state(), State::ForcedOpen);
    server.stop();
    assert!(b.tick().await.is_err());
    assert_eq!(
        healthy.state(),
        State::Closed,
        "without the fleet view, its own verdict applies"
    );
}

#[tokio::test]
async fn a_flushed_script_is_loaded_again() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let limiter = FleetRateLimiter::new(
        &store(&server, "noscript"),
        "api",
        10,
        Duration::from_secs(60),
    )
    .max_lease(1);
    limiter.acquire().await.unwrap();
    assert_eq!(server.command("SCRIPT FLUSH"), "+OK");
    // EVALSHA answers NOSCRIPT; the script is loaded and run again.
    limiter.acquire().await.unwrap();
    let s = limiter.snapshot();
    assert_eq!((s.round_trips, s.store_errors), (2, 0));
    for _ in 2..10 {
        limiter.acquire().await.unwrap();
    }
    assert!(
        limiter.acquire().await.is_err(),
        "the count survived the flush: 10 of 10 spent"
    );
}

/// The events a user's subscriber receives: level, message and fields.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<String>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Captured {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("{} ", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn an_outage_and_the_recovery_are_each_one_event_naming_the_limiter() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let captured = Captured::default();
    let _default = tracing::subscriber::set_default(captured.clone());
    let limiter = FleetRateLimiter::new(
        &store(&server, "events"),
        "checkout",
        100,
        Duration::from_secs(60),
    )
    .max_lease(1)
    .on_store_error(OnStoreError::Allow);
    limiter.acquire().await.unwrap();
    server.stop();
    for _ in 0..20 {
        limiter.acquire().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.restart();
    // Calls after the restart, until one is admitted by the shared count.
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        limiter.acquire().await.unwrap();
        if !limiter.snapshot().on_fallback {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the limiter never came back: {:?}",
            captured.lines()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(limiter.snapshot().store_errors > 0);
    let lines = captured.lines();
    let warnings: Vec<_> = lines.iter().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one warning per outage: {lines:?}");
    assert!(
        warnings[0].contains("name=checkout") && warnings[0].contains("on_store_error=allow"),
        "{warnings:?}"
    );
    let recovered: Vec<_> = lines
        .iter()
        .filter(|l| {
            l.starts_with("INFO") && l.contains("name=checkout") && l.contains("shared count")
        })
        .collect();
    assert_eq!(
        recovered.len(),
        1,
        "one event when Redis answers again: {lines:?}"
    );
}
