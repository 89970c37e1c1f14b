//! Observability (#15): what a user subscribing to events, listing
//! instances or asking for health sees. Events are process-wide, so each
//! test reads only the events of its own instance names.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
use resilience::events::{self, Event, Subscription};
use resilience::health::{self, Status};
use resilience::registry::{self, Kind, Scope, Snapshot};
use resilience::{Rejection, circuit_breaker, fallback, retry, timeout};

#[derive(Debug)]
enum ApiError {
    Down(u32),
    Rejected(Rejection),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Down(n) => write!(f, "service down (call {n})"),
            ApiError::Rejected(r) => write!(f, "{r}"),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejected(r)
    }
}

fn name_of(event: &Event) -> &str {
    match event {
        Event::StateTransition { name, .. }
        | Event::CallRejected { name, .. }
        | Event::Retry { name, .. }
        | Event::RetriesExhausted { name, .. }
        | Event::Timeout { name, .. }
        | Event::HedgeStarted { name, .. }
        | Event::FallbackUsed { name, .. }
        | Event::StaleServed { name, .. }
        | Event::FaultInjected { name, .. } => name,
        Event::ConfigReloaded { source, .. } => source,
        _ => "",
    }
}

/// Lets spawned tasks (the HalfOpen timer) run, then takes this test's events.
async fn mine(sub: &mut Subscription, name: &str) -> Vec<Event> {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    sub.drain()
        .into_iter()
        .filter(|e| name_of(e) == name)
        .collect()
}

fn transition(name: &str, from: State, to: State) -> Event {
    Event::StateTransition {
        name: name.into(),
        from,
        to,
    }
}

#[circuit_breaker(
    name = "obs-seq",
    failure_threshold = 2,
    success_threshold = 1,
    open_for = "10s"
)]
async fn guarded(fail: bool) -> Result<u32, ApiError> {
    if fail { Err(ApiError::Down(0)) } else { Ok(7) }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opening_and_closing_emits_exactly_its_transitions() {
    let mut sub = events::subscribe();
    let name = "obs-seq";
    assert!(guarded(true).await.is_err());
    assert_eq!(
        mine(&mut sub, name).await,
        vec![],
        "one failure moves nothing"
    );
    assert!(guarded(true).await.is_err());
    assert_eq!(
        mine(&mut sub, name).await,
        vec![transition(name, State::Closed, State::Open)]
    );

    assert!(matches!(guarded(false).await, Err(ApiError::Rejected(_))));
    assert_eq!(
        mine(&mut sub, name).await,
        vec![Event::CallRejected {
            layer: Kind::CircuitBreaker,
            name: name.into(),
            reason: "circuit open",
            retry_after: Some(Duration::from_secs(10)),
        }]
    );

    // HalfOpen is reported when `open_for` ends, before any call.
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(mine(&mut sub, name).await, vec![]);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        mine(&mut sub, name).await,
        vec![transition(name, State::Open, State::HalfOpen)]
    );

    // The trial call makes the transition itself: not reported twice.
    assert_eq!(guarded(false).await.unwrap(), 7);
    assert_eq!(
        mine(&mut sub, name).await,
        vec![transition(name, State::HalfOpen, State::Closed)]
    );
    assert_eq!(sub.lagged(), 0);
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(
    name = "obs-retry",
    max_attempts = 3,
    backoff = "fixed",
    base = "100ms",
    jitter = "none"
)]
async fn flaky(failures: u32) -> Result<u32, ApiError> {
    let n = FLAKY_CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    if n <= failures {
        Err(ApiError::Down(n))
    } else {
        Ok(n)
    }
}

#[tokio::test(start_paused = true)]
async fn a_retried_call_emits_each_retry_with_its_delay_and_error() {
    let mut sub = events::subscribe();
    let name = "obs-retry";
    FLAKY_CALLS.store(0, Ordering::Relaxed);
    assert_eq!(flaky(2).await.unwrap(), 3);
    let retry = |attempt, n| Event::Retry {
        name: name.into(),
        attempt,
        delay: Duration::from_millis(100),
        error: format!("service down (call {n})"),
    };
    assert_eq!(mine(&mut sub, name).await, vec![retry(2, 1), retry(3, 2)]);

    FLAKY_CALLS.store(0, Ordering::Relaxed);
    assert!(flaky(5).await.is_err());
    assert_eq!(
        mine(&mut sub, name).await,
        vec![
            retry(2, 1),
            retry(3, 2),
            Event::RetriesExhausted {
                name: name.into(),
                attempts: 3,
                reason: "retries exhausted",
                error: "service down (call 3)".into(),
            },
        ]
    );

    let r = registry::get::<resilience::Retry>(name).expect("registered by name");
    let s = r.snapshot();
    assert_eq!(
        (s.successful_with_retry, s.failed_with_retry, s.retries),
        (1, 1, 4)
    );
    FLAKY_CALLS.store(0, Ordering::Relaxed);
    flaky(0).await.unwrap();
    assert_eq!(r.snapshot().successful_without_retry, 1);
    let listed = registry::instances()
        .into_iter()
        .find(|i| i.kind == Kind::Retry && i.name == name)
        .expect("listed");
    assert_eq!(listed.scope, Scope::Named);
    assert_eq!(
        listed.policy.to_string(),
        "max_attempts = 3, backoff = fixed, base = 100ms, max_delay = 30s, jitter = none, idempotent = false"
    );
}

#[timeout("1s")]
async fn privately_timed(wait: Duration) -> Result<(), ApiError> {
    tokio::time::sleep(wait).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_private_instance_is_listed_under_its_default_name_from_its_first_call() {
    let default_name = concat!(module_path!(), "::privately_timed");
    let listed = || {
        registry::instances()
            .into_iter()
            .find(|i| i.name == default_name)
    };
    assert!(listed().is_none(), "not before its first call");
    privately_timed(Duration::ZERO).await.unwrap();
    let mut sub = events::subscribe();
    assert!(privately_timed(Duration::from_secs(2)).await.is_err());
    assert_eq!(
        mine(&mut sub, default_name).await,
        vec![Event::Timeout {
            name: default_name.into(),
            after: Duration::from_secs(1)
        }]
    );

    let t = listed().expect("listed after its first call");
    assert_eq!((t.kind, t.scope), (Kind::Timeout, Scope::Private));
    assert_eq!(t.policy.get("duration"), Some("1s"));
    let Snapshot::Timeout(s) = t.snapshot else {
        panic!("a timeout's snapshot: {:?}", t.snapshot)
    };
    assert_eq!((s.calls.succeeded, s.calls.rejected), (1, 1));
    assert!(
        registry::get::<resilience::Timeout>(default_name).is_none(),
        "a private instance is listed, not handed out"
    );
}

#[fallback(Err(ApiError::Down(99)), Ok(1))]
async fn degrading() -> Result<u32, ApiError> {
    Err(ApiError::Down(0))
}

#[tokio::test]
async fn a_fallback_reports_each_level_with_the_error_that_led_there() {
    let name = concat!(module_path!(), "::degrading");
    let mut sub = events::subscribe();
    assert_eq!(degrading().await.unwrap(), 1);
    let used = |level, error: &str| Event::FallbackUsed {
        name: name.into(),
        level,
        error: error.into(),
    };
    assert_eq!(
        mine(&mut sub, name).await,
        vec![
            used(1, "service down (call 0)"),
            used(2, "service down (call 99)")
        ]
    );
    let f = registry::instances()
        .into_iter()
        .find(|i| i.name == name)
        .expect("listed after it fell back");
    let Snapshot::Fallback(levels) = f.snapshot else {
        panic!("a fallback's snapshot: {:?}", f.snapshot)
    };
    assert_eq!(levels.levels_used, [1, 1]);
}

#[test]
fn health_is_degraded_while_a_breaker_is_open_and_down_where_asked() {
    let up = registry::get_or_register("obs-health", || {
        CircuitBreaker::named("obs-health", BreakerPolicy::new())
    });
    let status = |name: &str| {
        health::health()
            .instances
            .into_iter()
            .find(|i| i.name == name)
            .map(|i| (i.status, i.reason))
    };
    assert_eq!(status("obs-health"), Some((Status::Up, None)));
    up.force_open();
    assert_eq!(
        status("obs-health"),
        Some((Status::Degraded, Some("circuit forced open")))
    );
    assert!(resilience::health().status >= Status::Degraded);
    health::fail_when_open("obs-health");
    assert_eq!(status("obs-health").map(|s| s.0), Some(Status::Down));
    assert_eq!(resilience::health().status, Status::Down);
    up.reset();
    assert_eq!(status("obs-health").map(|s| s.0), Some(Status::Up));
}

#[test]
fn a_slow_subscriber_loses_the_oldest_events_and_counts_them() {
    let mut slow = events::subscribe_with_capacity(2);
    for i in 0..5 {
        events::config_reloaded(format!("obs-lag-{i}"), vec![]);
    }
    // Other tests may emit too: only ours are counted here, and they are
    // the newest two whatever else was dropped.
    let kept: Vec<String> = slow.drain().iter().map(|e| name_of(e).to_owned()).collect();
    assert_eq!(kept.len(), 2);
    assert!(slow.lagged() >= 3);
    assert_eq!(
        kept.last()
            .map(String::as_str)
            .filter(|n| n.starts_with("obs-lag")),
        Some("obs-lag-4")
    );
}

#[circuit_breaker(name = "obs-panicky", failure_threshold = 1)]
async fn guarded_once() -> Result<(), ApiError> {
    Err(ApiError::Down(0))
}

#[tokio::test]
async fn a_panicking_listener_never_breaks_a_call() {
    let listener = events::listen(|event| {
        if name_of(event) == "obs-panicky" {
            panic!("a listener with a bug");
        }
    });
    // The failure opens the breaker: the transition reaches the listener,
    // which panics, and the caller still gets its own error.
    assert!(matches!(guarded_once().await, Err(ApiError::Down(0))));
    assert!(matches!(guarded_once().await, Err(ApiError::Rejected(_))));
    assert!(listener.panics() >= 2);
}

#[cfg(feature = "serde")]
#[test]
fn instances_and_health_serialize_for_a_json_endpoint() {
    registry::get_or_register("obs-json", || {
        CircuitBreaker::named("obs-json", BreakerPolicy::new().failure_threshold(3))
    });
    let json = serde_json::to_value(registry::instances()).unwrap();
    let b = json
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "obs-json")
        .expect("listed");
    assert_eq!(b["kind"], "circuit_breaker");
    assert_eq!(b["scope"], "named");
    assert_eq!(b["snapshot"]["state"], "closed");
    assert!(
        b["policy"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["key"] == "failure_threshold" && s["value"] == "3")
    );
    let health = serde_json::to_value(resilience::health()).unwrap();
    assert!(["UP", "DEGRADED", "DOWN"].contains(&health["status"].as_str().unwrap()));
}

static CACHED_FAILS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[fallback(stale_cache(ttl = "1m", key = id), Ok(0))]
async fn cached(id: u32) -> Result<u32, ApiError> {
    if CACHED_FAILS.load(Ordering::Relaxed) {
        Err(ApiError::Down(id))
    } else {
        Ok(id * 10)
    }
}

#[tokio::test(start_paused = true)]
async fn a_stale_answer_is_an_event_with_its_age_and_the_cache_is_listed() {
    let name = concat!(module_path!(), "::cached");
    let mut sub = events::subscribe();
    assert_eq!(cached(4).await.unwrap(), 40);
    tokio::time::advance(Duration::from_secs(20)).await;
    CACHED_FAILS.store(true, Ordering::Relaxed);
    assert_eq!(cached(4).await.unwrap(), 40, "served from the cache");
    assert_eq!(
        mine(&mut sub, name).await,
        vec![
            Event::FallbackUsed {
                name: name.into(),
                level: 1,
                error: "service down (call 4)".into()
            },
            Event::StaleServed {
                name: name.into(),
                age: Duration::from_secs(20)
            },
        ]
    );
    let cache = registry::instances()
        .into_iter()
        .find(|i| i.kind == Kind::StaleCache && i.name == name)
        .expect("the private cache is listed");
    assert_eq!(cache.policy.get("ttl"), Some("1m"));
    let Snapshot::StaleCache(s) = cache.snapshot else {
        panic!("a stale cache's snapshot: {:?}", cache.snapshot)
    };
    assert_eq!((s.served_stale, s.misses), (1, 0));
}
