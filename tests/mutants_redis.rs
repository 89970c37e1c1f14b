//! What the fleet's Redis modules promise that `redis.rs` leaves open
//! (issue 22): the store's settings as given, the policy words, the
//! message of a failed round, and the fleet breaker's rules: what it
//! publishes for an operator's force open, how long it keeps a breaker the
//! fleet opened, one warning per outage, how long a report lives, and that
//! dropping the task stops publishing.
//!
//! Against a `redis-server` of the test's own (see `test_server.rs`:
//! without one these fail when `CI` is set). Redis's clock is real, so the
//! report ages run on tokio's real clock, a few hundred milliseconds.

#[path = "support/fleet_breakers.rs"]
mod fleet_breakers;
#[path = "../resilience-runtime/src/redis/test_server.rs"]
mod test_server;
#[path = "support/tracing_capture.rs"]
mod tracing_capture;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_breakers::{Replicas, replica_breaker};
use resilience::breaker::{CircuitBreaker, State};
use resilience::redis::{
    FleetBreaker, FleetRateLimiter, FleetSlot, KEY_PREFIX, OnStoreError, PUBLISH_EVERY, RedisStore,
    STORE_TIMEOUT,
};
use resilience::registry;
use test_server::RedisServer;
use tracing_capture::Capture;

fn store(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::open(&server.url()).unwrap().key_prefix(prefix)
}

/// The replicas listed by `fleet`, in order.
async fn replicas(fleet: &FleetBreaker<Arc<CircuitBreaker>>) -> Vec<String> {
    let states = fleet.fleet_states().await.unwrap();
    states.into_iter().map(|s| s.replica).collect()
}

#[test]
fn the_policy_words_parse_and_print_as_a_configuration_file_writes_them() {
    for (word, policy) in [
        ("local", OnStoreError::Local),
        ("allow", OnStoreError::Allow),
        ("deny", OnStoreError::Deny),
    ] {
        assert_eq!(word.parse::<OnStoreError>(), Ok(policy), "{word}");
        assert_eq!(policy.to_string(), word);
    }
    let error = "Allow".parse::<OnStoreError>().unwrap_err();
    assert!(
        error.contains("local") && error.contains("allow") && error.contains("deny"),
        "the error lists the words: {error}"
    );
    assert!(error.contains("not \"Allow\""), "{error}");
}

#[tokio::test]
async fn a_store_keeps_the_timeout_and_prefix_it_was_given_and_writes_its_keys_under_the_prefix() {
    let opened = RedisStore::open("redis://127.0.0.1:1").unwrap();
    assert_eq!(opened.get_store_timeout(), STORE_TIMEOUT);
    assert_eq!(opened.get_key_prefix(), KEY_PREFIX);
    let set = opened
        .store_timeout(Duration::from_millis(20))
        .key_prefix("checkout");
    assert_eq!(set.get_store_timeout(), Duration::from_millis(20));
    assert_eq!(set.get_key_prefix(), "checkout");

    let Some(server) = RedisServer::start() else {
        return;
    };
    let limiter = FleetRateLimiter::new(
        &store(&server, "checkout"),
        "api",
        10,
        Duration::from_secs(60),
    );
    limiter.acquire().await.unwrap();
    assert_eq!(
        server.command("EXISTS checkout:rate_limiter:api"),
        ":1",
        "the quota lives under the store's prefix"
    );
}

#[tokio::test]
async fn a_round_that_gets_no_answer_says_it_waited_the_store_timeout() {
    // Accepts connections, never replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let store = RedisStore::open(&url)
        .unwrap()
        .store_timeout(Duration::from_millis(30));
    let fleet = FleetBreaker::new(&store, replica_breaker("silent"), "a", 1);
    let error = fleet.tick().await.unwrap_err();
    assert_eq!(error, "no answer within the store timeout of 30ms");
    let error = fleet.fleet_states().await.unwrap_err();
    assert_eq!(error, "no answer within the store timeout of 30ms");
}

#[tokio::test]
async fn a_round_against_a_server_that_is_gone_gives_redis_own_error() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "gone").store_timeout(Duration::from_secs(2));
    let fleet = FleetBreaker::new(&store, replica_breaker("gone"), "a", 1);
    fleet.tick().await.unwrap();
    server.stop();
    let error = fleet.tick().await.unwrap_err();
    assert!(
        !error.is_empty() && !error.contains("store timeout"),
        "the connection's own error, not a timeout: {error:?}"
    );
}

#[tokio::test]
async fn the_breakers_settings_read_back_as_given() {
    let store = RedisStore::open("redis://127.0.0.1:1").unwrap();
    let fleet = FleetBreaker::new(&store, replica_breaker("settings"), "a", 3);
    assert_eq!(fleet.open_at(), 3);
    assert_eq!(fleet.get_publish_every(), PUBLISH_EVERY);
    let fleet = fleet.publish_every(Duration::from_millis(100));
    assert_eq!(fleet.get_publish_every(), Duration::from_millis(100));
    assert_eq!(fleet.breaker().name(), "settings");
    let fleet = FleetBreaker::new(&store, replica_breaker("settings"), "a", 0)
        .publish_every(Duration::ZERO);
    assert_eq!(fleet.open_at(), 1, "k is at least one");
    assert_eq!(
        fleet.get_publish_every(),
        Duration::from_millis(1),
        "a period is at least a millisecond"
    );
}

#[tokio::test]
async fn an_operators_force_open_is_published_as_such_and_counts_towards_k() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "operator");
    let (held, other) = (replica_breaker("orders"), replica_breaker("orders"));
    let a = FleetBreaker::new(&store, held.clone(), "a", 1);
    let b = FleetBreaker::new(&store, other.clone(), "b", 1);
    held.force_open();
    a.tick().await.unwrap();
    let reports = b.tick().await.unwrap();
    assert_eq!(reports[0].replica, "a");
    assert_eq!(reports[0].state, "forced open");
    assert_eq!(
        other.state(),
        State::ForcedOpen,
        "an operator's verdict is a replica's own: it counts towards k = 1"
    );
    let reports = a.tick().await.unwrap();
    assert_eq!(
        reports[0].state, "forced open",
        "the fleet opening the others does not make it the fleet's"
    );
    let reports = b.tick().await.unwrap();
    assert_eq!(
        (reports[0].state.as_str(), reports[1].state.as_str()),
        ("forced open", "fleet-open")
    );
}

#[tokio::test]
async fn a_breaker_the_fleet_opened_stays_open_while_k_replicas_report_open() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "stays");
    let replicas = Replicas::new(&store, "ledger", 4, 2);
    let breakers = &replicas.breakers;
    let tick_all = || replicas.tick_all();
    breakers[0].try_acquire().unwrap().failure();
    breakers[1].try_acquire().unwrap().failure();
    tick_all().await;
    assert_eq!(breakers[3].state(), State::ForcedOpen, "k = 2 of 4 open");
    for round in 0..3 {
        tick_all().await;
        assert_eq!(
            breakers[3].state(),
            State::ForcedOpen,
            "round {round}: exactly k replicas still report open"
        );
    }
    breakers[0].reset();
    breakers[1].reset();
    tick_all().await;
    tick_all().await;
    for (i, b) in breakers.iter().enumerate() {
        assert_eq!(b.state(), State::Closed, "web-{i}: none open any more");
    }
}

#[tokio::test]
async fn an_outage_of_the_breakers_view_is_one_warning_and_its_end_one_event() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    let store = store(&server, "view-outage").store_timeout(Duration::from_millis(200));
    let fleet = FleetBreaker::new(&store, replica_breaker("inventory"), "a", 1);
    fleet.tick().await.unwrap();
    server.stop();
    for _ in 0..3 {
        assert!(fleet.tick().await.is_err());
    }
    assert_eq!(
        capture.take_messages("fleet breaker view paused").len(),
        1,
        "one warning for three failed rounds"
    );
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(4);
    while fleet.tick().await.is_err() {
        assert!(Instant::now() < deadline, "the view never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fleet.tick().await.unwrap();
    assert_eq!(capture.take_messages("fleet breaker view resumed").len(), 1);
    assert!(
        capture
            .take_messages("fleet breaker view paused")
            .is_empty()
    );
}

#[tokio::test]
async fn a_report_counts_for_three_periods_then_is_dropped() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "ages");
    let every = Duration::from_millis(200);
    let a = FleetBreaker::new(&store, replica_breaker("billing"), "a", 1).publish_every(every);
    let b = FleetBreaker::new(&store, replica_breaker("billing"), "b", 1).publish_every(every);
    a.tick().await.unwrap();
    tokio::time::sleep(every * 3 / 2).await;
    let states = b.fleet_states().await.unwrap();
    assert_eq!(
        states
            .iter()
            .map(|s| s.replica.as_str())
            .collect::<Vec<_>>(),
        ["a"],
        "a report a period and a half old still counts"
    );
    assert!(
        states[0].age >= every,
        "its age by the server's clock: {states:?}"
    );
    tokio::time::sleep(every * 2).await;
    assert!(
        replicas(&b).await.is_empty(),
        "a report over three periods old is a replica that stopped"
    );
}

#[tokio::test]
async fn dropping_the_task_stops_publishing() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "task");
    let every = Duration::from_millis(20);
    let watched = FleetBreaker::new(&store, replica_breaker("quotes"), "a", 1).publish_every(every);
    let reader = FleetBreaker::new(&store, replica_breaker("quotes"), "b", 1).publish_every(every);
    let task = watched.spawn();
    let deadline = Instant::now() + Duration::from_secs(4);
    while replicas(&reader).await.is_empty() {
        assert!(Instant::now() < deadline, "the task never published");
        tokio::time::sleep(every).await;
    }
    drop(task);
    // Over three periods since the last report: it is dropped.
    tokio::time::sleep(every * 6).await;
    assert!(
        replicas(&reader).await.is_empty(),
        "a dropped task publishes no more"
    );
}

#[tokio::test]
async fn a_fleet_limiters_settings_read_back_as_given() {
    let store = RedisStore::open("redis://127.0.0.1:1").unwrap();
    let limiter = FleetRateLimiter::new(&store, "settings", 500, Duration::from_secs(1));
    assert_eq!(limiter.get_max_wait(), Duration::ZERO, "unset: no wait");
    assert_eq!(
        limiter.get_max_lease(),
        125,
        "unset: a quarter of the burst (the rate)"
    );
    let limiter = limiter.max_wait(Duration::from_millis(250));
    assert_eq!(limiter.get_max_wait(), Duration::from_millis(250));
}

#[tokio::test]
async fn binding_a_name_twice_keeps_the_first_and_counts_a_conflict_only_for_other_settings() {
    let store = RedisStore::open("redis://127.0.0.1:1").unwrap();
    let make = |rate| FleetRateLimiter::new(&store, "mutants-twice", rate, Duration::from_secs(1));
    let conflicts = || {
        registry::entries()
            .into_iter()
            .find(|e| e.name == "mutants-twice")
            .map(|e| e.conflicts)
    };
    let first = make(10).bind();
    let again = make(10).bind();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(conflicts(), Some(0), "the same settings: no conflict");
    let other = make(20).bind();
    assert_eq!(other.rate(), 10, "the first binding wins");
    assert_eq!(conflicts(), Some(1), "other settings: one conflict");
    static SLOT: FleetSlot = FleetSlot::new("mutants-twice");
    assert_eq!(SLOT.name(), "mutants-twice");
    assert_eq!(SLOT.get().map(FleetRateLimiter::rate), Some(10));
}

#[tokio::test]
async fn a_slot_bound_to_nothing_refuses_every_call_and_logs_one_error() {
    static UNBOUND: FleetSlot = FleetSlot::new("mutants-never-bound");
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    for _ in 0..3 {
        let refused = UNBOUND
            .call_with(async { Ok::<_, String>(()) }, |r| r.to_string())
            .await;
        assert!(refused.is_err());
    }
    assert_eq!(
        capture
            .take_messages("no fleet rate limiter bound under this name")
            .len(),
        1,
        "one error for the slot, not one per call"
    );
}
