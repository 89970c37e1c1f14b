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
    assert!(
        !dropped.load(Ordering::SeqCst),
        "dropped before the deadline"
    );

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

#[tokio::test(start_paused = true)]
async fn a_timeout_too_long_to_count_in_nanoseconds_is_the_longest_there_is() {
    // 2^55 s is 2^64 × 1953125 ns: wrapped to 64 bits it would be zero.
    let t = Timeout::new("t-huge", Duration::from_secs(1 << 55));
    assert_eq!(t.duration(), Duration::from_nanos(u64::MAX), "584 years");
    let start = Instant::now();
    let work = t.call(async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, Rejection>("done")
    });
    assert_eq!(work.await.unwrap(), "done");
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
}

mod adaptive {
    use super::*;
    use resilience::AdaptiveTimeout;

    /// Sleeps for the given latency, or forever.
    async fn work(latency: Option<Duration>) -> Result<(), Rejection> {
        match latency {
            Some(latency) => tokio::time::sleep(latency).await,
            None => std::future::pending().await,
        }
        Ok(())
    }

    static CONVERGING: AdaptiveTimeout = AdaptiveTimeout::new(
        "converging",
        0.99,
        2.0,
        Duration::from_millis(50),
        Duration::from_secs(5),
    );

    #[timeout(adaptive, with = CONVERGING)]
    async fn converging(latency: Option<Duration>) -> Result<(), Rejection> {
        work(latency).await
    }

    #[tokio::test(start_paused = true)]
    async fn converges_to_p99_times_two_and_enforces_it() {
        // Before enough samples: `max`.
        let start = Instant::now();
        converging(None).await.unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(5));

        // A known distribution: 1..=100 ms, uniformly, ten times over.
        for _ in 0..10 {
            for ms in 1..=100 {
                converging(Some(Duration::from_millis(ms))).await.unwrap();
            }
        }
        let snapshot = CONVERGING.snapshot();
        // P99 = 99 ms (rounded up by at most 12.5 % to its bucket), × 2.
        assert!(
            snapshot.current >= Duration::from_millis(198)
                && snapshot.current <= Duration::from_millis(226),
            "{snapshot:?}"
        );
        // A call slower than that is now dropped at the adaptive timeout.
        let start = Instant::now();
        let err = converging(Some(Duration::from_secs(1))).await.unwrap_err();
        assert!(matches!(err, Rejection::Timeout { elapsed, .. } if elapsed == snapshot.current));
        assert_eq!(start.elapsed(), snapshot.current);
    }

    #[timeout(adaptive, quantile = 0.5, multiplier = 3.0, min = "40ms", max = "2s")]
    async fn bounded(latency: Duration) -> Result<(), Rejection> {
        work(Some(latency)).await
    }

    static FAST: AdaptiveTimeout = AdaptiveTimeout::new(
        "fast",
        0.99,
        2.0,
        Duration::from_millis(50),
        Duration::from_secs(5),
    );
    static SLOW: AdaptiveTimeout = AdaptiveTimeout::new(
        "slow",
        0.99,
        2.0,
        Duration::from_millis(50),
        Duration::from_secs(5),
    );

    #[timeout(adaptive, with = FAST)]
    async fn fast(latency: Duration) -> Result<(), Rejection> {
        work(Some(latency)).await
    }

    #[timeout(adaptive, with = SLOW)]
    async fn slow(latency: Duration) -> Result<(), Rejection> {
        work(Some(latency)).await
    }

    #[tokio::test(start_paused = true)]
    async fn stays_within_min_and_max() {
        for _ in 0..100 {
            fast(Duration::from_millis(1)).await.unwrap();
        }
        assert_eq!(
            FAST.current(),
            Duration::from_millis(50),
            "2 ms × 2 is raised to `min`"
        );
        for _ in 0..100 {
            slow(Duration::from_secs(4)).await.unwrap();
        }
        assert_eq!(
            SLOW.current(),
            Duration::from_secs(5),
            "4 s × 2 is capped at `max`"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn options_from_the_attribute() {
        // Median 100 ms × 3 = 300 ms: a 350 ms call times out, a 250 ms one does not.
        for _ in 0..50 {
            bounded(Duration::from_millis(100)).await.unwrap();
        }
        assert!(bounded(Duration::from_millis(250)).await.is_ok());
        let start = Instant::now();
        assert!(bounded(Duration::from_millis(350)).await.is_err());
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited <= Duration::from_millis(340),
            "{waited:?}"
        );
    }
}
