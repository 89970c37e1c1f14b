//! `anyhow::Error` and `Box<dyn Error + Send + Sync>` classify the same
//! through the macros and through `Retry::call` / `CircuitBreaker::call` by
//! hand: as the error they wrap (issue 12, item 19).

use std::error::Error;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::breaker::State;
use resilience::{
    Backoff, BreakerPolicy, CircuitBreaker, Retry, RetryPolicy, circuit_breaker, retry,
};

type BoxError = Box<dyn Error + Send + Sync>;

fn permanent_io() -> io::Error {
    io::Error::from(io::ErrorKind::PermissionDenied)
}

fn transient_io() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionReset)
}

const POLICY: RetryPolicy = RetryPolicy::new()
    .max_attempts(3)
    .backoff(Backoff::Fixed)
    .base(Duration::from_millis(1));

static ANYHOW_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
async fn anyhow_call(permanent: bool) -> anyhow::Result<u8> {
    ANYHOW_CALLS.fetch_add(1, Ordering::SeqCst);
    let io = if permanent {
        permanent_io()
    } else {
        transient_io()
    };
    Err(anyhow::Error::from(io).context("fetching the quota"))
}

#[tokio::test(start_paused = true)]
async fn the_macro_does_not_retry_an_anyhow_error_wrapping_a_permanent_one() {
    ANYHOW_CALLS.store(0, Ordering::SeqCst);
    anyhow_call(true).await.unwrap_err();
    assert_eq!(ANYHOW_CALLS.load(Ordering::SeqCst), 1);
    anyhow_call(false).await.unwrap_err();
    assert_eq!(
        ANYHOW_CALLS.load(Ordering::SeqCst),
        1 + 3,
        "a transient one is retried"
    );
}

static BOXED_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
async fn boxed_call(permanent: bool) -> Result<u8, BoxError> {
    BOXED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(if permanent {
        permanent_io()
    } else {
        transient_io()
    }
    .into())
}

#[tokio::test(start_paused = true)]
async fn the_macro_does_not_retry_a_boxed_permanent_error() {
    BOXED_CALLS.store(0, Ordering::SeqCst);
    boxed_call(true).await.unwrap_err();
    assert_eq!(BOXED_CALLS.load(Ordering::SeqCst), 1);
    boxed_call(false).await.unwrap_err();
    assert_eq!(BOXED_CALLS.load(Ordering::SeqCst), 1 + 3);
}

/// Attempts `Retry::call` makes for an error built by `error`.
async fn attempts_by_hand<E: resilience::Classify>(error: impl Fn() -> E) -> u32 {
    let retry = Retry::new("by-hand", POLICY);
    let calls = AtomicU32::new(0);
    let out: Result<(), E> = retry
        .call(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            let error = error();
            async move { Err(error) }
        })
        .await;
    assert!(out.is_err());
    calls.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn retry_by_hand_classifies_a_boxed_error_as_the_macro_does() {
    assert_eq!(attempts_by_hand(|| BoxError::from(permanent_io())).await, 1);
    assert_eq!(attempts_by_hand(|| BoxError::from(transient_io())).await, 3);
    assert_eq!(
        attempts_by_hand(|| BoxError::from("opaque")).await,
        3,
        "unknown: transient"
    );
}

static BREAKER_OPENED_BY_MACRO: CircuitBreaker =
    CircuitBreaker::new("classify-macro", BreakerPolicy::new().failure_threshold(1));

#[circuit_breaker(with = BREAKER_OPENED_BY_MACRO)]
async fn guarded(permanent: bool) -> anyhow::Result<u8> {
    Err(anyhow::Error::from(if permanent {
        permanent_io()
    } else {
        transient_io()
    }))
}

#[tokio::test(start_paused = true)]
async fn the_macro_breaker_does_not_count_a_wrapped_permanent_error() {
    guarded(true).await.unwrap_err();
    assert_eq!(
        BREAKER_OPENED_BY_MACRO.state(),
        State::Closed,
        "the caller's fault"
    );
    guarded(false).await.unwrap_err();
    assert_eq!(BREAKER_OPENED_BY_MACRO.state(), State::Open);
}

#[cfg(feature = "anyhow")]
mod by_hand_with_the_anyhow_feature {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retry_by_hand_takes_anyhow_and_classifies_as_the_macro_does() {
        let permanent = || anyhow::Error::from(permanent_io()).context("fetching the quota");
        let transient = || anyhow::Error::from(transient_io()).context("fetching the quota");
        assert_eq!(attempts_by_hand(permanent).await, 1);
        assert_eq!(attempts_by_hand(transient).await, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_by_hand_takes_anyhow() {
        let breaker = CircuitBreaker::named(
            "classify-by-hand",
            BreakerPolicy::new().failure_threshold(1),
        );
        let out: anyhow::Result<()> = breaker.call(async { Err(permanent_io().into()) }).await;
        out.unwrap_err();
        assert_eq!(
            breaker.state(),
            State::Closed,
            "a permanent error is not the service's"
        );
        let out: anyhow::Result<()> = breaker.call(async { Err(transient_io().into()) }).await;
        out.unwrap_err();
        assert_eq!(breaker.state(), State::Open);
        let out: anyhow::Result<()> = breaker.call(async { Ok(()) }).await;
        let rejection = out
            .unwrap_err()
            .downcast::<resilience::Rejection>()
            .unwrap();
        assert!(matches!(
            rejection,
            resilience::Rejection::CircuitOpen { .. }
        ));
    }
}
