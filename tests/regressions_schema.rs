//! The runtime's constructors refuse what the attributes refuse, with the
//! same sentence (both run `resilience-schema`'s rules): they used to
//! clamp some settings silently and word others differently.

use std::time::Duration;

use resilience::chaos::Chaos;
use resilience::fallback::StaleCache;
use resilience::{BreakerPolicy, Bulkhead, RateLimiter, RetryPolicy};

#[test]
#[should_panic(
    expected = "`max_attempts` counts every call, the first included, so it must be at least 1"
)]
fn retry_with_zero_attempts_is_refused_not_clamped() {
    let _ = RetryPolicy::new().max_attempts(0);
}

#[test]
#[should_panic(expected = "`max_delay` is below `base`")]
fn a_retry_capped_below_its_first_delay_is_refused() {
    let _ = resilience::Retry::new(
        "capped",
        RetryPolicy::new()
            .base(Duration::from_secs(2))
            .max_delay(Duration::from_secs(1)),
    );
}

#[test]
#[should_panic(expected = "`failure_threshold = 0` would open the circuit before any failure")]
fn a_breaker_threshold_of_zero_is_refused_not_clamped() {
    let _ = BreakerPolicy::new().failure_threshold(0);
}

#[test]
#[should_panic(expected = "`error_rate` is the fraction of calls affected, between 0 and 1")]
fn a_chaos_rate_above_one_is_refused_not_clamped() {
    let _ = Chaos::new("chaos").error_rate(1.5);
}

#[test]
#[should_panic(expected = "`rate = 0` would refuse every call")]
fn a_rate_limiter_without_rate_says_what_the_attribute_says() {
    let _ = RateLimiter::new("none", 0, Duration::from_secs(1));
}

#[test]
#[should_panic(expected = "`max_concurrent = 0` would refuse every call")]
fn a_bulkhead_without_permits_says_what_the_attribute_says() {
    let _ = Bulkhead::new("none", 0);
}

#[test]
#[should_panic(expected = "a `ttl` of zero would never serve anything")]
fn a_stale_cache_that_never_serves_is_refused() {
    let _: StaleCache<u8, u8> = StaleCache::new("never", Duration::ZERO, 10);
}
