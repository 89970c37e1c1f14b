//! Issue 13, item 5: the root exports every layer's `<Layer>`,
//! `<Layer>Policy`, `<Layer>Permit`, `<Layer>Future` and `<Layer>Snapshot`,
//! and the paths that worked before keep working.

#![cfg(feature = "stale-cache")]

use std::time::Duration;

#[test]
fn the_root_exports_every_layers_instance_policy_permit_future_and_snapshot() {
    fn named<T: ?Sized>() -> &'static str {
        std::any::type_name::<T>()
    }
    type Call = std::future::Ready<Result<(), resilience::Rejection>>;
    type Classify = fn(&resilience::Rejection) -> resilience::Outcome;
    let names = [
        named::<resilience::CircuitBreaker>(),
        named::<resilience::BreakerPolicy>(),
        named::<resilience::BreakerPermit<'static>>(),
        named::<resilience::BreakerFuture<'static, Call, Classify, resilience::Rejection>>(),
        named::<resilience::BreakerSnapshot>(),
        named::<resilience::WindowSize>(),
        named::<resilience::Bulkhead>(),
        named::<resilience::BulkheadPermit<'static>>(),
        named::<resilience::BulkheadFuture<'static, Call, resilience::Rejection>>(),
        named::<resilience::BulkheadSnapshot>(),
        named::<resilience::RateLimiter>(),
        named::<resilience::RateLimiterFuture<'static, Call, resilience::Rejection>>(),
        named::<resilience::RateLimiterSnapshot>(),
        named::<resilience::Retry>(),
        named::<resilience::RetryPolicy>(),
        named::<resilience::Timeout>(),
        named::<resilience::TimeoutFuture<'static, Call, resilience::Rejection>>(),
        named::<resilience::AdaptiveTimeoutSnapshot>(),
        named::<resilience::Hedge>(),
        named::<resilience::StaleCache<(u32,), u32>>(),
        named::<resilience::StaleCacheSnapshot>(),
    ];
    assert!(names.iter().all(|n| n.starts_with("resilience_runtime::")));
}

#[test]
fn the_paths_of_before_the_root_rule_still_name_the_same_types() {
    let breaker = resilience::CircuitBreaker::new("layout-paths", resilience::BreakerPolicy::new());
    let permit: resilience::breaker::Permit<'_> = breaker.try_acquire().unwrap();
    let same: resilience::BreakerPermit<'_> = permit;
    same.success();
    let snapshot: resilience::breaker::Snapshot = breaker.snapshot();
    let _: resilience::BreakerSnapshot = snapshot;
    let _: Option<resilience::fallback::StaleCacheSnapshot> =
        None::<resilience::StaleCacheSnapshot>;
    let limiter = resilience::RateLimiter::new("layout-paths", 1, Duration::from_secs(1));
    let old_name: resilience::RateLimitedFuture<
        '_,
        std::future::Ready<Result<(), resilience::Rejection>>,
        resilience::Rejection,
    > = limiter.call(std::future::ready(Ok(())));
    let new_name: resilience::RateLimiterFuture<'_, _, _> = old_name;
    drop(new_name);
}

#[test]
fn getters_drop_get_where_no_builder_owns_the_name() {
    let limiter = resilience::RateLimiter::new("layout-getters", 7, Duration::from_secs(2));
    assert_eq!((limiter.rate(), limiter.per()), (7, Duration::from_secs(2)));
    assert_eq!(
        resilience::Bulkhead::new("layout-getters", 3).max_concurrent(),
        3
    );
}
