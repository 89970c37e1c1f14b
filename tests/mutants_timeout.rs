//! `Timeout` and `AdaptiveTimeout` without the macro, and their named sites
//! (issue 22, mutation testing): the names and counters a user reads, a
//! reload, when the adaptive timeout starts to follow latency and how often
//! it moves after that, and that a dropped waiting call keeps nothing.
//! Time runs on tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use resilience::registry::{self, Calls};
use resilience::{AdaptiveTimeout, Rejection, Timeout, timeout};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Answers after `latency`.
async fn work(latency: Duration) -> Result<(), Rejection> {
    tokio::time::sleep(latency).await;
    Ok(())
}

/// Answers after `latency` (never, for `Duration::MAX`), `Ok` or `Err`.
async fn answer(latency: Duration, ok: bool) -> Result<(), String> {
    if latency == Duration::MAX {
        std::future::pending::<()>().await;
    } else if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if ok { Ok(()) } else { Err("inner".into()) }
}

#[test]
fn instances_report_their_names() {
    assert_eq!(Timeout::new("mt-fixed", ms(5)).name(), "mt-fixed");
    assert_eq!(
        Timeout::named(String::from("mt-run-time"), ms(5)).name(),
        "mt-run-time"
    );
    let adaptive = AdaptiveTimeout::new("mt-adaptive", 0.9, 2.0, ms(1), ms(50));
    assert_eq!(adaptive.name(), "mt-adaptive");
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_timeouts_rejection_carries_its_name() {
    let t = AdaptiveTimeout::new("mt-adaptive-name", 0.9, 2.0, ms(1), ms(50));
    let err = t
        .call(std::future::pending::<Result<(), Rejection>>())
        .await
        .unwrap_err();
    assert_eq!(err, Rejection::timeout("mt-adaptive-name", ms(50)));
}

/// Succeeded, failed, timed out.
fn counts(calls: Calls) -> (u64, u64, u64) {
    (calls.succeeded, calls.failed, calls.rejected)
}

/// Each call is counted once, by outcome: answered `Ok`, answered `Err`
/// (on its first poll or after waiting), or cut off at the deadline.
#[tokio::test(start_paused = true)]
async fn calls_are_counted_by_outcome() {
    let reject = |r: Rejection| r.to_string();
    // (how long the body takes, whether it answers `Ok`, whether the call
    // ends `Ok`): `Duration::MAX` is cut off at the deadline.
    let fixed = Timeout::new("mt-counts", ms(100));
    for (takes, ok, ends_ok) in [
        (Duration::ZERO, true, true),
        (ms(10), true, true),
        (ms(10), false, false),
        (Duration::ZERO, false, false),
        (Duration::MAX, true, false),
        (Duration::MAX, true, false),
    ] {
        let out = fixed.call_with(answer(takes, ok), reject).await;
        assert_eq!(out.is_ok(), ends_ok, "{takes:?} {ok}");
    }
    assert_eq!(counts(fixed.snapshot().calls), (2, 2, 2));

    let adaptive = AdaptiveTimeout::new("mt-adaptive-counts", 0.9, 2.0, ms(1), ms(100));
    for (takes, ok, ends_ok) in [
        (Duration::ZERO, true, true),
        (ms(10), true, true),
        (ms(20), true, true),
        (ms(10), false, false),
        (Duration::MAX, true, false),
    ] {
        let out = adaptive.call_with(answer(takes, ok), reject).await;
        assert_eq!(out.is_ok(), ends_ok, "{takes:?} {ok}");
    }
    let snapshot = adaptive.snapshot();
    assert_eq!(counts(snapshot.calls), (3, 1, 1));
    // Every call's latency is a sample, the timed-out one included.
    assert_eq!(snapshot.samples, 5);
}

#[tokio::test(start_paused = true)]
async fn a_reload_sets_the_deadline_of_later_calls() {
    let t = Timeout::new("mt-reload", ms(100));
    t.reconfigure(ms(30));
    assert_eq!(t.duration(), ms(30));
    let start = Instant::now();
    let err = t
        .call(std::future::pending::<Result<(), Rejection>>())
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), ms(30));
    assert_eq!(err, Rejection::timeout("mt-reload", ms(30)));
}

/// The adaptive timeout keeps `max` until it has seen 20 calls, then
/// follows them on every call while it warms up (the first 40).
#[tokio::test(start_paused = true)]
async fn the_adaptive_timeout_follows_each_call_from_the_twentieth() {
    // The largest latency seen (quantile 1) × 2, from 1 ms to 1 s.
    let t = AdaptiveTimeout::new("mt-warm-up", 1.0, 2.0, ms(1), Duration::from_secs(1));
    for n in 1..=40 {
        t.call(work(ms(n))).await.unwrap();
        let current = t.current();
        if n < 20 {
            assert_eq!(current, Duration::from_secs(1), "after {n} calls");
        } else {
            // n ms, rounded up to its latency bucket (at most 12.5 %), × 2.
            assert!(
                current >= ms(2 * n) && current <= ms(2 * n + n / 4 + 1),
                "after {n} calls: {current:?}"
            );
        }
    }
}

/// Past warm-up the timeout is recomputed every 32 calls, not on each:
/// a slower spell moves it at the 64th call, not at the 41st.
#[tokio::test(start_paused = true)]
async fn after_warm_up_the_adaptive_timeout_moves_every_32_calls() {
    let t = AdaptiveTimeout::new("mt-cadence", 1.0, 4.0, ms(1), Duration::from_secs(1));
    for _ in 0..40 {
        t.call(work(ms(10))).await.unwrap();
    }
    let warm = t.current();
    assert!(warm >= ms(40) && warm <= ms(46), "{warm:?}");
    for n in 41..=64 {
        t.call(work(ms(20))).await.unwrap();
        if n < 64 {
            assert_eq!(t.current(), warm, "after {n} calls");
        }
    }
    let moved = t.current();
    assert!(moved >= ms(80) && moved <= ms(91), "{moved:?}");
}

#[timeout(
    adaptive,
    name = "mt-shared-adaptive",
    quantile = 0.9,
    min = "10ms",
    max = "1s"
)]
async fn adaptive_a() -> Result<(), Rejection> {
    Ok(())
}

#[timeout(
    adaptive,
    name = "mt-shared-adaptive",
    quantile = 0.9,
    min = "10ms",
    max = "1s"
)]
async fn adaptive_b() -> Result<(), Rejection> {
    Ok(())
}

#[timeout(
    adaptive,
    name = "mt-shared-adaptive",
    quantile = 0.9,
    min = "10ms",
    max = "2s"
)]
async fn adaptive_conflicting() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn adaptive_sites_with_other_settings_are_recorded_as_conflicts() {
    adaptive_a().await.unwrap();
    adaptive_b().await.unwrap();
    let conflicts = || {
        registry::entries()
            .into_iter()
            .find(|e| e.kind == "adaptive_timeout" && e.name == "mt-shared-adaptive")
            .expect("registered")
            .conflicts
    };
    assert_eq!(conflicts(), 0, "the same settings are the same instance");
    adaptive_conflicting().await.unwrap();
    assert_eq!(conflicts(), 1);
}

/// Counts its wakes; its strong count says who still holds it.
struct Counting(AtomicU32);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Dropping a call that waits drops its timer: nothing holds the caller's
/// waker afterwards, and the deadline passing wakes nobody.
#[tokio::test(start_paused = true)]
async fn a_dropped_waiting_call_keeps_no_timer() {
    let t = Timeout::new("mt-dropped", ms(100));
    let counting = Arc::new(Counting(AtomicU32::new(0)));
    let waker = Waker::from(counting.clone());
    let mut cx = Context::from_waker(&waker);
    let mut call = Box::pin(t.call(std::future::pending::<Result<(), Rejection>>()));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    drop(call);
    drop(waker);
    assert_eq!(
        Arc::strong_count(&counting),
        1,
        "the timer still holds the waker"
    );
    tokio::time::advance(ms(200)).await;
    assert_eq!(counting.0.load(Ordering::SeqCst), 0);
}

#[timeout("40ms", name = "mt-shared-fixed")]
async fn fixed_a() -> Result<(), Rejection> {
    Ok(())
}

#[timeout("40ms", name = "mt-shared-fixed")]
async fn fixed_b() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn fixed_sites_with_the_same_duration_share_the_instance_without_conflict() {
    fixed_a().await.unwrap();
    fixed_b().await.unwrap();
    let entry = registry::entries()
        .into_iter()
        .find(|e| e.kind == "timeout" && e.name == "mt-shared-fixed")
        .expect("registered");
    assert_eq!(entry.conflicts, 0);
}

/// A `max` of `Duration::MAX` leaves the adaptive timeout unbounded: while
/// it warms up, a call may take hours.
#[tokio::test(start_paused = true)]
async fn an_unbounded_adaptive_timeout_does_not_cut_a_long_call_while_warming_up() {
    let t = AdaptiveTimeout::new("mt-unbounded", 0.99, 2.0, ms(1), Duration::MAX);
    t.call(work(ms(10))).await.unwrap();
    assert!(
        t.current() > Duration::from_secs(100 * 365 * 24 * 3600),
        "{:?}",
        t.current()
    );
    let hours = Duration::from_secs(3 * 3600);
    assert_eq!(t.call(work(hours)).await, Ok(()));
}

/// Counts the "adaptive timeout changed" debug events.
struct Changes(Arc<AtomicU32>);

impl tracing::Subscriber for Changes {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 |= format!("{value:?}") == "resilience: adaptive timeout changed";
                }
            }
        }
        let mut message = Message(false);
        event.record(&mut message);
        if message.0 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The debug event says when the timeout moves, not on every recomputation.
#[tokio::test(start_paused = true)]
async fn a_change_of_the_adaptive_timeout_is_logged_once() {
    let changes = Arc::new(AtomicU32::new(0));
    let _guard = tracing::subscriber::set_default(Changes(changes.clone()));
    let t = AdaptiveTimeout::new("mt-logged", 0.99, 2.0, ms(1), Duration::from_secs(1));
    // Steady 10 ms calls: `max` set at the first, 20 ms at the twentieth, then no change.
    for _ in 0..40 {
        t.call(work(ms(10))).await.unwrap();
    }
    assert_eq!(changes.load(Ordering::SeqCst), 2);
}

/// The same instances as tower layers: a rejection names its instance, and
/// an adaptive timeout learns from the calls through the layer.
#[cfg(feature = "tower")]
mod tower_layers {
    use super::*;
    use resilience::tower::{AdaptiveTimeoutLayer, TimeoutLayer};
    use tower::{Layer, ServiceExt, service_fn};

    async fn sleeper(wait: u64) -> Result<u64, std::io::Error> {
        tokio::time::sleep(ms(wait)).await;
        Ok(wait)
    }

    #[tokio::test(start_paused = true)]
    async fn a_layers_rejection_names_its_instance() {
        let fixed = Arc::new(Timeout::named("mt-tower-fixed", ms(30)));
        let error = TimeoutLayer::new(fixed)
            .layer(service_fn(sleeper))
            .oneshot(1_000)
            .await
            .unwrap_err();
        assert_eq!(
            error.downcast_ref::<Rejection>(),
            Some(&Rejection::timeout("mt-tower-fixed", ms(30)))
        );

        let adaptive = Arc::new(AdaptiveTimeout::new(
            "mt-tower-adaptive",
            0.9,
            2.0,
            ms(1),
            ms(40),
        ));
        let error = AdaptiveTimeoutLayer::new(adaptive)
            .layer(service_fn(sleeper))
            .oneshot(1_000)
            .await
            .unwrap_err();
        assert_eq!(
            error.downcast_ref::<Rejection>(),
            Some(&Rejection::timeout("mt-tower-adaptive", ms(40)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_adaptive_layer_records_each_calls_latency() {
        let t = Arc::new(AdaptiveTimeout::new(
            "mt-tower-samples",
            0.9,
            2.0,
            ms(1),
            ms(500),
        ));
        let stack = AdaptiveTimeoutLayer::new(t.clone()).layer(service_fn(sleeper));
        for _ in 0..25 {
            stack.clone().oneshot(10).await.unwrap();
        }
        assert_eq!(t.snapshot().samples, 25);
        let current = t.current();
        assert!(current >= ms(20) && current <= ms(23), "{current:?}");
    }
}
