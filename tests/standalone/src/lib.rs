//! A user crate that depends on `resilience` only: no tokio, rand or futures
//! in its Cargo.toml. It also shadows what a careless expansion would name
//! (`core`, `std`-like modules, the macro's own local names) and denies
//! lints that a careless expansion would trip.

#![deny(
    unused_qualifications,
    unused_imports,
    unused_mut,
    unused_variables,
    missing_docs
)]
#![forbid(unsafe_code)]

use resilience::{
    Rejection, bulkhead, circuit_breaker, fallback, hedge, rate_limiter, retry, timeout,
};

/// Shadows `::core` for relative paths: expansions must use `::core::…`.
#[allow(dead_code)]
mod core {}

/// A local type named like the runtime's types.
#[allow(dead_code)]
struct Timeout;

/// Annotated, with locals named like every macro-made local.
#[retry(max_attempts = 2, backoff = "fixed", base = "1ms", jitter = "none")]
#[timeout("1s")]
pub async fn shadowing(mut input: u32, label: String) -> Result<u32, Rejection> {
    let __resilience_call = 1;
    let __resilience_result = 2;
    let __resilience_attempts = 3;
    let __resilience_error = 4;
    let __resilience_delay = 5;
    let __resilience_fake_return = 6;
    let __resilience_arg0 = 7;
    let __resilience_arg1 = label.len() as u32;
    input += __resilience_call
        + __resilience_result
        + __resilience_attempts
        + __resilience_error
        + __resilience_delay
        + __resilience_fake_return
        + __resilience_arg0
        + __resilience_arg1;
    Ok(input)
}

/// Every layer at once, with locals named like every macro-made local.
#[fallback(stale_cache(ttl = "1m"), Ok(err_free_default(key)))]
#[circuit_breaker(failure_threshold = 3)]
#[retry(max_attempts = 2, base = "1ms")]
#[hedge(delay = "10ms")]
#[timeout("1s")]
#[bulkhead(max_concurrent = 2)]
#[rate_limiter(rate = 100, per = "1s")]
pub async fn every_layer(key: u32, label: &str) -> Result<u32, Rejection> {
    let __resilience_stale = 1;
    let __resilience_key = 2;
    let __resilience_value = 3;
    let __resilience_kept0 = 4;
    let err = 5;
    Ok(key
        + label.len() as u32
        + __resilience_stale
        + __resilience_key
        + __resilience_value
        + __resilience_kept0
        + err)
}

fn err_free_default(key: u32) -> u32 {
    key
}

/// A method with a receiver, named instance and retry predicate.
pub struct Client {
    /// Calls made.
    pub calls: std::cell::Cell<u32>,
}

fn never(_: &Rejection) -> bool {
    false
}

impl Client {
    /// Counts its calls.
    #[timeout("2s", name = "standalone-client")]
    #[retry(max_attempts = 3, retry_if = never)]
    pub async fn call(&self) -> Result<u32, Rejection> {
        self.calls.set(self.calls.get() + 1);
        Ok(self.calls.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Polls once with a no-op waker: enough for calls that finish at once,
    /// and proof that no runtime from another crate is needed to build them.
    fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
        let mut future = pin!(future);
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn expansions_compile_and_run_without_other_dependencies() {
        assert_eq!(
            poll_once(shadowing(1, "abc".to_owned())),
            Poll::Ready(Ok(1 + 21 + 7 + 3))
        );
        let client = Client {
            calls: std::cell::Cell::new(0),
        };
        assert_eq!(poll_once(client.call()), Poll::Ready(Ok(1)));
        assert_eq!(poll_once(every_layer(1, "ab")), Poll::Ready(Ok(1 + 2 + 15)));
    }
}
