//! `#[timeout]`: drop a call that runs past its deadline.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::Rejection;

/// A fixed timeout: a call still running after `duration` is dropped
/// (cancelled) and fails with [`Rejection::Timeout`].
///
/// Used by `#[timeout("2s")]`, or directly as a wrapper.
///
/// # Timing
///
/// The clock starts when the call first waits (its first `Pending`), which
/// is when it was first polled for any call that does asynchronous work. A
/// call that finishes on its first poll never reads the clock or arms a
/// timer, so the fast path costs a branch. Time is tokio's clock, so
/// `tokio::time::pause()` drives it in tests.
///
/// # Cancel safety
///
/// Dropping the returned future drops the inner call; nothing is kept.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience_runtime::{Rejection, Timeout};
/// use std::time::Duration;
///
/// static LOOKUP: Timeout = Timeout::new("lookup", Duration::from_millis(50));
///
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok::<u32, Rejection>(1)
/// };
/// let err = LOOKUP.call(slow).await.unwrap_err();
/// assert!(matches!(err, Rejection::Timeout { .. }));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Timeout {
    name: Cow<'static, str>,
    duration: Duration,
}

impl Timeout {
    /// A timeout of `duration` named `name` (usable in a `static`).
    ///
    /// ```
    /// # use resilience_runtime::Timeout;
    /// # use std::time::Duration;
    /// static T: Timeout = Timeout::new("search", Duration::from_secs(2));
    /// assert_eq!(T.duration(), Duration::from_secs(2));
    /// ```
    pub const fn new(name: &'static str, duration: Duration) -> Self {
        Timeout {
            name: Cow::Borrowed(name),
            duration,
        }
    }

    /// A timeout with a name built at run time (one per host, per tenant).
    ///
    /// ```
    /// # use resilience_runtime::Timeout;
    /// # use std::time::Duration;
    /// let host = "eu-1";
    /// let t = Timeout::named(format!("api@{host}"), Duration::from_secs(1));
    /// assert_eq!(t.name(), "api@eu-1");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, duration: Duration) -> Self {
        Timeout {
            name: name.into(),
            duration,
        }
    }

    /// The instance name carried by its rejections.
    ///
    /// ```
    /// # use resilience_runtime::Timeout;
    /// # use std::time::Duration;
    /// assert_eq!(Timeout::new("a", Duration::from_secs(1)).name(), "a");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long a call may run.
    ///
    /// ```
    /// # use resilience_runtime::Timeout;
    /// # use std::time::Duration;
    /// assert_eq!(Timeout::new("a", Duration::from_secs(1)).duration(), Duration::from_secs(1));
    /// ```
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Runs `call` under this timeout.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::{Rejection, Timeout};
    /// # use std::time::Duration;
    /// let t = Timeout::new("fast", Duration::from_secs(1));
    /// let answer = t.call(async { Ok::<_, Rejection>(42) }).await;
    /// assert_eq!(answer, Ok(42));
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, call: F) -> TimeoutFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejection>,
    {
        self.call_with(call, E::from)
    }

    /// Like [`Timeout::call`], with `reject` turning the rejection into `E`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::Timeout;
    /// # use std::time::Duration;
    /// let t = Timeout::new("t", Duration::from_millis(5));
    /// let out: Result<(), String> = t.call_with(std::future::pending(), |r| r.to_string()).await;
    /// assert_eq!(out.unwrap_err(), "`t` timed out after 5ms");
    /// # }
    /// ```
    pub fn call_with<F, T, E>(&self, call: F, reject: fn(Rejection) -> E) -> TimeoutFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        TimeoutFuture {
            call,
            timer: None,
            timeout: self,
            reject,
        }
    }
}

pin_project! {
    /// The future returned by [`Timeout::call`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct TimeoutFuture<'a, F, E> {
        #[pin]
        call: F,
        #[pin]
        timer: Option<Sleep>,
        timeout: &'a Timeout,
        reject: fn(Rejection) -> E,
    }
}

impl<F, T, E> Future for TimeoutFuture<'_, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(out) = this.call.poll(cx) {
            return Poll::Ready(out);
        }
        if this.timer.is_none() {
            let deadline = Instant::now() + this.timeout.duration;
            this.timer.set(Some(tokio::time::sleep_until(deadline)));
        }
        let Some(timer) = this.timer.as_pin_mut() else {
            return Poll::Pending;
        };
        ready!(timer.poll(cx));
        tracing::debug!(name = %this.timeout.name, after = ?this.timeout.duration, "resilience: call timed out");
        Poll::Ready(Err((this.reject)(Rejection::Timeout {
            name: this.timeout.name.clone(),
            elapsed: this.timeout.duration,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn times_out_at_the_deadline() {
        let t = Timeout::new("t", Duration::from_millis(100));
        let start = Instant::now();
        let out: Result<(), Rejection> = t.call(std::future::pending()).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(
            out,
            Err(Rejection::timeout("t", Duration::from_millis(100)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn finishes_before_the_deadline() {
        let t = Timeout::new("t", Duration::from_millis(100));
        let out = t
            .call(async {
                tokio::time::sleep(Duration::from_millis(99)).await;
                Ok::<_, Rejection>(7)
            })
            .await;
        assert_eq!(out, Ok(7));
    }
}
