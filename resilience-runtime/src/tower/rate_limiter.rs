//! [`RateLimiter`] as a tower layer.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, rejected};
use crate::{RateLimiter, Rejection};

/// A [`RateLimiter`] as a [`Layer`]: calls over the rate are refused with
/// [`Rejection::RateLimited`] (its `retry_after` says when a call would be
/// admitted), without calling the inner service.
///
/// # `poll_ready`
///
/// Takes a turn from the limiter, waiting for it up to the limiter's
/// `max_wait`, then forwards the inner service's readiness. The turn
/// belongs to the service value until its next `call`; a service dropped
/// before `call` gives the turn back. A limiter with no turn within
/// `max_wait` makes `poll_ready` ready anyway and the next `call` answers
/// the rejection at once.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::tower::RateLimiterLayer;
/// use resilience::{RateLimiter, Rejection};
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// static SEARCH: RateLimiter = RateLimiter::new("doc-search", 1, Duration::from_secs(1)).burst(1);
/// let service = ServiceBuilder::new()
///     .layer(RateLimiterLayer::new(&SEARCH))
///     .service_fn(|q: u8| async move { Ok::<_, std::io::Error>(q) });
/// assert_eq!(service.clone().oneshot(1).await.unwrap(), 1);
/// let refused = service.oneshot(2).await.unwrap_err();
/// let rejection = refused.downcast_ref::<Rejection>().unwrap();
/// assert_eq!(rejection.retry_after(), Some(Duration::from_secs(1)));
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimiterLayer<P> {
    limiter: P,
}

impl<P: Deref<Target = RateLimiter>> RateLimiterLayer<P> {
    /// A layer over `limiter`: `&STATIC`, an `Arc`, or a named instance's `Arc`.
    ///
    /// ```
    /// use resilience::RateLimiter;
    /// use resilience::tower::RateLimiterLayer;
    /// use std::time::Duration;
    ///
    /// static API: RateLimiter = RateLimiter::new("doc-api-rate", 100, Duration::from_secs(1));
    /// let layer = RateLimiterLayer::new(&API);
    /// # let _ = layer;
    /// ```
    pub fn new(limiter: P) -> Self {
        RateLimiterLayer { limiter }
    }
}

impl<P: Deref<Target = RateLimiter>> fmt::Debug for RateLimiterLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiterLayer")
            .field("limiter", &self.limiter.name())
            .finish()
    }
}

impl<S, P: Deref<Target = RateLimiter> + Clone> Layer<S> for RateLimiterLayer<P> {
    type Service = RateLimiterService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimiterService::new(inner, self.limiter.clone())
    }
}

/// Where a [`RateLimiterService`] stands with its next call.
#[derive(Debug)]
enum Turn {
    /// No turn taken.
    None,
    /// A turn taken, to be waited for.
    Waiting {
        timer: Pin<Box<Sleep>>,
        reserved: u64,
    },
    /// A turn that has come, for the next `call`.
    Come { reserved: u64 },
    /// Refused, for the next `call`.
    Refused(Rejection),
}

/// The service of a [`RateLimiterLayer`]; see there for what `poll_ready`
/// does.
///
/// Cloning gives a service without a turn.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::RateLimiter;
/// use resilience::tower::RateLimiterLayer;
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static R: RateLimiter = RateLimiter::new("doc-rate-service", 1, Duration::from_secs(1)).burst(1);
/// let mut service = RateLimiterLayer::new(&R).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// service.ready().await.unwrap(); // the one turn is taken
/// assert_eq!(R.snapshot().available, 0);
/// drop(service); // no call: given back
/// assert_eq!(R.snapshot().available, 1);
/// # }
/// ```
pub struct RateLimiterService<S, P: Deref<Target = RateLimiter>> {
    inner: S,
    limiter: P,
    turn: Turn,
}

impl<S, P: Deref<Target = RateLimiter>> RateLimiterService<S, P> {
    fn new(inner: S, limiter: P) -> Self {
        RateLimiterService {
            inner,
            limiter,
            turn: Turn::None,
        }
    }
}

impl<S: Clone, P: Deref<Target = RateLimiter> + Clone> Clone for RateLimiterService<S, P> {
    fn clone(&self) -> Self {
        RateLimiterService::new(self.inner.clone(), self.limiter.clone())
    }
}

impl<S, P: Deref<Target = RateLimiter>> Drop for RateLimiterService<S, P> {
    fn drop(&mut self) {
        if let Turn::Waiting { reserved, .. } | Turn::Come { reserved } = self.turn {
            self.limiter.refund_held(reserved);
        }
    }
}

impl<S, P: Deref<Target = RateLimiter>> fmt::Debug for RateLimiterService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiterService")
            .field("limiter", &self.limiter.name())
            .field("turn", &self.turn)
            .finish_non_exhaustive()
    }
}

impl<S, P, Request> Service<Request> for RateLimiterService<S, P>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    P: Deref<Target = RateLimiter> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RateLimiterServiceFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Turn::None = self.turn {
            match self.limiter.admit_held() {
                Ok((0, reserved)) => self.turn = Turn::Come { reserved },
                Ok((wait, reserved)) => {
                    self.turn = Turn::Waiting {
                        timer: Box::pin(crate::time::sleep(
                            Duration::from_nanos(wait),
                            crate::time::RATE_LIMITER,
                        )),
                        reserved,
                    }
                }
                Err(retry_after) => {
                    self.turn = Turn::Refused(self.limiter.reject_held(retry_after));
                }
            }
        }
        match &mut self.turn {
            Turn::Come { .. } => self.inner.poll_ready(cx).map_err(Into::into),
            Turn::Waiting { timer, reserved } => {
                std::task::ready!(timer.as_mut().poll(cx));
                self.turn = Turn::Come {
                    reserved: *reserved,
                };
                self.inner.poll_ready(cx).map_err(Into::into)
            }
            Turn::Refused(_) => Poll::Ready(Ok(())),
            Turn::None => unreachable!("a turn was just taken"),
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match std::mem::replace(&mut self.turn, Turn::None) {
            Turn::Come { .. } => RateLimiterServiceFuture::called(self.inner.call(request)),
            Turn::Refused(rejection) => RateLimiterServiceFuture::refused(rejection),
            Turn::Waiting { reserved, .. } => {
                // `call` before `poll_ready` was ready: not this call's turn yet.
                self.limiter.refund_held(reserved);
                RateLimiterServiceFuture::refused(self.not_ready())
            }
            Turn::None => match self.limiter.admit_held() {
                // `call` without `poll_ready`: only a turn that is here will do.
                Ok((0, _)) => RateLimiterServiceFuture::called(self.inner.call(request)),
                Ok((_, reserved)) => {
                    self.limiter.refund_held(reserved);
                    RateLimiterServiceFuture::refused(self.not_ready())
                }
                Err(retry_after) => {
                    RateLimiterServiceFuture::refused(self.limiter.reject_held(retry_after))
                }
            },
        }
    }
}

impl<S, P: Deref<Target = RateLimiter>> RateLimiterService<S, P> {
    #[cold]
    fn not_ready(&self) -> Rejection {
        Rejection::rate_limited(self.limiter.name().to_owned(), Duration::ZERO)
    }
}

pin_project! {
    /// The future of a [`RateLimiterService`] call: the inner call, or the
    /// refusal.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::RateLimiter;
    /// use resilience::tower::RateLimiterLayer;
    /// use std::time::Duration;
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// static R: RateLimiter = RateLimiter::new("doc-rate-future", 10, Duration::from_secs(1));
    /// let mut service = RateLimiterLayer::new(&R).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let future = service.ready().await.unwrap().call(4);
    /// assert_eq!(future.await.unwrap(), 4);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct RateLimiterServiceFuture<F> {
        #[pin]
        call: Option<F>,
        refused: Option<Rejection>,
    }
}

impl<F> RateLimiterServiceFuture<F> {
    fn called(call: F) -> Self {
        RateLimiterServiceFuture {
            call: Some(call),
            refused: None,
        }
    }

    fn refused(rejection: Rejection) -> Self {
        RateLimiterServiceFuture {
            call: None,
            refused: Some(rejection),
        }
    }
}

impl<F, T, E> Future for RateLimiterServiceFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(rejection) = this.refused.take() {
            return Poll::Ready(Err(rejected(rejection)));
        }
        match this.call.as_pin_mut() {
            Some(call) => call.poll(cx).map_err(Into::into),
            None => panic!("`RateLimiterServiceFuture` polled after it completed"),
        }
    }
}
