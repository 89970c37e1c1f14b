//! The `metrics` feature (#15): the pinned names, read back from
//! `metrics-util`'s debugging recorder, installed per test thread.

#![cfg(feature = "metrics")]

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
use resilience::{Bulkhead, Outcome, Retry, RetryPolicy, Timeout, registry};

/// Every metric now. The debugging recorder's snapshot reads and zeroes
/// each value, so a check takes one and looks everything up in it.
struct Read(Vec<(metrics_util::CompositeKey, DebugValue)>);

fn read(snapshotter: &Snapshotter) -> Read {
    Read(
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| (key, value))
            .collect(),
    )
}

/// The value of metric `name` whose labels include every `labels` pair.
fn value<'a>(read: &'a Read, name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    read.0
        .iter()
        .find(|(key, _)| {
            let key = key.key();
            key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, value)| value)
}

fn gauge(snapshotter: &Read, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    match value(snapshotter, name, labels)? {
        DebugValue::Gauge(g) => Some(g.into_inner()),
        other => panic!("{name} is not a gauge: {other:?}"),
    }
}

fn counter(snapshotter: &Read, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    match value(snapshotter, name, labels)? {
        DebugValue::Counter(c) => Some(*c),
        other => panic!("{name} is not a counter: {other:?}"),
    }
}

/// The state gauges of breaker `name`: the states that read 1.
fn states_at_one(s: &Read, name: &str) -> Vec<&'static str> {
    State::ALL
        .iter()
        .map(|state| state.label())
        .filter(|state| {
            gauge(
                s,
                "resilience_circuit_breaker_state",
                &[("name", name), ("state", state)],
            ) == Some(1.0)
        })
        .collect()
}

#[test]
fn the_breaker_state_gauge_flips_to_open_and_back() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let name = "metrics-flip";
            let b = registry::get_or_register(name, || {
                CircuitBreaker::named(
                    name,
                    BreakerPolicy::new()
                        .failure_threshold(2)
                        .success_threshold(1)
                        .open_for(Duration::from_secs(5)),
                )
            });
            resilience::metrics::publish();
            let s = read(&snapshotter);
            assert_eq!(states_at_one(&s, name), ["closed"], "Closed is emitted too");
            assert_eq!(
                gauge(
                    &s,
                    "resilience_circuit_breaker_state",
                    &[("name", name), ("state", "open")]
                ),
                Some(0.0)
            );

            b.try_acquire().unwrap().failure();
            b.try_acquire().unwrap().failure();
            // Written on the transition itself, without a publish.
            let s = read(&snapshotter);
            assert_eq!(states_at_one(&s, name), ["open"]);
            let opened = [("name", name), ("from", "closed"), ("to", "open")];
            assert_eq!(
                counter(&s, "resilience_circuit_breaker_transitions_total", &opened),
                Some(1)
            );

            tokio::time::advance(Duration::from_secs(5)).await;
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            assert_eq!(
                states_at_one(&read(&snapshotter), name),
                ["half_open"],
                "reported when due"
            );
            b.try_acquire().unwrap().success();
            let s = read(&snapshotter);
            assert_eq!(states_at_one(&s, name), ["closed"]);
            let closed = [("name", name), ("from", "half_open"), ("to", "closed")];
            assert_eq!(
                counter(&s, "resilience_circuit_breaker_transitions_total", &closed),
                Some(1)
            );

            resilience::metrics::publish();
            let s = read(&snapshotter);
            let calls = |outcome| {
                counter(
                    &s,
                    "resilience_calls_total",
                    &[
                        ("layer", "circuit_breaker"),
                        ("name", name),
                        ("outcome", outcome),
                    ],
                )
            };
            assert_eq!((calls("success"), calls("failure")), (Some(1), Some(2)));
        });
    });
}

#[test]
fn publish_writes_the_pinned_names_of_every_layer() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let retry = registry::get_or_register("metrics-retry", || {
            Retry::named("metrics-retry", RetryPolicy::new().max_attempts(3))
        });
        let mut call = retry.start();
        call.after_failure(Outcome::TRANSIENT).unwrap();
        call.succeeded();
        retry.start().succeeded();
        registry::get_or_register("metrics-bulkhead", || {
            Bulkhead::named("metrics-bulkhead", 7)
        });
        registry::get_or_register("metrics-timeout", || {
            Timeout::named("metrics-timeout", Duration::from_millis(1500))
        });

        resilience::metrics::publish();
        let s = read(&snapshotter);
        let kind = |kind| {
            counter(
                &s,
                "resilience_retry_calls_total",
                &[("name", "metrics-retry"), ("kind", kind)],
            )
        };
        assert_eq!(kind("successful_with_retry"), Some(1));
        assert_eq!(kind("successful_without_retry"), Some(1));
        assert_eq!(kind("failed_with_retry"), Some(0));
        assert_eq!(kind("failed_without_retry"), Some(0));
        assert_eq!(
            counter(
                &s,
                "resilience_retry_attempts_total",
                &[("name", "metrics-retry")]
            ),
            Some(1)
        );
        assert_eq!(
            counter(
                &s,
                "resilience_calls_total",
                &[
                    ("layer", "retry"),
                    ("name", "metrics-retry"),
                    ("outcome", "success")
                ]
            ),
            Some(2)
        );
        let b = [("name", "metrics-bulkhead")];
        assert_eq!(gauge(&s, "resilience_bulkhead_max", &b), Some(7.0));
        assert_eq!(gauge(&s, "resilience_bulkhead_in_use", &b), Some(0.0));
        assert_eq!(gauge(&s, "resilience_bulkhead_waiting", &b), Some(0.0));
        assert_eq!(
            gauge(
                &s,
                "resilience_timeout_seconds",
                &[("name", "metrics-timeout")]
            ),
            Some(1.5)
        );

        // Publishing again counts nothing twice: counters are absolute.
        resilience::metrics::publish();
        let s = read(&snapshotter);
        assert_eq!(
            counter(
                &s,
                "resilience_retry_calls_total",
                &[("name", "metrics-retry"), ("kind", "successful_with_retry")]
            ),
            Some(1)
        );
    });
}
