//! Regressions of issue 12 in the circuit breaker runtime: each test is
//! named after what broke, and failed before its fix.

use std::time::Duration;

use resilience::breaker::{State, WindowSize};
use resilience::{BreakerPolicy, CircuitBreaker, Rejection, circuit_breaker};
use tokio::time::{advance, sleep};

/// Item 1: a sibling in the same `join!` panics while the breaker's call is
/// pending; the call is dropped while that panic unwinds. It was cancelled,
/// not failed.
#[tokio::test(start_paused = true)]
async fn a_call_cancelled_by_an_unrelated_panic_is_not_a_failure() {
    static B: CircuitBreaker = CircuitBreaker::new("u2", BreakerPolicy::new().failure_threshold(1));
    let joined = tokio::spawn(async {
        let call = B.call(async {
            sleep(Duration::from_secs(1)).await;
            Ok::<_, Rejection>(())
        });
        let _ = tokio::join!(call, async {
            tokio::task::yield_now().await;
            panic!("unrelated")
        });
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(B.state(), State::Closed);

    // The same through the macro, with a half-open trial: the trial permit
    // is given back, not spent on a failure.
    static T: CircuitBreaker = CircuitBreaker::new(
        "u2-trial",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(1)),
    );
    #[circuit_breaker(with = T)]
    async fn slow_trial() -> Result<(), Rejection> {
        sleep(Duration::from_secs(1)).await;
        Ok(())
    }
    T.try_acquire().unwrap().failure();
    advance(Duration::from_secs(1)).await;
    let joined = tokio::spawn(async {
        let _ = tokio::join!(slow_trial(), async {
            tokio::task::yield_now().await;
            panic!("unrelated")
        });
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(T.state(), State::HalfOpen);
    assert_eq!(T.snapshot().trials_in_flight, 0);
    assert_eq!(slow_trial().await, Ok(()));
    assert_eq!(T.state(), State::Closed);
}

/// Item 1, the other side: the call's own panic, raised while the breaker
/// polls it, still counts as a failure when the call was pending first.
#[tokio::test(start_paused = true)]
async fn the_calls_own_panic_after_a_pending_poll_is_a_failure() {
    static B: CircuitBreaker =
        CircuitBreaker::new("own-panic", BreakerPolicy::new().failure_threshold(1));
    let joined = tokio::spawn(B.call(async {
        sleep(Duration::from_secs(1)).await;
        if true {
            panic!("the call itself")
        }
        Ok::<_, Rejection>(())
    }))
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(B.state(), State::Open);
}

/// Item 2: `reset()` on a closed rate-mode breaker kept its window, so one
/// more failure after it opened the circuit.
#[tokio::test(start_paused = true)]
async fn reset_forgets_the_rate_window() {
    for (name, window) in [
        ("reset-calls", WindowSize::Calls(10)),
        ("reset-time", WindowSize::Time(Duration::from_secs(10))),
    ] {
        let b = CircuitBreaker::new(
            name,
            BreakerPolicy::new().failure_rate(0.5, window).min_calls(10),
        );
        for _ in 0..9 {
            b.try_acquire().unwrap().failure();
        }
        assert_eq!(b.snapshot().calls_in_window, 9);
        b.reset();
        assert_eq!(b.snapshot().calls_in_window, 0, "{name}");
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), State::Closed, "{name}");
        assert_eq!(b.snapshot().failures_in_window, 1, "{name}");
    }
}

/// Item 3: a time window held at most 40,950 calls (its buckets halved
/// when full), so `min_calls = 50000` was never reached.
#[tokio::test(start_paused = true)]
async fn a_time_window_counts_every_call() {
    #[circuit_breaker(failure_rate = 0.5, window = "10s", min_calls = 50000)]
    async fn call(fail: bool) -> Result<(), Rejection> {
        if fail {
            Err(Rejection::timeout("t", Duration::from_secs(1)))
        } else {
            Ok(())
        }
    }
    let b = CircuitBreaker::new(
        "every-call",
        BreakerPolicy::new()
            .failure_rate(0.5, WindowSize::Time(Duration::from_secs(10)))
            .min_calls(50_000),
    );
    for i in 0..49_999u32 {
        b.try_acquire().unwrap().record_if(i % 2 == 0);
    }
    let s = b.snapshot();
    assert_eq!((s.calls_in_window, s.failures_in_window), (49_999, 25_000));
    assert_eq!(b.state(), State::Closed);
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Open, "50 % of 50,000 calls failed");

    // Through the macro, every call failing.
    for _ in 0..50_000 {
        assert!(call(true).await.is_err());
    }
    assert!(matches!(
        call(false).await,
        Err(Rejection::CircuitOpen { .. })
    ));
}

/// Item 9: bucket stamps wrapped after 2^28 bucket widths (7.5 h for a
/// 1 ms window), and a failure that old counted again.
#[tokio::test(start_paused = true)]
async fn a_failure_older_than_the_stamp_wrap_stays_forgotten() {
    let b = CircuitBreaker::new(
        "stamp-wrap",
        BreakerPolicy::new()
            .failure_rate(0.5, WindowSize::Time(Duration::from_millis(1)))
            .min_calls(2),
    );
    b.try_acquire().unwrap().failure();
    assert_eq!(b.snapshot().failures_in_window, 1);
    // 2^28 widths of 100 µs.
    advance(Duration::from_micros(100 << 28)).await;
    assert_eq!(b.snapshot().calls_in_window, 0);
    b.try_acquire().unwrap().failure();
    let s = b.snapshot();
    assert_eq!((s.calls_in_window, s.failures_in_window), (1, 1));
    assert_eq!(b.state(), State::Closed, "one failure is below min_calls");
}

/// Item 10: the generation was 13 bits, so after 8,192 transitions a
/// permit from before them counted again.
#[tokio::test(start_paused = true)]
async fn a_stale_permit_stays_stale_after_8192_transitions() {
    let b = CircuitBreaker::new("gen-wrap", BreakerPolicy::new().failure_threshold(2));
    let stale = b.try_acquire().unwrap();
    for _ in 0..4096 {
        b.force_open();
        b.reset();
    }
    stale.failure();
    assert_eq!(b.snapshot().consecutive_failures, 0);
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Closed, "one failure of two");
}

/// Item 20: a static breaker outlives a paused test runtime whose clock
/// ran an hour ahead; the next runtime's clock starts back near real time.
#[test]
fn a_clock_that_moves_back_keeps_a_breaker_open_at_most_open_for() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "two-clocks",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(10)),
    );
    static W: CircuitBreaker = CircuitBreaker::new(
        "two-clocks-window",
        BreakerPolicy::new()
            .failure_rate(0.5, WindowSize::Time(Duration::from_secs(10)))
            .min_calls(4),
    );
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    };
    paused().block_on(async {
        advance(Duration::from_secs(3600)).await;
        B.try_acquire().unwrap().failure();
        assert_eq!(B.state(), State::Open);
        for _ in 0..3 {
            W.try_acquire().unwrap().failure();
        }
        assert_eq!(W.snapshot().calls_in_window, 3);
    });
    paused().block_on(async {
        // The first runtime's failures are stamped an hour in this clock's
        // future: they are not in this clock's window.
        assert_eq!(W.snapshot().calls_in_window, 0);
        W.try_acquire().unwrap().failure();
        assert_eq!(W.state(), State::Closed, "one failure, not four");
        assert_eq!(W.snapshot().calls_in_window, 1);

        // Open for at most `open_for` on this clock (its opening is in
        // this clock's future, so the wait is over).
        advance(Duration::from_secs(10)).await;
        let trial = B.try_acquire().expect("open_for has passed on this clock");
        assert!(trial.is_trial());
        trial.success();
        assert_eq!(B.state(), State::Closed);
    });
}

trait RecordIf {
    fn record_if(self, fail: bool);
}

impl RecordIf for resilience::breaker::Permit<'_> {
    fn record_if(self, fail: bool) {
        if fail { self.failure() } else { self.success() }
    }
}
