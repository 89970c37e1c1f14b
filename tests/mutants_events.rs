//! Events and health (issue 22, mutation testing): a subscription sees what
//! happens after it starts and stops seeing it when dropped, a full queue
//! drops its oldest events and says how many, a listener is called until
//! dropped and survives its own panics; `health()` judges each instance.
//!
//! Events go to every subscriber in the process: each test here looks only
//! at the events that name it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::events::{self, Event};
use resilience::health::{self, Status};
use resilience::registry::{self, Kind, Scope};
use resilience::{Bulkhead, Rejection};

fn reloaded(source: &str) {
    events::config_reloaded(source, vec![format!("{source}.changed")]);
}

fn sources(events: Vec<Event>, prefix: &str) -> Vec<String> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::ConfigReloaded { source, changed } if source.starts_with(prefix) => {
                assert_eq!(changed, [format!("{source}.changed")]);
                Some(source)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_subscription_sees_the_events_after_it_starts_until_it_is_dropped() {
    let p = "mutants-events-sub";
    reloaded(&format!("{p}-before"));
    let mut a = events::subscribe();
    let mut b = events::subscribe();
    reloaded(&format!("{p}-1"));
    reloaded(&format!("{p}-2"));
    // One at a time, in order, then all at once.
    // (Bounded: on the paused clock, an event that never comes fails the
    // test after a virtual second instead of hanging it.)
    let first = loop {
        let next = tokio::time::timeout(Duration::from_secs(1), a.recv());
        match next
            .await
            .expect("an event emitted after subscribing arrives")
        {
            Event::ConfigReloaded { source, .. } if source.starts_with(p) => break source,
            _ => continue,
        }
    };
    assert_eq!(first, format!("{p}-1"));
    let second = std::iter::from_fn(|| a.try_recv())
        .find_map(|e| match e {
            Event::ConfigReloaded { source, .. } if source.starts_with(p) => Some(source),
            _ => None,
        })
        .expect("the second event is queued");
    assert_eq!(second, format!("{p}-2"));
    // Dropping one subscription leaves the other receiving.
    drop(a);
    reloaded(&format!("{p}-3"));
    assert_eq!(
        sources(b.drain(), p),
        [format!("{p}-1"), format!("{p}-2"), format!("{p}-3")]
    );
    assert!(sources(b.drain(), p).is_empty(), "drained");
    assert_eq!(b.lagged(), 0);
}

#[test]
fn a_full_subscription_drops_its_oldest_events_and_counts_them() {
    let p = "mutants-events-lag";
    let mut small = events::subscribe_with_capacity(2);
    // Other tests' events may land in this queue too: send enough of ours
    // that at least the last two are ours.
    for i in 0..5 {
        reloaded(&format!("{p}-{i}"));
    }
    let kept = small.drain();
    assert_eq!(kept.len(), 2);
    // The newest kept: of ours, at most the last two.
    let ours = sources(kept, p);
    let last_two = [format!("{p}-3"), format!("{p}-4")];
    assert!(last_two.ends_with(&ours), "{ours:?}");
    assert!(small.lagged() >= 3, "{}", small.lagged());
    // A zero capacity still keeps the latest event.
    let mut none = events::subscribe_with_capacity(0);
    reloaded(&format!("{p}-last"));
    let kept = none.drain();
    assert_eq!(kept.len(), 1);
}

#[test]
fn a_listener_is_called_until_dropped_and_survives_its_panics() {
    let p = "mutants-events-listen";
    let seen = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&seen);
    let prefix = format!("{p}-");
    let listener = events::listen(move |e| {
        if let Event::ConfigReloaded { source, .. } = e
            && source.starts_with(&prefix)
        {
            counter.fetch_add(1, Ordering::Relaxed);
            if source.ends_with("panic") {
                panic!("a listener's bug");
            }
        }
    });
    let before = listener.panics();
    reloaded(&format!("{p}-1"));
    reloaded(&format!("{p}-panic"));
    reloaded(&format!("{p}-2"));
    assert_eq!(seen.load(Ordering::Relaxed), 3);
    assert_eq!(listener.panics() - before, 1);
    drop(listener);
    reloaded(&format!("{p}-3"));
    assert_eq!(seen.load(Ordering::Relaxed), 3);
}

#[tokio::test(start_paused = true)]
async fn a_rejection_is_an_event_naming_the_layer_the_instance_and_the_reason() {
    let name = "mutants-events-rejected";
    let mut sub = events::subscribe();
    let breaker = CircuitBreaker::named(name, BreakerPolicy::new());
    breaker.force_open();
    let out: Result<(), Rejection> = breaker.call(async { Ok(()) }).await;
    assert!(out.is_err());
    let mine: Vec<Event> = sub
        .drain()
        .into_iter()
        .filter(|e| match e {
            Event::StateTransition { name: n, .. } | Event::CallRejected { name: n, .. } => {
                n == name
            }
            _ => false,
        })
        .collect();
    assert!(
        mine.iter()
            .any(|e| matches!(e, Event::StateTransition { .. })),
        "{mine:?}"
    );
    assert!(
        mine.iter().any(|e| matches!(
            e,
            Event::CallRejected {
                layer: Kind::CircuitBreaker,
                ..
            }
        )),
        "{mine:?}"
    );
}

fn status_of(name: &str) -> (Status, Option<&'static str>) {
    let h = health::health();
    let me = h
        .instances
        .iter()
        .find(|i| i.name == name)
        .expect("a named instance is judged");
    assert_eq!(me.scope, Scope::Named);
    assert!(h.status >= me.status, "the overall status is the worst");
    (me.status, me.reason)
}

#[tokio::test(start_paused = true)]
async fn health_judges_a_breaker_by_its_state_and_fail_when_open() {
    let name = "mutants-health-breaker";
    let breaker = registry::get_or_register(name, || {
        CircuitBreaker::named(
            name,
            BreakerPolicy::new()
                .failure_threshold(1)
                .open_for(Duration::from_secs(1)),
        )
    });
    assert_eq!(status_of(name), (Status::Up, None));
    breaker.try_acquire().unwrap().failure();
    assert_eq!(status_of(name), (Status::Degraded, Some("circuit open")));
    tokio::time::advance(Duration::from_secs(1)).await;
    let trial = breaker.try_acquire().expect("a trial after open_for");
    assert_eq!(
        status_of(name),
        (Status::Degraded, Some("circuit half-open"))
    );
    trial.success();
    assert_eq!(status_of(name), (Status::Up, None));
    breaker.force_open();
    assert_eq!(
        status_of(name),
        (Status::Degraded, Some("circuit forced open"))
    );
    health::fail_when_open(name);
    assert_eq!(status_of(name), (Status::Down, Some("circuit forced open")));
    assert_eq!(health::health().status, Status::Down);
    breaker.reset();
    assert_eq!(status_of(name), (Status::Up, None));
}

#[tokio::test(start_paused = true)]
async fn health_calls_a_bulkhead_degraded_only_when_full_with_callers_waiting() {
    let name = "mutants-health-bulkhead";
    let bulkhead = registry::get_or_register(name, || {
        Bulkhead::named(name, 1).max_wait(Duration::from_secs(60))
    });
    assert_eq!(status_of(name), (Status::Up, None));
    let held = bulkhead.acquire().await.unwrap();
    // Full, nobody waiting: up.
    assert_eq!(status_of(name), (Status::Up, None));
    let waiter = {
        let bulkhead = Arc::clone(&bulkhead);
        tokio::spawn(async move { bulkhead.acquire().await.map(drop) })
    };
    tokio::task::yield_now().await;
    assert_eq!(
        status_of(name),
        (Status::Degraded, Some("bulkhead full, callers waiting"))
    );
    drop(held);
    waiter.await.unwrap().unwrap();
    assert_eq!(status_of(name), (Status::Up, None));
}

#[test]
fn statuses_print_as_health_endpoints_spell_them() {
    assert_eq!(Status::Up.to_string(), "UP");
    assert_eq!(Status::Degraded.to_string(), "DEGRADED");
    assert_eq!(Status::Down.to_string(), "DOWN");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn health_calls_a_fleet_limiter_degraded_while_redis_is_unreachable() {
    use resilience::redis::{FleetRateLimiter, RedisStore};
    let name = "mutants-health-fleet";
    // A loopback port nothing listens on: the connection is refused at once.
    let store = RedisStore::open("redis://127.0.0.1:1").unwrap();
    let fleet = FleetRateLimiter::new(&store, name, 100, Duration::from_secs(1)).bind();
    assert_eq!(status_of(name), (Status::Up, None));
    let _ = fleet.acquire().await;
    assert!(fleet.snapshot().store_errors > 0);
    assert_eq!(
        status_of(name),
        (
            Status::Degraded,
            Some("Redis unreachable, on_store_error applies")
        )
    );
}
