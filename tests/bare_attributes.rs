//! An attribute builds its instance from the options written and nothing
//! else: the runtime's own defaults fill the rest, so a bare attribute is
//! exactly `::new()` (the defaults are defined once, in
//! `resilience-schema`, not written again by the macro).
//!
//! Each function names its instance, and the test then registers the
//! runtime's own construction under the same name: the registry counts a
//! conflict when the two settings differ.

use std::time::Duration;

use resilience::{
    AdaptiveTimeout, BreakerPolicy, Bulkhead, CircuitBreaker, Hedge, RateLimiter, Rejection, Retry,
    RetryPolicy, Timeout, registry,
};

fn conflicts(name: &str) -> usize {
    registry::entries()
        .into_iter()
        .find(|entry| entry.name == name)
        .unwrap_or_else(|| panic!("`{name}` is registered"))
        .conflicts
}

#[resilience::retry(name = "bare-retry")]
async fn bare_retry() -> Result<u32, Rejection> {
    Ok(1)
}

#[resilience::circuit_breaker(name = "bare-breaker")]
async fn bare_breaker() -> Result<u32, Rejection> {
    Ok(1)
}

#[resilience::timeout("2s", name = "bare-timeout")]
async fn bare_timeout() -> Result<u32, Rejection> {
    Ok(1)
}

#[resilience::timeout(adaptive, name = "bare-adaptive-timeout")]
async fn bare_adaptive_timeout() -> Result<u32, Rejection> {
    Ok(1)
}

#[resilience::bulkhead(max_concurrent = 3, name = "bare-bulkhead")]
async fn bare_bulkhead() -> Result<u32, Rejection> {
    Ok(1)
}

#[resilience::rate_limiter(rate = 5, name = "bare-rate-limiter")]
async fn bare_rate_limiter() -> Result<u32, Rejection> {
    Ok(1)
}

#[resilience::hedge(delay = adaptive, name = "bare-hedge")]
async fn bare_hedge() -> Result<u32, Rejection> {
    Ok(1)
}

#[tokio::test]
async fn bare_retry_is_retry_policy_new() {
    bare_retry().await.unwrap();
    let retry = registry::get_or_register("bare-retry", || {
        Retry::new("bare-retry", RetryPolicy::new())
    });
    assert_eq!(retry.policy(), RetryPolicy::new());
    assert_eq!(conflicts("bare-retry"), 0);
    // The registry does tell settings apart.
    registry::get_or_register("bare-retry", || {
        Retry::new("bare-retry", RetryPolicy::new().max_attempts(9))
    });
    assert_eq!(conflicts("bare-retry"), 1);
}

#[tokio::test]
async fn bare_circuit_breaker_is_breaker_policy_new() {
    bare_breaker().await.unwrap();
    let breaker = registry::get_or_register("bare-breaker", || {
        CircuitBreaker::new("bare-breaker", BreakerPolicy::new())
    });
    assert_eq!(breaker.policy(), BreakerPolicy::new());
    assert_eq!(conflicts("bare-breaker"), 0);
}

#[tokio::test]
async fn timeout_with_only_a_duration_is_timeout_new() {
    bare_timeout().await.unwrap();
    registry::get_or_register("bare-timeout", || {
        Timeout::new("bare-timeout", Duration::from_secs(2))
    });
    assert_eq!(conflicts("bare-timeout"), 0);
}

#[tokio::test]
async fn bare_adaptive_timeout_has_the_documented_defaults() {
    bare_adaptive_timeout().await.unwrap();
    registry::get_or_register("bare-adaptive-timeout", || {
        AdaptiveTimeout::new(
            "bare-adaptive-timeout",
            0.99,
            2.0,
            Duration::from_millis(50),
            Duration::from_secs(5),
        )
    });
    assert_eq!(conflicts("bare-adaptive-timeout"), 0);
}

#[tokio::test]
async fn bulkhead_with_only_max_concurrent_is_bulkhead_new() {
    bare_bulkhead().await.unwrap();
    registry::get_or_register("bare-bulkhead", || Bulkhead::new("bare-bulkhead", 3));
    assert_eq!(conflicts("bare-bulkhead"), 0);
}

#[tokio::test]
async fn rate_limiter_with_only_a_rate_is_per_second() {
    bare_rate_limiter().await.unwrap();
    registry::get_or_register("bare-rate-limiter", || {
        RateLimiter::new("bare-rate-limiter", 5, Duration::from_secs(1))
    });
    assert_eq!(conflicts("bare-rate-limiter"), 0);
}

#[tokio::test]
async fn hedge_with_only_an_adaptive_delay_is_hedge_adaptive() {
    bare_hedge().await.unwrap();
    registry::get_or_register("bare-hedge", || Hedge::adaptive("bare-hedge", 1));
    assert_eq!(conflicts("bare-hedge"), 0);
}

#[cfg(feature = "chaos")]
mod chaos {
    use super::*;
    use resilience::chaos::Chaos;

    #[resilience::chaos(name = "bare-chaos")]
    async fn bare_chaos() -> Result<u32, Rejection> {
        Ok(1)
    }

    #[tokio::test]
    async fn bare_chaos_is_chaos_new() {
        bare_chaos().await.unwrap();
        registry::get_or_register("bare-chaos", || Chaos::new("bare-chaos"));
        assert_eq!(conflicts("bare-chaos"), 0);
    }
}

#[resilience::retry(name = "long-base-retry", base = "60s")]
async fn long_base_retry() -> Result<u32, Rejection> {
    Ok(1)
}

/// The macro and `RetryPolicy` once disagreed on the default cap: the
/// macro's was `max(30s, base)`, the runtime's 30 s, so a long `base` alone
/// was capped under itself by hand and honoured by the attribute. Both
/// take it from the schema now: the cap never goes below `base`.
#[tokio::test]
async fn a_long_base_alone_is_honoured_by_the_macro_and_the_runtime_alike() {
    long_base_retry().await.unwrap();
    let base = Duration::from_secs(60);
    let by_hand = RetryPolicy::new().base(base);
    assert_eq!(by_hand.delay(1, Duration::ZERO), base);
    let retry =
        registry::get_or_register("long-base-retry", || Retry::new("long-base-retry", by_hand));
    assert_eq!(retry.policy(), by_hand);
    assert_eq!(conflicts("long-base-retry"), 0);
}
