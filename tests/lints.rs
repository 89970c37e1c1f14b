//! The expansion adds no warning to the user's code: a crate that denies
//! warnings builds with every layer on one-line bodies, free functions and
//! methods alike (a warning here is a compile error, so this file failing
//! to build is the failure).
#![deny(warnings)]

use resilience::{
    Rejection, bulkhead, chaos, circuit_breaker, fallback, hedge, rate_limiter, retry, timeout,
};

/// Kept on one line each: rustfmt would spread them out.
#[rustfmt::skip]
mod one_line {
    use super::*;

    #[timeout("1s")]
    pub async fn fixed_timeout() -> Result<u32, Rejection> { Ok(1) }

    #[timeout(adaptive)]
    pub async fn adaptive_timeout() -> Result<u32, Rejection> { Ok(1) }

    #[retry(max_attempts = 2)]
    pub async fn retried() -> Result<u32, Rejection> { Ok(1) }

    #[circuit_breaker(failure_threshold = 3)]
    pub async fn guarded() -> Result<u32, Rejection> { Ok(1) }

    #[bulkhead(max_concurrent = 2)]
    pub async fn bounded() -> Result<u32, Rejection> { Ok(1) }

    #[rate_limiter(rate = 10, per = "1s")]
    pub async fn limited() -> Result<u32, Rejection> { Ok(1) }

    #[fallback(Ok(0))]
    pub async fn answered() -> Result<u32, Rejection> { Ok(1) }

    #[hedge(delay = "50ms")]
    pub async fn hedged() -> Result<u32, Rejection> { Ok(1) }

    /// Expands to nothing without the `chaos` feature, to a layer with it.
    #[chaos(error_rate = 0.0)]
    pub async fn chaotic() -> Result<u32, Rejection> { Ok(1) }

    #[fallback(Ok(0))]
    #[circuit_breaker(failure_threshold = 3)]
    #[retry(max_attempts = 2)]
    #[hedge(delay = "50ms")]
    #[timeout("1s")]
    #[bulkhead(max_concurrent = 2)]
    #[rate_limiter(rate = 10, per = "1s")]
    #[chaos(error_rate = 0.0)]
    pub async fn stacked(x: u32) -> Result<u32, Rejection> { Ok(x) }

    pub struct Client;

    impl Client {
        #[timeout("1s")]
        pub async fn fixed_timeout(&self) -> Result<u32, Rejection> { Ok(1) }

        #[timeout(adaptive)]
        pub async fn adaptive_timeout(&self) -> Result<u32, Rejection> { Ok(1) }

        #[retry(max_attempts = 2)]
        pub async fn retried(&mut self) -> Result<u32, Rejection> { Ok(1) }

        #[circuit_breaker(failure_threshold = 3)]
        pub async fn guarded(&self) -> Result<u32, Rejection> { Ok(1) }

        #[bulkhead(max_concurrent = 2)]
        pub async fn bounded(&self) -> Result<u32, Rejection> { Ok(1) }

        #[rate_limiter(rate = 10, per = "1s")]
        pub async fn limited(&self) -> Result<u32, Rejection> { Ok(1) }

        #[fallback(Ok(0))]
        pub async fn answered(&self) -> Result<u32, Rejection> { Ok(1) }

        #[hedge(delay = "50ms")]
        pub async fn hedged(&self) -> Result<u32, Rejection> { Ok(1) }

        #[chaos(error_rate = 0.0)]
        pub async fn chaotic(&self) -> Result<u32, Rejection> { Ok(1) }

        #[fallback(Ok(0))]
        #[circuit_breaker(failure_threshold = 3)]
        #[retry(max_attempts = 2)]
        #[hedge(delay = "50ms")]
        #[timeout("1s")]
        #[bulkhead(max_concurrent = 2)]
        #[rate_limiter(rate = 10, per = "1s")]
        #[chaos(error_rate = 0.0)]
        pub async fn stacked(&self, x: u32) -> Result<u32, Rejection> { Ok(x) }
    }
}

use one_line::*;

#[tokio::test(start_paused = true)]
async fn one_line_bodies_build_without_warnings() {
    let free = [
        fixed_timeout().await,
        adaptive_timeout().await,
        retried().await,
        guarded().await,
        bounded().await,
        limited().await,
        answered().await,
        hedged().await,
        chaotic().await,
        stacked(1).await,
    ];
    assert_eq!(free, [const { Ok(1) }; 10]);

    let mut client = Client;
    let methods = [
        client.fixed_timeout().await,
        client.adaptive_timeout().await,
        client.retried().await,
        client.guarded().await,
        client.bounded().await,
        client.limited().await,
        client.answered().await,
        client.hedged().await,
        client.chaotic().await,
        client.stacked(1).await,
    ];
    assert_eq!(methods, [const { Ok(1) }; 10]);
}
