//! What several benches share: how a tower caller makes a request, a tower
//! retry policy equal to `#[retry(max_attempts = 3, backoff = "exp",
//! base = "100ms")]`, tower-resilience's breaker configured like ours, and
//! our five-layer stack.
//! Each bench uses a part of it.
#![allow(dead_code)]

pub mod awaited;

use std::hint::black_box;
use std::time::Duration;

use resilience::{Rejection, bulkhead, circuit_breaker, rate_limiter, retry, timeout};
use tower::{Service, ServiceExt};

/// The five-layer stack that `stack` times against tower's and
/// `allocations` counts.
#[circuit_breaker(failure_threshold = 5, open_for = "60s")]
#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[timeout("1s")]
#[bulkhead(max_concurrent = 1024)]
#[rate_limiter(rate = 1_000_000_000, per = "1s")]
#[inline(never)]
pub async fn five_layers(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

/// What a tower caller does for each request: wait until ready, then call.
pub async fn ready_call<S>(svc: &mut S, x: u64) -> Result<S::Response, S::Error>
where
    S: Service<u64>,
{
    svc.ready().await?.call(x).await
}

/// tower's `Retry` needs a policy; this one matches `#[retry]` in the
/// benches: at most 3 attempts, exponential backoff from 100 ms.
#[derive(Clone, Copy, Default)]
pub struct ExpAttempts {
    failed: u32,
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for ExpAttempts {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        if result.is_ok() || self.failed + 1 >= 3 {
            return None;
        }
        self.failed += 1;
        let delay = Duration::from_millis(100) * 2u32.pow(self.failed - 1);
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower-resilience's circuit breaker as the benches configure ours:
/// open after 5 consecutive failures, for 60 s.
pub fn tower_resilience_breaker() -> tower_resilience::circuitbreaker::CircuitBreakerLayer {
    tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(Duration::from_secs(60))
        .build()
        .expect("breaker config")
}
