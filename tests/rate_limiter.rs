//! `#[rate_limiter]`: GCRA quota, exact `retry_after`, waiting within
//! `max_wait`. Time runs paused: nothing here really sleeps.

use std::sync::Arc;
use std::time::Duration;

use resilience::{RateLimiter, Rejection, rate_limiter, registry};
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

// One call per 100 ms on average, three at once.
#[rate_limiter(rate = 10, per = "1s", burst = 3)]
async fn ten_per_second() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn admits_exactly_the_burst_then_one_call_per_period() {
    for _ in 0..3 {
        assert_eq!(ten_per_second().await, Ok(()));
    }
    assert_eq!(retry_after(ten_per_second().await), ms(100));
    for _ in 0..5 {
        advance(ms(99)).await;
        assert_eq!(
            retry_after(ten_per_second().await),
            ms(1),
            "exactly 1ms early"
        );
        advance(ms(1)).await;
        assert_eq!(ten_per_second().await, Ok(()), "one call per 100ms");
        assert_eq!(retry_after(ten_per_second().await), ms(100));
    }
}

#[tokio::test(start_paused = true)]
async fn the_rejection_names_the_limiter_and_the_exact_wait() {
    let limiter = RateLimiter::new("quota", 4, Duration::from_secs(1)).burst(1);
    limiter.check().unwrap();
    advance(ms(100)).await;
    let err = limiter.check().unwrap_err();
    assert_eq!(err, Rejection::rate_limited("quota", ms(150)));
    assert_eq!(
        err.to_string(),
        "rate limit of `quota` reached; retry after 150ms"
    );
    assert_eq!(limiter.snapshot().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_spell_refills_up_to_the_burst_only() {
    let limiter = RateLimiter::new("refill", 10, Duration::from_secs(1)).burst(3);
    for _ in 0..3 {
        limiter.check().unwrap();
    }
    assert_eq!(limiter.snapshot().available, 0);
    advance(Duration::from_secs(60)).await;
    assert_eq!(limiter.snapshot().available, 3);
    for _ in 0..3 {
        limiter.check().unwrap();
    }
    assert!(
        limiter.check().is_err(),
        "the burst caps what a quiet minute saved"
    );
}

#[rate_limiter(rate = 10, per = "1s", burst = 1, max_wait = "250ms")]
async fn waits_for_its_turn(id: u32) -> Result<(u32, Duration), Rejection> {
    Ok((id, Instant::now().elapsed()))
}

#[tokio::test(start_paused = true)]
async fn max_wait_waits_for_the_turn_instead_of_rejecting() {
    let start = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|id| {
            tokio::spawn(async move {
                let out = waits_for_its_turn(id).await;
                out.map(|(id, _)| (id, start.elapsed()))
            })
        })
        .collect();
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap());
    }
    assert_eq!(results[0], Ok((0, ms(0))));
    assert_eq!(
        results[1],
        Ok((1, ms(100))),
        "waited 100ms instead of being refused"
    );
    assert_eq!(results[2], Ok((2, ms(200))));
    assert_eq!(
        results[3],
        Err(Rejection::rate_limited(
            "rate_limiter::waits_for_its_turn",
            ms(300)
        )),
        "its turn was 300ms away, beyond max_wait"
    );
}

#[rate_limiter(name = "github-api", rate = 2, per = "1s")]
async fn list_repos() -> Result<(), Rejection> {
    Ok(())
}

#[rate_limiter(name = "github-api", rate = 2, per = "1s")]
async fn list_issues() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_named_limiter_is_one_quota_for_every_function_naming_it() {
    list_repos().await.unwrap();
    list_issues().await.unwrap();
    let refused = list_repos().await;
    assert_eq!(retry_after(refused), ms(500));
    let entry = registry::entries()
        .into_iter()
        .find(|e| e.name == "github-api")
        .unwrap();
    assert_eq!((entry.kind, entry.conflicts), ("rate_limiter", 0));
}

struct Tenant {
    limiter: Arc<RateLimiter>,
}

impl Tenant {
    #[rate_limiter(with = self.limiter)]
    async fn request(&self) -> Result<u8, Rejection> {
        Ok(1)
    }
}

#[tokio::test(start_paused = true)]
async fn with_uses_the_callers_instance() {
    let a = Tenant {
        limiter: Arc::new(RateLimiter::named("tenant-a", 1, Duration::from_secs(1))),
    };
    let b = Tenant {
        limiter: Arc::new(RateLimiter::named("tenant-b", 1, Duration::from_secs(1))),
    };
    assert_eq!(a.request().await, Ok(1));
    assert!(a.request().await.is_err(), "tenant a used its quota");
    assert_eq!(b.request().await, Ok(1), "tenant b has its own");
}

#[rate_limiter(rate = 1, per = "1m", max_wait = "1m")]
async fn slow_quota() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_while_waiting_gives_its_turn_back() {
    slow_quota().await.unwrap();
    let dropped = tokio::time::timeout(Duration::from_secs(1), slow_quota()).await;
    assert!(dropped.is_err(), "cancelled while waiting for its turn");
    let start = Instant::now();
    slow_quota().await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(59),
        "the next caller takes the freed turn"
    );
}

#[rate_limiter(rate = 5)]
async fn io_call() -> std::io::Result<u8> {
    Ok(5)
}

#[tokio::test(start_paused = true)]
async fn io_errors_carry_the_rejection() {
    for _ in 0..5 {
        io_call().await.unwrap();
    }
    let err = io_call().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::QuotaExceeded);
}

#[test]
fn futures_stay_send() {
    fn assert_send<T: Send>(_: T) {}
    assert_send(ten_per_second());
    assert_send(waits_for_its_turn(1));
}

#[resilience::retry(max_attempts = 2, backoff = "fixed", base = "1ms", max_delay = "1s")]
#[rate_limiter(rate = 10, per = "1s", burst = 1)]
async fn retried_after_the_hint() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn retry_above_a_rate_limiter_waits_for_its_retry_after() {
    retried_after_the_hint().await.unwrap();
    let start = Instant::now();
    retried_after_the_hint().await.unwrap();
    assert_eq!(
        start.elapsed(),
        ms(100),
        "the retry waited retry_after, not base"
    );
}
