//! What several benches share: how a tower caller makes a request, and a
//! tower retry policy equal to `#[retry(max_attempts = 3, backoff = "exp",
//! base = "100ms")]`. Each bench uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

use tower::{Service, ServiceExt};

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
