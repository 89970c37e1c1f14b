//! `AdaptiveConcurrency` as a tower layer (feature `tower`): one instance
//! shared by an annotated function, the runtime API and a tower stack;
//! `poll_ready` reservations, refusals, cancellation, measurement. Time
//! runs paused.
#![cfg(feature = "tower")]

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use resilience::tower::{AdaptiveConcurrencyLayer, BoxError};
use resilience::{AdaptiveConcurrency, LimitAlgorithm, Rejection, adaptive_concurrency};
use tower::{Layer, Service, ServiceExt, service_fn};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Polls `f` once; `Some` if it was ready.
fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    match f.poll(&mut Context::from_waker(waker)) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

fn is_limited(e: &BoxError) -> bool {
    matches!(
        e.downcast_ref::<Rejection>(),
        Some(Rejection::ConcurrencyLimited { .. })
    )
}

static ONE: AdaptiveConcurrency = AdaptiveConcurrency::new("tower-one", LimitAlgorithm::Vegas)
    .min(1)
    .max(1)
    .initial(1);

#[adaptive_concurrency(with = ONE)]
async fn annotated() -> Result<u8, Rejection> {
    Ok(1)
}

/// A place reserved by a tower service's `poll_ready` is the annotated
/// function's and the runtime API's too: one limit for all three.
#[tokio::test(start_paused = true)]
async fn one_instance_limits_the_macro_the_runtime_api_and_a_tower_stack() {
    let calls = Arc::new(AtomicU32::new(0));
    let inner = {
        let calls = calls.clone();
        service_fn(move |x: u8| {
            calls.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, io::Error>(x) }
        })
    };
    let mut service = AdaptiveConcurrencyLayer::new(&ONE).layer(inner);
    service.ready().await.unwrap();
    assert_eq!(ONE.snapshot().in_flight, 1);
    assert!(matches!(
        annotated().await,
        Err(Rejection::ConcurrencyLimited { .. })
    ));
    assert!(ONE.try_acquire(0).is_none());
    assert_eq!(service.call(7).await.unwrap(), 7);
    assert_eq!(ONE.snapshot().in_flight, 0);
    assert_eq!(annotated().await, Ok(1));

    // Held by the runtime API: the tower call is refused without calling
    // the inner service.
    let held = ONE.try_acquire(0).unwrap();
    let refused = service.clone().oneshot(8).await.unwrap_err();
    assert!(is_limited(&refused), "{refused}");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    held.success();
    assert_eq!(service.oneshot(9).await.unwrap(), 9);
}

/// `poll_ready` without `call`, a service dropped while it waits in
/// `poll_ready`, and a call's future dropped mid-flight all give their
/// place back.
#[tokio::test(start_paused = true)]
async fn reservations_waiters_and_cancelled_calls_give_their_place_back() {
    let l = Arc::new(
        AdaptiveConcurrency::named("tower-give-back", LimitAlgorithm::Aimd)
            .min(1)
            .max(1)
            .initial(1)
            .max_wait(ms(100)),
    );
    let slow = service_fn(|x: u8| async move {
        tokio::time::sleep(ms(50)).await;
        Ok::<_, io::Error>(x)
    });
    let layer = AdaptiveConcurrencyLayer::new(l.clone());

    let mut reserved = layer.layer(slow);
    reserved.ready().await.unwrap();
    assert_eq!(l.snapshot().in_flight, 1);
    let mut waiting = layer.layer(slow);
    {
        let mut ready = pin!(waiting.ready());
        assert!(
            poll_once(ready.as_mut()).is_none(),
            "waits behind the reservation"
        );
        assert_eq!(l.snapshot().waiting, 1);
    }
    assert_eq!(
        l.snapshot().waiting,
        1,
        "the service keeps its place in the queue"
    );
    drop(waiting);
    assert_eq!(l.snapshot().waiting, 0, "the dropped waiter left the queue");
    drop(reserved);
    assert_eq!(l.snapshot().in_flight, 0, "no call: given back");

    let mut service = layer.layer(slow);
    let future = service.ready().await.unwrap().call(3);
    assert_eq!(l.snapshot().in_flight, 1);
    drop(future);
    assert_eq!(l.snapshot().in_flight, 0, "cancelled: given back");
}

/// A waiter in `poll_ready` is admitted when the place frees within
/// `max_wait`, and refused (by its next `call`) when it does not.
#[tokio::test(start_paused = true)]
async fn poll_ready_waits_up_to_max_wait_then_the_call_is_refused() {
    let l = Arc::new(
        AdaptiveConcurrency::named("tower-wait", LimitAlgorithm::Vegas)
            .min(1)
            .max(1)
            .initial(1)
            .max_wait(ms(30)),
    );
    let inner = service_fn(|x: u8| async move { Ok::<_, io::Error>(x) });
    let layer = AdaptiveConcurrencyLayer::new(l.clone()).priority(3);

    let held = l.try_acquire(0).unwrap();
    let release = async move {
        tokio::time::sleep(ms(20)).await;
        held.success();
    };
    let (admitted, ()) = tokio::join!(layer.layer(inner).oneshot(1), release);
    assert_eq!(admitted.unwrap(), 1);

    let _held = l.try_acquire(0).unwrap();
    let started = tokio::time::Instant::now();
    let refused = layer.layer(inner).oneshot(2).await.unwrap_err();
    assert!(is_limited(&refused), "{refused}");
    assert_eq!(started.elapsed(), ms(30));
    assert_eq!(l.snapshot().shed_by_priority, vec![(3, 1)]);
}

/// Errors through the layer are measured as failures: AIMD backs off
/// after a window of failing calls; a `Permanent` error is not a failure.
#[tokio::test(start_paused = true)]
async fn failed_calls_through_the_layer_back_the_limit_off() {
    let l = Arc::new(
        AdaptiveConcurrency::named("tower-failures", LimitAlgorithm::Aimd)
            .min(1)
            .max(100)
            .initial(20),
    );
    let failing = service_fn(|permanent: bool| async move {
        tokio::time::sleep(ms(10)).await;
        let kind = if permanent {
            io::ErrorKind::InvalidInput
        } else {
            io::ErrorKind::ConnectionReset
        };
        Err::<u8, _>(io::Error::from(kind))
    });
    let layer = AdaptiveConcurrencyLayer::new(l.clone());
    for _ in 0..12 {
        let _ = layer.layer(failing).oneshot(true).await;
        tokio::time::advance(ms(10)).await;
    }
    assert_eq!(
        l.snapshot().limit,
        20,
        "bad requests say nothing about load"
    );
    for _ in 0..12 {
        let _ = layer.layer(failing).oneshot(false).await;
        tokio::time::advance(ms(10)).await;
    }
    assert!(l.snapshot().limit < 20, "{}", l.snapshot().limit);
}

/// `call` without `poll_ready` takes a place only if one is free: it runs
/// when one is, and is refused without calling the inner service when
/// none is.
#[tokio::test(start_paused = true)]
async fn call_without_poll_ready_takes_a_free_place_or_is_refused() {
    let l = Arc::new(
        AdaptiveConcurrency::named("tower-unready", LimitAlgorithm::Aimd)
            .min(1)
            .max(1)
            .initial(1),
    );
    let calls = Arc::new(AtomicU32::new(0));
    let inner = {
        let calls = calls.clone();
        service_fn(move |x: u8| {
            calls.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, io::Error>(x) }
        })
    };
    let mut service = AdaptiveConcurrencyLayer::new(l.clone()).layer(inner);
    let future = service.call(1);
    assert_eq!(l.snapshot().in_flight, 1, "took the free place");
    assert_eq!(future.await.unwrap(), 1);
    assert_eq!(l.snapshot().in_flight, 0);

    let held = l.try_acquire(0).unwrap();
    let refused = service.call(2).await.unwrap_err();
    assert!(is_limited(&refused), "{refused}");
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "the inner service not called"
    );
    held.success();
}
