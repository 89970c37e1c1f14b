//! The awaited harness of issue 23, shared by `benches/awaited.rs`
//! (criterion, wall clock) and `benches/instructions.rs` (callgrind): a
//! user's error enum holding a `Rejection`, each body `Ok(call(x).await?)`
//! over an out-of-line `call`.

use std::hint::black_box;

use resilience::{
    Classify, Outcome, Rejection, bulkhead, circuit_breaker, rate_limiter, retry, timeout,
};

/// The body's own error.
#[derive(Debug)]
pub struct BodyError;

/// The user's error enum: the body's error or a layer's rejection.
#[derive(Debug)]
pub enum UserError {
    Body(BodyError),
    Rejected(Rejection),
}

impl From<BodyError> for UserError {
    fn from(error: BodyError) -> Self {
        UserError::Body(error)
    }
}

impl From<Rejection> for UserError {
    fn from(rejection: Rejection) -> Self {
        UserError::Rejected(rejection)
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserError::Body(_) => f.write_str("the call failed"),
            UserError::Rejected(rejection) => rejection.fmt(f),
        }
    }
}

impl std::error::Error for UserError {}

/// As a user classifies their enum: the rejection by its own rule, the
/// body's error as a transient fault.
impl Classify for UserError {
    fn classify(&self) -> Outcome {
        match self {
            UserError::Body(_) => Outcome::Transient { retry_after: None },
            UserError::Rejected(rejection) => rejection.classify(),
        }
    }
}

/// What every function calls: out of line, so the body is a real await.
#[inline(never)]
pub async fn call(x: u64) -> Result<u64, BodyError> {
    Ok(black_box(x))
}

pub async fn plain(x: u64) -> Result<u64, UserError> {
    Ok(call(x).await?)
}

#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
pub async fn with_retry(x: u64) -> Result<u64, UserError> {
    Ok(call(x).await?)
}

#[timeout("1s")]
pub async fn with_timeout(x: u64) -> Result<u64, UserError> {
    Ok(call(x).await?)
}

#[circuit_breaker(failure_threshold = 5, open_for = "60s")]
pub async fn with_breaker(x: u64) -> Result<u64, UserError> {
    Ok(call(x).await?)
}

#[circuit_breaker(failure_rate = 0.5, window = 100)]
pub async fn with_rate_breaker(x: u64) -> Result<u64, UserError> {
    Ok(call(x).await?)
}

#[bulkhead(max_concurrent = 1024)]
pub async fn with_bulkhead(x: u64) -> Result<u64, UserError> {
    Ok(call(x).await?)
}

#[rate_limiter(rate = 1_000_000_000, per = "1s")]
pub async fn with_rate_limiter(x: u64) -> Result<u64, UserError> {
    Ok(call(x).await?)
}

#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[timeout("1s")]
#[bulkhead(max_concurrent = 1024)]
pub async fn three_layers(x: u64) -> Result<u64, UserError> {
    Ok(call(x).await?)
}
