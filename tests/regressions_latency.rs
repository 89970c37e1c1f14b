//! Regressions of issue 12 in timing and latency: edge durations that
//! overflowed an `Instant`, adaptive settings that panicked inside a call,
//! latency windows that kept stale samples, and calls made outside a Tokio
//! runtime. Time runs on tokio's paused clock.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::{AdaptiveTimeout, Rejection, Retry, RetryPolicy, Timeout, timeout};

async fn answer_after(work: Duration) -> Result<u32, Rejection> {
    tokio::time::sleep(work).await;
    Ok(7)
}

// Item 6: `Duration::MAX` means "no limit", not a panic.

#[tokio::test(start_paused = true)]
async fn a_timeout_of_duration_max_never_fires() {
    let t = Timeout::new("forever", Duration::MAX);
    assert_eq!(t.call(answer_after(Duration::from_secs(3600))).await, Ok(7));
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_timeout_with_max_duration_max_never_overflows() {
    let t = AdaptiveTimeout::new(
        "unbounded",
        0.99,
        2.0,
        Duration::from_millis(1),
        Duration::MAX,
    );
    assert_eq!(t.current(), Duration::MAX);
    for _ in 0..30 {
        assert_eq!(t.call(answer_after(Duration::from_millis(10))).await, Ok(7));
    }
    let now = t.current();
    assert!(
        now >= Duration::from_millis(20) && now <= Duration::from_millis(23),
        "{now:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_huge_multiplier_stops_at_max_instead_of_panicking_in_the_call() {
    let max = Duration::from_secs(5);
    let t = AdaptiveTimeout::new("huge", 0.99, 1e300, Duration::from_millis(1), max);
    for _ in 0..30 {
        assert_eq!(t.call(answer_after(Duration::from_millis(10))).await, Ok(7));
    }
    assert_eq!(t.current(), max);
}

#[test]
#[should_panic(expected = "`min` must be below `max`: the timeout moves between them")]
fn adaptive_timeout_refuses_min_above_max_at_construction() {
    let _ = AdaptiveTimeout::new(
        "inverted",
        0.99,
        2.0,
        Duration::from_secs(5),
        Duration::from_millis(50),
    );
}

#[test]
#[should_panic(expected = "`multiplier` scales the observed quantile and must be at least 1")]
fn adaptive_timeout_refuses_a_nan_multiplier_at_construction() {
    let _ = AdaptiveTimeout::new(
        "nan",
        0.99,
        f64::NAN,
        Duration::from_millis(50),
        Duration::from_secs(5),
    );
}

#[test]
#[should_panic(expected = "`multiplier` scales the observed quantile and must be at least 1")]
fn adaptive_timeout_refuses_a_negative_multiplier_at_construction() {
    let _ = AdaptiveTimeout::new(
        "negative",
        0.99,
        -2.0,
        Duration::from_millis(50),
        Duration::from_secs(5),
    );
}

#[test]
#[should_panic(expected = "`quantile` is a fraction of calls, above 0 and at most 1")]
fn adaptive_timeout_refuses_a_quantile_above_one_at_construction() {
    let _ = AdaptiveTimeout::new(
        "p150",
        1.5,
        2.0,
        Duration::from_millis(50),
        Duration::from_secs(5),
    );
}

#[test]
#[should_panic(expected = "`min` of zero would let the timeout shrink to nothing")]
fn adaptive_timeout_refuses_a_zero_min_at_construction() {
    let _ = AdaptiveTimeout::new("zero", 0.99, 2.0, Duration::ZERO, Duration::from_secs(5));
}

#[test]
#[should_panic(expected = "a timeout of zero would fail every call")]
fn timeout_refuses_zero_at_construction() {
    let _ = Timeout::named("zero", Duration::ZERO);
}

// Item 7: after a quiet spell, old latencies no longer decide the timeout.

#[tokio::test(start_paused = true)]
async fn a_quiet_spell_empties_the_adaptive_timeouts_window() {
    let t = AdaptiveTimeout::new(
        "quiet",
        0.99,
        2.0,
        Duration::from_millis(1),
        Duration::from_secs(10),
    );
    // A slow minute: 100 calls of 2 s, all at once.
    let slow: Vec<_> = (0..100)
        .map(|_| t.call(answer_after(Duration::from_secs(2))))
        .collect();
    for out in futures_join_all(slow).await {
        assert_eq!(out, Ok(7));
    }
    assert!(t.current() >= Duration::from_secs(4), "{:?}", t.current());

    // An hour without calls, then fast ones.
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(t.snapshot().samples, 0, "hour-old latencies still counted");
    assert_eq!(t.call(answer_after(Duration::from_millis(10))).await, Ok(7));
    assert_eq!(
        t.current(),
        Duration::from_secs(10),
        "one sample after the quiet spell: `max` until enough are seen"
    );
    for _ in 0..40 {
        assert_eq!(t.call(answer_after(Duration::from_millis(10))).await, Ok(7));
    }
    let now = t.current();
    assert!(
        now <= Duration::from_millis(23),
        "the timeout follows the last 10 s, not an hour ago: {now:?}"
    );
}

/// Awaits every future of `futures` concurrently (no `futures` dependency).
async fn futures_join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(&mut outputs) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(out) => *output = Some(out),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

// Item 18: outside a Tokio runtime, the panic names this crate and the fix.

/// Polls `future` once, on no runtime at all.
fn poll_once_outside_a_runtime<F: Future>(future: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(future).poll(&mut cx)
}

#[timeout("1s")]
async fn waits_forever() -> Result<(), Rejection> {
    std::future::pending().await
}

#[test]
#[should_panic(
    expected = "resilience: `#[timeout]` (`Timeout`, `AdaptiveTimeout`) was polled outside a Tokio runtime; it needs one with the time driver enabled"
)]
fn an_annotated_call_outside_a_runtime_names_the_crate_and_the_fix() {
    let _ = poll_once_outside_a_runtime(waits_forever());
}

#[test]
#[should_panic(expected = "resilience: `#[retry]` (`Retry`) was polled outside a Tokio runtime")]
fn a_retry_instance_outside_a_runtime_names_the_crate_and_the_fix() {
    let retry = Retry::new("outside", RetryPolicy::new().max_attempts(2));
    let _ = poll_once_outside_a_runtime(
        retry.call(|| async { Err::<(), _>(std::io::Error::other("down")) }),
    );
}

#[test]
#[should_panic(
    expected = "add `enable_time()` (or `enable_all()`) to its `tokio::runtime::Builder`"
)]
fn an_annotated_call_in_a_runtime_without_timers_names_the_fix() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _ = runtime.block_on(waits_forever());
}

#[test]
fn a_call_that_needs_no_timer_runs_outside_a_runtime() {
    // The check is where a timer is made, not on the fast path.
    #[timeout("1s")]
    async fn instant() -> Result<u32, Rejection> {
        Ok(3)
    }
    assert_eq!(poll_once_outside_a_runtime(instant()), Poll::Ready(Ok(3)));
}
