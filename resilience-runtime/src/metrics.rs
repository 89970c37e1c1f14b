//! Counters and gauges through the [`metrics`](https://docs.rs/metrics)
//! 0.24 facade (feature `metrics`), for Prometheus, OpenTelemetry or any
//! recorder you install; this crate chooses no exporter.
//!
//! The names, in Prometheus spelling, seconds for time:
//!
//! | metric | labels | type |
//! |---|---|---|
//! | `resilience_calls_total` | `layer`, `name`, `outcome` (`success`, `failure`, `rejected`) | counter |
//! | `resilience_circuit_breaker_state` | `name`, `state` (`closed`, `open`, `half_open`, `forced_open`, `disabled`) | gauge: 1 for the current state, 0 for the others |
//! | `resilience_circuit_breaker_failure_rate` | `name` | gauge (0 to 1; 0 while the window is empty) |
//! | `resilience_circuit_breaker_transitions_total` | `name`, `from`, `to` | counter |
//! | `resilience_retry_calls_total` | `name`, `kind` (`successful_without_retry`, `successful_with_retry`, `failed_without_retry`, `failed_with_retry`) | counter |
//! | `resilience_retry_attempts_total` | `name` | counter: retries, the attempts after the first |
//! | `resilience_bulkhead_in_use`, `resilience_bulkhead_max`, `resilience_bulkhead_waiting` | `name` | gauge |
//! | `resilience_rate_limiter_available` | `name` | gauge |
//! | `resilience_timeout_seconds` | `name` | gauge: the timeout in force (the adaptive value for an adaptive one) |
//! | `resilience_fallback_total` | `name`, `level` | counter |
//!
//! Label values are instance names, so their number is bounded by the
//! number of instances.
//!
//! # Cost
//!
//! Nothing on the path of a call. The instances already count calls in
//! their snapshots (a few unlocked instructions per call on the calling
//! thread's own counters, with or without this feature); [`publish`]
//! copies every instance's counts and gauges into the recorder: call it
//! before a scrape (as the outage example's
//! `/metrics` does), or let [`spawn_publisher`] call it at an interval for a
//! push exporter. A breaker's state gauges and transition counter are also
//! written on each transition, as it happens.
//!
//! ```
//! use resilience::breaker::{BreakerPolicy, CircuitBreaker};
//! use resilience::registry;
//!
//! registry::get_or_register("doc-metrics", || CircuitBreaker::named("doc-metrics", BreakerPolicy::new()));
//! // With no recorder installed, publishing is a no-op.
//! resilience::metrics::publish();
//! ```

use std::time::Duration;

use metrics::{counter, gauge};

use crate::breaker::State;
use crate::registry::{self, Calls, Instance, Snapshot};

/// Copies every instance's counters and gauges (see the module's table)
/// into the installed recorder. Counters are set to their absolute value,
/// so calling it often, or from several places, counts nothing twice.
///
/// ```
/// resilience::metrics::publish();
/// ```
pub fn publish() {
    for instance in registry::instances() {
        publish_one(&instance);
    }
}

/// Calls [`publish`] every `every` on the current tokio runtime until the
/// returned handle is aborted: for push exporters (OpenTelemetry, StatsD).
///
/// # Panics
///
/// Outside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let publisher = resilience::metrics::spawn_publisher(std::time::Duration::from_secs(10));
/// publisher.abort();
/// # }
/// ```
pub fn spawn_publisher(every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            publish();
        }
    })
}

fn calls(layer: &'static str, name: &str, calls: Calls) {
    for (outcome, n) in [
        ("success", calls.succeeded),
        ("failure", calls.failed),
        ("rejected", calls.rejected),
    ] {
        counter!("resilience_calls_total", "layer" => layer, "name" => name.to_owned(), "outcome" => outcome)
            .absolute(n);
    }
}

fn breaker_state(name: &str, current: State) {
    for state in State::ALL {
        gauge!("resilience_circuit_breaker_state", "name" => name.to_owned(), "state" => state.label())
            .set(if state == current { 1.0 } else { 0.0 });
    }
}

fn publish_one(i: &Instance) {
    let name = i.name.as_str();
    let layer = i.kind.as_str();
    match &i.snapshot {
        Snapshot::CircuitBreaker(b) => {
            calls(layer, name, b.calls);
            breaker_state(name, b.state);
            gauge!("resilience_circuit_breaker_failure_rate", "name" => name.to_owned())
                .set(b.failure_rate.unwrap_or(0.0));
        }
        Snapshot::Retry(r) => {
            calls(layer, name, r.calls);
            for (kind, n) in [
                ("successful_without_retry", r.successful_without_retry),
                ("successful_with_retry", r.successful_with_retry),
                ("failed_without_retry", r.failed_without_retry),
                ("failed_with_retry", r.failed_with_retry),
            ] {
                counter!("resilience_retry_calls_total", "name" => name.to_owned(), "kind" => kind)
                    .absolute(n);
            }
            counter!("resilience_retry_attempts_total", "name" => name.to_owned())
                .absolute(r.retries);
        }
        Snapshot::Timeout(t) => {
            calls(layer, name, t.calls);
            gauge!("resilience_timeout_seconds", "name" => name.to_owned())
                .set(t.timeout.as_secs_f64());
        }
        Snapshot::AdaptiveTimeout(t) => {
            calls(layer, name, t.calls);
            gauge!("resilience_timeout_seconds", "name" => name.to_owned())
                .set(t.current.as_secs_f64());
        }
        Snapshot::Bulkhead(b) => {
            calls(layer, name, b.calls);
            gauge!("resilience_bulkhead_in_use", "name" => name.to_owned()).set(b.in_use as f64);
            gauge!("resilience_bulkhead_max", "name" => name.to_owned())
                .set(b.max_concurrent as f64);
            gauge!("resilience_bulkhead_waiting", "name" => name.to_owned()).set(b.waiting as f64);
        }
        Snapshot::RateLimiter(r) => {
            calls(layer, name, r.calls);
            gauge!("resilience_rate_limiter_available", "name" => name.to_owned())
                .set(f64::from(r.available));
        }
        Snapshot::Hedge(h) => calls(layer, name, h.calls),
        Snapshot::Fallback(f) => {
            calls(layer, name, f.calls());
            for (index, n) in f.levels_used.iter().enumerate() {
                counter!("resilience_fallback_total", "name" => name.to_owned(), "level" => (index + 1).to_string())
                    .absolute(*n);
            }
        }
        #[cfg(feature = "stale-cache")]
        Snapshot::StaleCache(_) => {}
        Snapshot::Chaos => {}
        #[cfg(feature = "redis")]
        Snapshot::FleetRateLimiter(f) => {
            gauge!("resilience_fleet_rate_limiter_leased", "name" => name.to_owned())
                .set(f64::from(f.leased));
            counter!("resilience_fleet_rate_limiter_round_trips_total", "name" => name.to_owned())
                .absolute(f.round_trips);
            counter!("resilience_fleet_rate_limiter_store_errors_total", "name" => name.to_owned())
                .absolute(f.store_errors);
        }
        Snapshot::AdaptiveConcurrency(a) => {
            gauge!("resilience_adaptive_concurrency_limit", "name" => name.to_owned())
                .set(a.limit as f64);
            gauge!("resilience_adaptive_concurrency_in_flight", "name" => name.to_owned())
                .set(a.in_flight as f64);
            gauge!("resilience_adaptive_concurrency_waiting", "name" => name.to_owned())
                .set(a.waiting as f64);
            for (priority, n) in &a.shed_by_priority {
                counter!("resilience_adaptive_concurrency_shed_total", "name" => name.to_owned(), "priority" => priority.to_string())
                    .absolute(*n);
            }
        }
    }
}

/// A breaker changed state: its state gauges and transition counter, now.
pub(crate) fn breaker_transition(name: &str, from: State, to: State) {
    breaker_state(name, to);
    counter!(
        "resilience_circuit_breaker_transitions_total",
        "name" => name.to_owned(),
        "from" => from.label(),
        "to" => to.label()
    )
    .increment(1);
}
