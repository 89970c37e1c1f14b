//! The frame's JSON and the shared snapshot behind the stream.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::frame::{self, EVENTS_PER_INSTANCE, Recent};
use super::hub::Hub;
use crate::breaker::{BreakerPolicy, CircuitBreaker, State, WindowSize};
use crate::events::Event;
use crate::registry::{self, Kind};

fn parse(json: &str) -> Value {
    serde_json::from_str(json).expect("a frame is JSON")
}

fn card<'a>(frame: &'a Value, kind: &str, name: &str) -> &'a Value {
    frame["instances"]
        .as_array()
        .expect("instances is a list")
        .iter()
        .find(|i| i["kind"] == kind && i["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {frame}"))
}

fn transition(name: &str, from: State, to: State) -> Event {
    Event::StateTransition {
        name: name.to_owned(),
        from,
        to,
    }
}

#[test]
fn frame_carries_state_thresholds_health_and_events() {
    let breaker = registry::get_or_register("dash-unit-frame", || {
        CircuitBreaker::named(
            "dash-unit-frame",
            BreakerPolicy::new()
                .failure_rate(0.25, WindowSize::Calls(40))
                .slow_call(Duration::from_millis(300))
                .slow_call_rate(0.5),
        )
    });
    breaker.force_open();
    let mut recent = Recent::default();
    recent.absorb(
        vec![transition(
            "dash-unit-frame",
            State::Closed,
            State::ForcedOpen,
        )],
        3,
    );

    let frame = parse(&frame::build(7, Duration::from_millis(1500), &recent));
    assert_eq!(frame["seq"], 7);
    assert_eq!(frame["t_ms"], 1500);
    assert_eq!(frame["lagged_events"], 3);
    assert!(
        frame["at"].as_u64().unwrap() > 1_600_000_000_000,
        "wall clock in ms"
    );
    let b = card(&frame, "circuit_breaker", "dash-unit-frame");
    assert_eq!(b["scope"], "named");
    assert_eq!(b["snapshot"]["state"], "forced_open");
    assert_eq!(b["status"], "DEGRADED");
    assert_eq!(b["reason"], "circuit forced open");
    // The page reads the thresholds from the policy listing.
    let policy = b["policy"].as_array().unwrap();
    let get = |key: &str| {
        policy
            .iter()
            .find(|s| s["key"] == key)
            .map(|s| s["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(get("failure_rate").as_deref(), Some("0.25"));
    assert_eq!(get("slow_call_rate").as_deref(), Some("0.5"));
    assert_eq!(get("slow_call").as_deref(), Some("300ms"));
    let events = b["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["event"], "state_transition");
    assert_eq!(events[0]["detail"]["to"], "forced_open");
    // Overall: at least this instance's Degraded.
    assert_ne!(frame["status"], "UP");
    breaker.reset();
}

#[test]
fn each_card_keeps_its_last_events_by_layer() {
    let name = "dash-unit-ring";
    let mut recent = Recent::default();
    let states = [State::Closed, State::Open, State::HalfOpen];
    let many: Vec<Event> = (0..EVENTS_PER_INSTANCE + 2)
        .map(|i| transition(name, states[i % 3], states[(i + 1) % 3]))
        .collect();
    recent.absorb(many.clone(), 0);
    recent.absorb(
        vec![Event::Retry {
            name: name.to_owned(),
            attempt: 2,
            delay: Duration::from_millis(10),
            error: "503".to_owned(),
        }],
        0,
    );
    let ring = recent.of(Kind::CircuitBreaker, name).unwrap();
    let kept: Vec<&Event> = ring.iter().map(|s| &s.detail).collect();
    let expected: Vec<&Event> = many[2..].iter().collect();
    assert_eq!(
        kept, expected,
        "the last {EVENTS_PER_INSTANCE}, oldest first"
    );
    // A private instance's layers share the function's name: the retry
    // event goes to the retry's card only.
    assert_eq!(recent.of(Kind::Retry, name).unwrap().len(), 1);
    assert!(recent.of(Kind::Bulkhead, name).is_none());
    // Both timeouts share one group.
    recent.absorb(
        vec![Event::Timeout {
            name: name.to_owned(),
            after: Duration::from_millis(5),
        }],
        0,
    );
    assert_eq!(recent.of(Kind::AdaptiveTimeout, name).unwrap().len(), 1);
    assert_eq!(recent.of(Kind::Timeout, name).unwrap().len(), 1);
}

#[test]
fn each_event_goes_to_the_card_of_its_layer() {
    let name = "dash-unit-owners";
    let mut recent = Recent::default();
    recent.absorb(
        vec![
            Event::CallRejected {
                layer: Kind::Bulkhead,
                name: name.to_owned(),
                reason: "bulkhead full",
                retry_after: None,
            },
            Event::CallRejected {
                layer: Kind::AdaptiveTimeout,
                name: name.to_owned(),
                reason: "deadline too near",
                retry_after: None,
            },
            Event::RetriesExhausted {
                name: name.to_owned(),
                attempts: 3,
                reason: "max attempts",
                error: "503".to_owned(),
            },
            Event::HedgeStarted {
                name: name.to_owned(),
                hedge: 1,
            },
            Event::FallbackUsed {
                name: name.to_owned(),
                level: 0,
                error: "503".to_owned(),
            },
            Event::StaleServed {
                name: name.to_owned(),
                age: Duration::from_secs(3),
            },
            Event::FaultInjected {
                name: name.to_owned(),
                fault: "latency".to_owned(),
            },
            // A reload shows on the card of each instance it changed; a
            // key of no known layer, or without one, on none.
            Event::ConfigReloaded {
                source: "resilience.toml".to_owned(),
                changed: vec![
                    format!("rate_limiter.{name}"),
                    format!("adaptive_timeout.{name}"),
                    format!("no_such_layer.{name}"),
                    "no-layer".to_owned(),
                ],
            },
        ],
        0,
    );
    let on = |kind: Kind| -> Vec<String> {
        recent.of(kind, name).map_or_else(Vec::new, |ring| {
            ring.iter()
                .map(|s| serde_json::to_value(&s.detail).unwrap()["event"].to_string())
                .collect()
        })
    };
    assert_eq!(on(Kind::Bulkhead), [r#""call_rejected""#]);
    // Both timeouts share one card: the adaptive one's rejection and reload.
    assert_eq!(
        on(Kind::Timeout),
        [r#""call_rejected""#, r#""config_reloaded""#]
    );
    assert_eq!(on(Kind::Retry), [r#""retries_exhausted""#]);
    assert_eq!(on(Kind::Hedge), [r#""hedge_started""#]);
    assert_eq!(on(Kind::Fallback), [r#""fallback_used""#]);
    assert_eq!(on(Kind::StaleCache), [r#""stale_served""#]);
    assert_eq!(on(Kind::Chaos), [r#""fault_injected""#]);
    assert_eq!(on(Kind::RateLimiter), [r#""config_reloaded""#]);
    assert!(on(Kind::CircuitBreaker).is_empty());
}

fn seq(frame: &Option<Arc<str>>) -> u64 {
    parse(frame.as_deref().expect("a frame"))["seq"]
        .as_u64()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn one_snapshot_per_tick_for_every_connection_and_a_stalled_one_skips() {
    let hub = Arc::new(Hub::new(Duration::from_millis(500)));
    let mut live = hub.watch();
    let mut also_live = hub.watch();
    let stalled = hub.watch();
    let mut seen = Vec::new();
    for _ in 0..20 {
        live.changed().await.unwrap();
        seen.push(seq(&live.borrow_and_update()));
        also_live.changed().await.unwrap();
        assert_eq!(seq(&also_live.borrow_and_update()), *seen.last().unwrap());
    }
    // Three connections, one frame built per tick: the cost does not grow
    // with the number of pages.
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    assert_eq!(hub.built(), 20);
    // The stalled connection never read: it holds one frame, the latest,
    // and the 19 before it were skipped, not queued.
    assert!(stalled.has_changed().unwrap());
    assert_eq!(seq(&stalled.borrow()), 20);
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_task_stops_when_the_last_page_closes() {
    let hub = Arc::new(Hub::new(Duration::from_millis(500)));
    let mut page = hub.watch();
    page.changed().await.unwrap();
    assert!(hub.ticking());
    drop(page);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!hub.ticking(), "nobody watches: no task");
    let built = hub.built();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(hub.built(), built, "and no snapshot");

    // A new page starts it again, and gets a frame at once.
    let mut page = hub.watch();
    page.changed().await.unwrap();
    assert!(hub.ticking());
    assert_eq!(seq(&page.borrow_and_update()), built + 1);
}
