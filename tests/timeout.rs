//! `#[timeout]`: the call is dropped at the deadline and `Rejection::Timeout`
//! is returned. Time runs on tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use resilience::{Rejection, Timeout, registry, timeout};
use tokio::time::Instant;

/// Sets its flag when dropped, so a test can see the call was cancelled.
struct DropGuard(Arc<AtomicBool>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[timeout("100ms")]
async fn slow(dropped: Arc<AtomicBool>, work: Duration) -> Result<&'static str, Rejection> {
    let _guard = DropGuard(dropped);
    tokio::time::sleep(work).await;
    Ok("done")
}

#[tokio::test(start_paused = true)]
async fn drops_the_call_at_the_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let call = tokio::spawn(slow(dropped.clone(), Duration::from_secs(10)));

    tokio::time::sleep(Duration::from_millis(99)).await;
    assert!(!dropped.load(Ordering::SeqCst), "dropped before the deadline");

    let err = call.await.unwrap().unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert!(dropped.load(Ordering::SeqCst), "the call was not dropped");
    match err {
        Rejection::Timeout { name, elapsed, .. } => {
            assert_eq!(name, "timeout::slow");
            assert_eq!(elapsed, Duration::from_millis(100));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_within_the_deadline_is_untouched() {
    let dropped = Arc::new(AtomicBool::new(false));
    let out = slow(dropped.clone(), Duration::from_millis(99)).await;
    assert_eq!(out, Ok("done"));
}

#[timeout("1s")]
async fn immediate(calls: &AtomicU32) -> Result<u32, Rejection> {
    Ok(calls.fetch_add(1, Ordering::SeqCst) + 1)
}

#[tokio::test(start_paused = true)]
async fn a_ready_call_does_not_wait() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(immediate(&calls).await, Ok(1));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[timeout("50ms", name = "shared-timeout")]
async fn named_a() -> Result<(), Rejection> {
    std::future::pending().await
}

#[timeout(duration = "50ms", name = "shared-timeout")]
async fn named_b() -> Result<(), Rejection> {
    std::future::pending().await
}

#[timeout("70ms", name = "shared-timeout")]
async fn named_conflicting() -> Result<(), Rejection> {
    std::future::pending().await
}

#[tokio::test(start_paused = true)]
async fn named_instances_are_shared_and_conflicts_recorded() {
    let a = named_a().await.unwrap_err();
    let b = named_b().await.unwrap_err();
    assert_eq!(a.name(), "shared-timeout");
    assert_eq!(b.name(), "shared-timeout");

    // The first configuration wins; the other one is recorded as a conflict.
    let start = Instant::now();
    let c = named_conflicting().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert_eq!(c.name(), "shared-timeout");
    let entry = registry::entries()
        .into_iter()
        .find(|e| e.kind == "timeout" && e.name == "shared-timeout")
        .expect("registered");
    assert_eq!(entry.conflicts, 1);
}

struct Client {
    timeout: Timeout,
}

impl Client {
    #[timeout(with = self.timeout)]
    async fn fetch(&self) -> Result<(), Rejection> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn caller_owned_instances() {
    let eu = Client {
        timeout: Timeout::named("eu", Duration::from_millis(30)),
    };
    let us = Client {
        timeout: Timeout::named("us", Duration::from_millis(80)),
    };
    let start = Instant::now();
    assert_eq!(eu.fetch().await.unwrap_err().name(), "eu");
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    assert_eq!(us.fetch().await.unwrap_err().name(), "us");
    assert_eq!(start.elapsed(), Duration::from_millis(110));
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_caller_drops_the_call() {
    let dropped = Arc::new(AtomicBool::new(false));
    let call = tokio::spawn(slow(dropped.clone(), Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(10)).await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    assert!(dropped.load(Ordering::SeqCst));
}
