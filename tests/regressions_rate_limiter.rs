//! Regressions of the rate limiter (issue 12, items 4, 5 and 20): refunds
//! that over-admitted, saturated arithmetic that removed the limit, and a
//! static limiter that kept one paused clock's time into the next.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use resilience::{RateLimiter, Rejection, rate_limiter};
use tokio::time::{Instant, advance};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn retry_after(result: Result<(), Rejection>) -> Duration {
    match result {
        Err(Rejection::RateLimited { retry_after, .. }) => retry_after,
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

/// Polls `f` once; `true` when it is still pending.
async fn still_pending<F: Future + Unpin>(f: &mut F) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx).is_pending())).await
}

// ---- item 4: a dropped waiter gives back its own turn, or none ----

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_its_turn_passed_gives_no_extra_call() {
    // One call per 100 ms, one at a time.
    let limiter = RateLimiter::new("late-drop", 10, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(1));
    limiter.check().unwrap();
    // Its turn is at 100 ms; it is never polled again.
    let mut waiter = Box::pin(limiter.acquire());
    assert!(still_pending(&mut waiter).await);
    advance(ms(200)).await;
    limiter
        .check()
        .expect("the cell after the waiter's, at 200 ms");
    drop(waiter);
    assert_eq!(
        retry_after(limiter.check()),
        ms(100),
        "the dropped waiter's turn had passed: nothing is given back at 200 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_before_a_later_one_lets_no_two_calls_in_at_once() {
    let limiter = Arc::new(
        RateLimiter::new("queue-drop", 10, Duration::from_secs(1))
            .burst(1)
            .max_wait(Duration::from_secs(1)),
    );
    let starts = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let waiter = |id: u32| {
        let (limiter, starts) = (limiter.clone(), starts.clone());
        tokio::spawn(async move {
            limiter.acquire().await.unwrap();
            starts.lock().unwrap().push((id, start.elapsed()));
        })
    };
    limiter.check().unwrap();
    let first = waiter(1); // turn at 100 ms
    tokio::task::yield_now().await;
    let second = waiter(2); // turn at 200 ms
    tokio::task::yield_now().await;
    first.abort();
    let _ = first.await;
    let third = waiter(3);
    second.await.unwrap();
    third.await.unwrap();
    let starts = starts.lock().unwrap().clone();
    assert_eq!(starts[0], (2, ms(200)));
    assert_eq!(
        starts[1],
        (3, ms(300)),
        "burst 1: never two calls at one instant"
    );
}

// ---- item 5: settings whose arithmetic would saturate are refused ----

#[test]
#[should_panic(expected = "the 100 years a rate limiter can measure")]
fn a_burst_beyond_what_the_clock_can_hold_is_refused_at_construction() {
    // 6 × 1,000,000 h does not fit in u64 nanoseconds: once saturated, every
    // call was admitted.
    let _ = RateLimiter::new("huge", 1, Duration::from_secs(3_600_000_000)).burst(6);
}

#[test]
#[should_panic(expected = "the 100 years a rate limiter can measure")]
fn a_period_beyond_what_the_clock_can_hold_is_refused_at_construction() {
    let _ = RateLimiter::new("huge", 1, Duration::from_secs(3_600_000_000_000));
}

const CENTURY: Duration = Duration::from_secs(100 * 31_557_600);

#[tokio::test(start_paused = true)]
async fn the_longest_accepted_burst_still_limits() {
    let limiter = RateLimiter::new("century", 1, CENTURY);
    limiter.check().unwrap();
    assert_eq!(retry_after(limiter.check()), CENTURY);
    advance(Duration::from_secs(3600)).await;
    assert_eq!(
        retry_after(limiter.check()),
        CENTURY - Duration::from_secs(3600)
    );
}

#[tokio::test(start_paused = true)]
async fn an_unbounded_max_wait_waits_for_each_turn() {
    let limiter = RateLimiter::new("patient", 1, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::MAX);
    let start = Instant::now();
    for n in 0..4 {
        limiter.acquire().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(n));
    }
    assert_eq!(retry_after(limiter.check()), Duration::from_secs(1));
}

// ---- item 20: one limiter across tests, each with its own paused clock ----

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

static SHARED: RateLimiter = RateLimiter::new("shared", 1, Duration::from_secs(1));

#[test]
fn a_static_limiter_follows_the_next_tests_paused_clock() {
    // The first "test" uses the limiter, then moves its clock an hour on.
    paused_runtime().block_on(async {
        SHARED.check().unwrap();
        advance(Duration::from_secs(3600)).await;
        SHARED.check().unwrap();
        assert_eq!(retry_after(SHARED.check()), Duration::from_secs(1));
    });
    // The next one starts a new paused clock, an hour behind.
    paused_runtime().block_on(async {
        assert_eq!(SHARED.snapshot().available, 1);
        SHARED
            .check()
            .expect("a fresh clock starts with a fresh quota, not one an hour ahead");
        assert_eq!(retry_after(SHARED.check()), Duration::from_secs(1));
        advance(Duration::from_secs(1)).await;
        SHARED.check().expect("time moves on the new clock as well");
    });
}

static FIRST_USED_LATE: RateLimiter =
    RateLimiter::new("first-used-late", 1, Duration::from_secs(1));

#[test]
fn a_static_limiter_first_used_late_on_a_paused_clock_works_on_the_next() {
    // First used an hour into a paused clock: the next clock reads before
    // that first use.
    paused_runtime().block_on(async {
        advance(Duration::from_secs(3600)).await;
        FIRST_USED_LATE.check().unwrap();
        assert!(FIRST_USED_LATE.check().is_err());
    });
    paused_runtime().block_on(async {
        FIRST_USED_LATE.check().unwrap();
        assert_eq!(retry_after(FIRST_USED_LATE.check()), Duration::from_secs(1));
        advance(Duration::from_secs(1)).await;
        FIRST_USED_LATE
            .check()
            .expect("time moves on the new clock, though it reads before the first use");
    });
}

#[rate_limiter(rate = 1, per = "1s")]
async fn once_a_second() -> Result<(), Rejection> {
    Ok(())
}

#[test]
fn the_macros_static_limiter_follows_the_next_tests_paused_clock() {
    paused_runtime().block_on(async {
        once_a_second().await.unwrap();
        advance(Duration::from_secs(3600)).await;
        once_a_second().await.unwrap();
    });
    paused_runtime().block_on(async {
        assert_eq!(
            once_a_second().await,
            Ok(()),
            "not refused for the hour the previous test's clock ran ahead"
        );
        assert_eq!(retry_after(once_a_second().await), Duration::from_secs(1));
    });
}

#[tokio::test(start_paused = true)]
async fn reset_gives_back_the_whole_burst() {
    let limiter = RateLimiter::new("reset", 10, Duration::from_secs(1)).burst(3);
    for _ in 0..3 {
        limiter.check().unwrap();
    }
    assert!(limiter.check().is_err());
    limiter.reset();
    assert_eq!(limiter.snapshot().available, 3);
    for _ in 0..3 {
        limiter.check().unwrap();
    }
    assert_eq!(retry_after(limiter.check()), ms(100));
}
