//! [`Timeout`] and [`AdaptiveTimeout`] as tower layers.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, rejected};
use crate::{AdaptiveTimeout, Rejection, Timeout, deadline, time};

mod sealed {
    pub trait Sealed {}
}

/// A time limit a [`TimeoutService`] enforces: [`Timeout`] or
/// [`AdaptiveTimeout`]. Sealed.
///
/// ```
/// use resilience::tower::TimeLimit;
/// use resilience::{AdaptiveTimeout, Timeout};
///
/// fn limits<T: TimeLimit>() {}
/// limits::<Timeout>();
/// limits::<AdaptiveTimeout>();
/// ```
pub trait TimeLimit: sealed::Sealed {
    #[doc(hidden)]
    fn instance_name(&self) -> &str;
    #[doc(hidden)]
    fn deadline(&self, started: Instant) -> Instant;
    /// The duration of a fixed timeout, whose clock starts only when the
    /// call first waits (`None`: the clock starts at the first poll).
    #[doc(hidden)]
    fn lazy_duration(&self) -> Option<std::time::Duration>;
    #[doc(hidden)]
    fn finished(&self, started: Instant, now: Instant);
    #[doc(hidden)]
    fn rejection(&self, elapsed: std::time::Duration) -> Rejection;
    #[doc(hidden)]
    const RECORDS: bool;
}

impl sealed::Sealed for Timeout {}
impl TimeLimit for Timeout {
    fn instance_name(&self) -> &str {
        self.name()
    }
    fn deadline(&self, started: Instant) -> Instant {
        time::deadline(started, self.duration())
    }
    fn lazy_duration(&self) -> Option<std::time::Duration> {
        Some(self.duration())
    }
    #[inline(always)]
    fn finished(&self, _: Instant, _: Instant) {}
    fn rejection(&self, elapsed: std::time::Duration) -> Rejection {
        Rejection::timeout(self.name_cow().clone(), elapsed)
    }
    const RECORDS: bool = false;
}

impl sealed::Sealed for AdaptiveTimeout {}
impl TimeLimit for AdaptiveTimeout {
    fn instance_name(&self) -> &str {
        self.name()
    }
    fn deadline(&self, started: Instant) -> Instant {
        time::deadline(started, self.current())
    }
    fn lazy_duration(&self) -> Option<std::time::Duration> {
        None
    }
    fn finished(&self, started: Instant, now: Instant) {
        self.record_held(started, now);
    }
    fn rejection(&self, elapsed: std::time::Duration) -> Rejection {
        Rejection::timeout(self.name_cow().clone(), elapsed)
    }
    const RECORDS: bool = true;
}

/// A [`Timeout`] as a [`Layer`]: an inner call still running after the
/// duration is dropped and fails with [`Rejection::Timeout`]. The clock
/// starts when the call first waits, as with `#[timeout]`.
///
/// `poll_ready` forwards the inner service's readiness (waiting for it is
/// not timed).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::tower::TimeoutLayer;
/// use resilience::{Rejection, Timeout};
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// static QUOTE: Timeout = Timeout::new("doc-quote", Duration::from_millis(100));
/// let service = ServiceBuilder::new()
///     .layer(TimeoutLayer::new(&QUOTE))
///     .service_fn(|_: ()| async {
///         tokio::time::sleep(Duration::from_secs(1)).await;
///         Ok::<_, std::io::Error>(())
///     });
/// let error = service.oneshot(()).await.unwrap_err();
/// assert!(matches!(error.downcast_ref::<Rejection>(), Some(Rejection::Timeout { .. })));
/// # }
/// ```
pub type TimeoutLayer<P> = TimeLimitLayer<P, Timeout>;

/// An [`AdaptiveTimeout`] as a [`Layer`]: as [`TimeoutLayer`], with the
/// limit following the observed latency of every call through the
/// instance (annotated functions included).
///
/// ```
/// use resilience::AdaptiveTimeout;
/// use resilience::tower::AdaptiveTimeoutLayer;
/// use std::time::Duration;
///
/// static LOOKUP: AdaptiveTimeout =
///     AdaptiveTimeout::new("doc-lookup", 0.99, 2.0, Duration::from_millis(50), Duration::from_secs(5));
/// let layer = AdaptiveTimeoutLayer::new(&LOOKUP);
/// # let _ = layer;
/// ```
pub type AdaptiveTimeoutLayer<P> = TimeLimitLayer<P, AdaptiveTimeout>;

/// The layer behind [`TimeoutLayer`] and [`AdaptiveTimeoutLayer`].
///
/// ```
/// use resilience::Timeout;
/// use resilience::tower::{TimeLimitLayer, TimeoutLayer};
/// use std::time::Duration;
///
/// static T: Timeout = Timeout::new("doc-time-limit", Duration::from_secs(1));
/// let layer: TimeLimitLayer<&'static Timeout, Timeout> = TimeoutLayer::new(&T);
/// # let _ = layer;
/// ```
pub struct TimeLimitLayer<P, L> {
    limit: P,
    kind: PhantomData<fn() -> L>,
}

impl<P: Deref<Target = L>, L: TimeLimit> TimeLimitLayer<P, L> {
    /// A layer over `limit`: `&STATIC`, an `Arc`, or a named instance's `Arc`.
    ///
    /// ```
    /// use resilience::Timeout;
    /// use resilience::tower::TimeoutLayer;
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let layer = TimeoutLayer::new(Arc::new(Timeout::named("per-host", Duration::from_secs(2))));
    /// # let _ = layer;
    /// ```
    pub fn new(limit: P) -> Self {
        TimeLimitLayer {
            limit,
            kind: PhantomData,
        }
    }
}

impl<P: Clone, L> Clone for TimeLimitLayer<P, L> {
    fn clone(&self) -> Self {
        TimeLimitLayer {
            limit: self.limit.clone(),
            kind: PhantomData,
        }
    }
}

impl<P: Deref<Target = L>, L: TimeLimit> fmt::Debug for TimeLimitLayer<P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeLimitLayer")
            .field("timeout", &self.limit.instance_name())
            .finish()
    }
}

impl<S, P: Clone, L> Layer<S> for TimeLimitLayer<P, L> {
    type Service = TimeoutService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            limit: self.limit.clone(),
        }
    }
}

/// The service of a [`TimeoutLayer`] or an [`AdaptiveTimeoutLayer`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::Timeout;
/// use resilience::tower::TimeoutLayer;
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static T: Timeout = Timeout::new("doc-timeout-service", Duration::from_secs(1));
/// let service = TimeoutLayer::new(&T).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(service.oneshot(9).await.unwrap(), 9);
/// # }
/// ```
#[derive(Clone)]
pub struct TimeoutService<S, P> {
    inner: S,
    limit: P,
}

impl<S, P: Deref<Target: TimeLimit>> fmt::Debug for TimeoutService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutService")
            .field("timeout", &self.limit.instance_name())
            .finish_non_exhaustive()
    }
}

impl<S, P, Request> Service<Request> for TimeoutService<S, P>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    P: Deref<Target: TimeLimit> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutServiceFuture<S::Future, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        TimeoutServiceFuture {
            call: self.inner.call(request),
            timer: None,
            started: None,
            limit: self.limit.clone(),
        }
    }
}

pin_project! {
    /// The future of a [`TimeoutService`] call.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner call; nothing is kept.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::Timeout;
    /// use resilience::tower::TimeoutLayer;
    /// use std::time::Duration;
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// static T: Timeout = Timeout::new("doc-timeout-future", Duration::from_secs(1));
    /// let mut service = TimeoutLayer::new(&T).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let future = service.ready().await.unwrap().call(2);
    /// assert_eq!(future.await.unwrap(), 2);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutServiceFuture<F, P> {
        #[pin]
        call: F,
        #[pin]
        timer: Option<Sleep>,
        // When the call was first polled (adaptive timeouts only).
        started: Option<Instant>,
        limit: P,
    }
}

impl<F, P: Deref<Target: TimeLimit>> fmt::Debug for TimeoutServiceFuture<F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutServiceFuture")
            .field("timeout", &self.limit.instance_name())
            .field("armed", &self.timer.is_some())
            .finish_non_exhaustive()
    }
}

/// The deadline scope of one poll: a timer's deadline, or a fixed
/// timeout's duration whose clock has not started.
enum Entered {
    At(deadline::EnteredAt),
    Lazy(deadline::EnteredLazy),
}

impl Entered {
    fn exit(self) -> deadline::Scope {
        match self {
            Entered::At(at) => at.exit(),
            Entered::Lazy(lazy) => lazy.exit(),
        }
    }
}

impl<F, P, T, E> Future for TimeoutServiceFuture<F, P>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    P: Deref<Target: TimeLimit>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if <P::Target as TimeLimit>::RECORDS && this.started.is_none() {
            *this.started = Some(Instant::now());
        }
        // The deadline is in force for what the call polls, as under
        // `Timeout::call` (`crate::deadline`): an inner retry does not
        // sleep past it, an inner timeout runs under the sooner of the two.
        let entered = match (this.timer.as_ref().get_ref(), *this.started) {
            (Some(timer), _) => Entered::At(deadline::enter_at(timer.deadline())),
            (None, Some(started)) => Entered::At(deadline::enter_at(this.limit.deadline(started))),
            (None, None) => match this.limit.lazy_duration() {
                Some(duration) => Entered::Lazy(deadline::enter_lazy(duration)),
                None => Entered::At(deadline::enter_at(this.limit.deadline(Instant::now()))),
            },
        };
        if let Poll::Ready(out) = this.call.poll(cx) {
            drop(entered);
            if let Some(started) = *this.started {
                this.limit.finished(started, Instant::now());
            }
            return Poll::Ready(out.map_err(Into::into));
        }
        let scope = entered.exit();
        if this.timer.is_none() {
            let started = this.started.or(scope.start()).unwrap_or_else(Instant::now);
            let deadline = scope
                .deadline_from(started)
                .unwrap_or_else(|| this.limit.deadline(started));
            this.timer
                .set(Some(time::sleep_until(deadline, time::TIMEOUT)));
        }
        let Some(mut timer) = this.timer.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        std::task::ready!(timer.as_mut().poll(cx));
        let deadline = timer.deadline();
        let started = match *this.started {
            Some(started) => {
                this.limit.finished(started, deadline);
                started
            }
            None => deadline,
        };
        // A fixed timeout reports its duration, as `Timeout::call` does.
        let elapsed = if <P::Target as TimeLimit>::RECORDS {
            deadline - started
        } else {
            this.limit.deadline(deadline) - deadline
        };
        tracing::debug!(name = %this.limit.instance_name(), after = ?elapsed, "resilience: call timed out");
        Poll::Ready(Err(rejected(this.limit.rejection(elapsed))))
    }
}
