//! The future of [`CircuitBreaker::call`](super::CircuitBreaker::call).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::CircuitBreaker;
use super::engine::Token;
use super::permit::{Permit, cancelled};
use crate::{Outcome, Rejection};

pin_project! {
    /// The future returned by [`CircuitBreaker::call`].
    ///
    /// The breaker is asked at the first poll; an open circuit makes it
    /// ready at once with the rejection, without polling the call.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the call; a half-open trial permit it held is
    /// given back, and the call counts as neither success nor failure,
    /// also when the drop comes from another panic unwinding (a sibling
    /// in a `join!`). Only a panic of the call itself, while it is polled,
    /// counts as a failure.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use std::io;
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// let fut = b.call(async { Ok::<_, io::Error>(5) }); // nothing asked yet
    /// assert_eq!(fut.await.unwrap(), 5);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct BreakerFuture<'a, F, C, E> {
        #[pin]
        pub(super) call: F,
        pub(super) breaker: &'a CircuitBreaker,
        pub(super) classify: C,
        pub(super) reject: fn(Rejection) -> E,
        // The permit of a call that is pending: its token (the breaker is
        // above). A plain value with no drop glue, so that completing and
        // dropping the future costs one check, inline, and the code of a
        // permit's `Drop` stays out of every caller's `poll`.
        pub(super) held: Option<(Token, u64)>,
    }

    impl<F, C, E> PinnedDrop for BreakerFuture<'_, F, C, E> {
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some((token, _)) = this.held.take() {
                cancelled(this.breaker, token);
            }
        }
    }
}

impl<F, C, E> fmt::Debug for BreakerFuture<'_, F, C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerFuture")
            .field("breaker", &self.breaker.name())
            .field("holds_permit", &self.held.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, C, T, E> Future for BreakerFuture<'_, F, C, E>
where
    F: Future<Output = Result<T, E>>,
    C: Fn(&E) -> Outcome,
{
    type Output = Result<T, E>;

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The permit lives in a local while the call is polled and goes
        // back into the future only if the call is pending: a call ready
        // on its first poll (the common case) never stores, takes and
        // re-checks it through the future's memory. A panic in the call
        // drops the local while unwinding, which counts as a failure: the
        // one place where the call's own panic can be seen (see
        // `cancelled`). This costs the success path nothing.
        let permit = match permit(this.held, this.breaker) {
            Ok(permit) => permit,
            Err(retry_after) => {
                return Poll::Ready(Err((this.reject)(this.breaker.rejection(retry_after))));
            }
        };
        // Taken apart and rebuilt rather than inspected in place: `Ok(v)`
        // then moves only `v`, not the whole (possibly large) result.
        match this.call.poll(cx) {
            Poll::Ready(Ok(value)) => {
                permit.success();
                Poll::Ready(Ok(value))
            }
            Poll::Ready(Err(error)) => {
                permit.record((this.classify)(&error));
                Poll::Ready(Err(error))
            }
            Poll::Pending => {
                let permit = std::mem::ManuallyDrop::new(permit);
                *this.held = Some((permit.token, permit.started));
                Poll::Pending
            }
        }
    }
}

/// The call's permit: the one it holds while it waits, or one taken now
/// (`Err`: how long the circuit stays open; a word, so the result moves
/// in registers). Apart from the call's `poll`, which is instantiated for every function
/// behind a breaker in the user's crate, so that this is compiled once
/// (issue 23, compile time).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn permit<'a>(
    held: &mut Option<(Token, u64)>,
    breaker: &'a CircuitBreaker,
) -> Result<Permit<'a>, Duration> {
    match held.take() {
        Some((token, started)) => Ok(Permit {
            breaker,
            token,
            started,
        }),
        None => breaker.admit(),
    }
}
