//! `resilience` renamed to `fault_tolerance`: without `crate = "…"` the
//! expansion's `::resilience::…` paths would not resolve here.

#![deny(unused_qualifications)]

use fault_tolerance::{Rejection, retry, timeout};

/// Annotated through the renamed crate.
#[retry(max_attempts = 2, base = "1ms", crate = "::fault_tolerance")]
#[timeout("1s")]
pub async fn renamed(x: u32) -> Result<u32, Rejection> {
    Ok(x + 1)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn crate_override_resolves_every_path() {
        let mut future = pin!(super::renamed(1));
        let out = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert_eq!(out, Poll::Ready(Ok(2)));
    }
}
