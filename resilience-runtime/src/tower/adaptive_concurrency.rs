//! [`AdaptiveConcurrency`] as a tower layer.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::classify::{ClassifyResponse, HttpResponses, NoResponses};
use super::{BoxError, rejected};
use crate::adaptive_concurrency::HeldWait;
use crate::{AdaptiveConcurrency, Classify, Outcome, Rejection};

/// An [`AdaptiveConcurrency`] limiter as a [`Layer`]: at most `limit`
/// calls inside the inner service at once, the limit following their
/// latency and outcome, shared with every other user of the instance
/// (annotated functions included).
///
/// # `poll_ready`
///
/// Reserves a place at the layer's [`priority`](Self::priority) (0 unless
/// set), waiting up to the limiter's `max_wait` behind waiters of the same
/// or higher priority, then forwards the inner service's readiness. The
/// place belongs to the service value until its next `call`, which holds
/// it until the inner call's future finishes (measured) or is dropped
/// (given back, not measured); a service dropped before `call` gives it
/// back. A limiter still full after `max_wait` makes `poll_ready` ready
/// anyway and the next `call` answers [`Rejection::ConcurrencyLimited`] at
/// once, without calling the inner service.
///
/// Errors count as failures unless they classify as `Permanent`; with
/// [`classify`](Self::classify) (or [`http`](Self::http)) responses can
/// count as failures too.
///
/// # Priorities
///
/// `poll_ready` runs before the request is known, so a priority belongs to
/// a stack: give each class of traffic (a route, a tenant tier) its own
/// layer over the same instance.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::tower::AdaptiveConcurrencyLayer;
/// use resilience::{AdaptiveConcurrency, LimitAlgorithm, Rejection};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// static DB: AdaptiveConcurrency =
///     AdaptiveConcurrency::new("db-adaptive", LimitAlgorithm::Vegas).min(1).initial(1);
/// let service = ServiceBuilder::new()
///     .layer(AdaptiveConcurrencyLayer::new(&DB).priority(5))
///     .service_fn(|q: &'static str| async move { Ok::<_, std::io::Error>(q.len()) });
///
/// let held = DB.try_acquire(9).unwrap(); // someone else is inside
/// let refused = service.clone().oneshot("select 1").await.unwrap_err();
/// assert!(matches!(refused.downcast_ref::<Rejection>(), Some(Rejection::ConcurrencyLimited { .. })));
/// held.success();
/// assert_eq!(service.oneshot("select 1").await.unwrap(), 8);
/// # }
/// ```
#[derive(Clone)]
pub struct AdaptiveConcurrencyLayer<P, C = NoResponses> {
    limiter: P,
    priority: u8,
    classify: C,
}

impl<P: Deref<Target = AdaptiveConcurrency>> AdaptiveConcurrencyLayer<P> {
    /// A layer over `limiter`: `&STATIC`, an `Arc`, or a named instance's
    /// `Arc`; its calls have priority 0.
    ///
    /// ```
    /// use resilience::tower::AdaptiveConcurrencyLayer;
    /// use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// use std::sync::Arc;
    ///
    /// let layer = AdaptiveConcurrencyLayer::new(Arc::new(AdaptiveConcurrency::named(
    ///     "per-tenant",
    ///     LimitAlgorithm::Gradient2,
    /// )));
    /// # let _ = layer;
    /// ```
    pub fn new(limiter: P) -> Self {
        AdaptiveConcurrencyLayer {
            limiter,
            priority: 0,
            classify: NoResponses,
        }
    }
}

impl<P: Deref<Target = AdaptiveConcurrency>, C> AdaptiveConcurrencyLayer<P, C> {
    /// The priority of every call through this layer (higher is more
    /// important; default 0).
    ///
    /// ```
    /// use resilience::tower::AdaptiveConcurrencyLayer;
    /// use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    ///
    /// static API: AdaptiveConcurrency = AdaptiveConcurrency::new("api-tiers", LimitAlgorithm::Vegas);
    /// let checkout = AdaptiveConcurrencyLayer::new(&API).priority(9);
    /// let recommendations = AdaptiveConcurrencyLayer::new(&API).priority(1);
    /// # let _ = (checkout, recommendations);
    /// ```
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Counts responses that `classify` calls failures (any outcome but
    /// `Permanent`), as well as errors.
    ///
    /// ```
    /// use resilience::tower::{AdaptiveConcurrencyLayer, HttpResponses};
    /// use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    ///
    /// static API: AdaptiveConcurrency = AdaptiveConcurrency::new("api-classify", LimitAlgorithm::Aimd);
    /// let layer = AdaptiveConcurrencyLayer::new(&API).classify(HttpResponses);
    /// # let _ = layer;
    /// ```
    pub fn classify<C2>(self, classify: C2) -> AdaptiveConcurrencyLayer<P, C2> {
        AdaptiveConcurrencyLayer {
            limiter: self.limiter,
            priority: self.priority,
            classify,
        }
    }

    /// Counts 5xx and 429 responses as failures (`classify(HttpResponses)`).
    ///
    /// ```
    /// use resilience::tower::AdaptiveConcurrencyLayer;
    /// use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    ///
    /// static API: AdaptiveConcurrency = AdaptiveConcurrency::new("api-http", LimitAlgorithm::Aimd);
    /// let layer = AdaptiveConcurrencyLayer::new(&API).http();
    /// # let _ = layer;
    /// ```
    pub fn http(self) -> AdaptiveConcurrencyLayer<P, HttpResponses> {
        self.classify(HttpResponses)
    }
}

impl<P: Deref<Target = AdaptiveConcurrency>, C> fmt::Debug for AdaptiveConcurrencyLayer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrencyLayer")
            .field("limiter", &self.limiter.name())
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

impl<S, P, C> Layer<S> for AdaptiveConcurrencyLayer<P, C>
where
    P: Deref<Target = AdaptiveConcurrency> + Clone,
    C: Clone,
{
    type Service = AdaptiveConcurrencyService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveConcurrencyService::new(
            inner,
            self.limiter.clone(),
            self.priority,
            self.classify.clone(),
        )
    }
}

/// The service of an [`AdaptiveConcurrencyLayer`]; see there for what
/// `poll_ready` does.
///
/// Cloning gives a service without the reservation: each clone reserves
/// its own place.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::tower::AdaptiveConcurrencyLayer;
/// use resilience::{AdaptiveConcurrency, LimitAlgorithm};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static L: AdaptiveConcurrency = AdaptiveConcurrency::new("doc-adaptive-service", LimitAlgorithm::Aimd);
/// let mut service = AdaptiveConcurrencyLayer::new(&L).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// service.ready().await.unwrap(); // a place is reserved
/// assert_eq!(L.snapshot().in_flight, 1);
/// drop(service); // no call: given back
/// assert_eq!(L.snapshot().in_flight, 0);
/// # }
/// ```
pub struct AdaptiveConcurrencyService<S, P: Deref<Target = AdaptiveConcurrency>, C = NoResponses> {
    inner: S,
    limiter: P,
    priority: u8,
    classify: C,
    /// When the place reserved by `poll_ready` was taken, for the next
    /// `call`.
    reserved: Option<Instant>,
    /// The place in the queue while `poll_ready` waits.
    queue: Option<HeldWait>,
    /// The refusal `poll_ready` met, for the next `call`.
    refused: Option<Rejection>,
}

impl<S, P: Deref<Target = AdaptiveConcurrency>, C> AdaptiveConcurrencyService<S, P, C> {
    fn new(inner: S, limiter: P, priority: u8, classify: C) -> Self {
        AdaptiveConcurrencyService {
            inner,
            limiter,
            priority,
            classify,
            reserved: None,
            queue: None,
            refused: None,
        }
    }
}

impl<S: Clone, P: Deref<Target = AdaptiveConcurrency> + Clone, C: Clone> Clone
    for AdaptiveConcurrencyService<S, P, C>
{
    fn clone(&self) -> Self {
        AdaptiveConcurrencyService::new(
            self.inner.clone(),
            self.limiter.clone(),
            self.priority,
            self.classify.clone(),
        )
    }
}

impl<S, P: Deref<Target = AdaptiveConcurrency>, C> Drop for AdaptiveConcurrencyService<S, P, C> {
    fn drop(&mut self) {
        if let Some(start) = self.reserved.take() {
            self.limiter.release_held(start, None);
        }
        if let Some(queue) = self.queue.take() {
            self.limiter.leave_held_wait(queue);
        }
    }
}

impl<S, P: Deref<Target = AdaptiveConcurrency>, C> fmt::Debug
    for AdaptiveConcurrencyService<S, P, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrencyService")
            .field("limiter", &self.limiter.name())
            .field("priority", &self.priority)
            .field("reserved", &self.reserved.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, P, C, Request> Service<Request> for AdaptiveConcurrencyService<S, P, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    P: Deref<Target = AdaptiveConcurrency> + Clone,
    C: ClassifyResponse<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = AdaptiveConcurrencyServiceFuture<S::Future, P, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.refused.is_some() {
            return Poll::Ready(Ok(()));
        }
        if self.reserved.is_none() {
            match self
                .limiter
                .poll_acquire_held(self.priority, &mut self.queue, cx)
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(start)) => self.reserved = Some(start),
                Poll::Ready(Err(rejection)) => {
                    self.refused = Some(rejection);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let limiter = self.limiter.clone();
        let classify = self.classify.clone();
        if let Some(rejection) = self.refused.take() {
            return AdaptiveConcurrencyServiceFuture::refused(limiter, classify, rejection);
        }
        // `call` without `poll_ready`: only a free place will do. The
        // latency is measured from here, not from the reservation.
        if self.reserved.take().is_some() {
            // The place stays taken; only its start moves to now.
        } else if self.limiter.try_acquire_held(self.priority).is_none() {
            let rejection = self.limiter.refuse_held(self.priority);
            return AdaptiveConcurrencyServiceFuture::refused(limiter, classify, rejection);
        }
        AdaptiveConcurrencyServiceFuture {
            call: Some(self.inner.call(request)),
            start: Some(Instant::now()),
            refused: None,
            limiter,
            classify,
        }
    }
}

pin_project! {
    /// The future of an [`AdaptiveConcurrencyService`] call: the inner
    /// call holding its place (given back as soon as the call finishes,
    /// with its latency and outcome measured, or when this is dropped,
    /// unmeasured), or the refusal.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::tower::AdaptiveConcurrencyLayer;
    /// use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// static L: AdaptiveConcurrency = AdaptiveConcurrency::new("doc-adaptive-future", LimitAlgorithm::Vegas);
    /// let mut service = AdaptiveConcurrencyLayer::new(&L).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let future = service.ready().await.unwrap().call(4);
    /// assert_eq!(L.snapshot().in_flight, 1);
    /// drop(future); // cancelled: the place goes back
    /// assert_eq!(L.snapshot().in_flight, 0);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct AdaptiveConcurrencyServiceFuture<F, P: Deref<Target = AdaptiveConcurrency>, C = NoResponses> {
        #[pin]
        call: Option<F>,
        start: Option<Instant>,
        refused: Option<Rejection>,
        limiter: P,
        classify: C,
    }

    impl<F, P: Deref<Target = AdaptiveConcurrency>, C> PinnedDrop for AdaptiveConcurrencyServiceFuture<F, P, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(start) = this.start.take() {
                this.limiter.release_held(start, None);
            }
        }
    }
}

impl<F, P: Deref<Target = AdaptiveConcurrency>, C> AdaptiveConcurrencyServiceFuture<F, P, C> {
    fn refused(limiter: P, classify: C, rejection: Rejection) -> Self {
        AdaptiveConcurrencyServiceFuture {
            call: None,
            start: None,
            refused: Some(rejection),
            limiter,
            classify,
        }
    }
}

impl<F, P: Deref<Target = AdaptiveConcurrency>, C> fmt::Debug
    for AdaptiveConcurrencyServiceFuture<F, P, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrencyServiceFuture")
            .field("limiter", &self.limiter.name())
            .field("holds_place", &self.start.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, P, C, T, E> Future for AdaptiveConcurrencyServiceFuture<F, P, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    P: Deref<Target = AdaptiveConcurrency>,
    C: ClassifyResponse<T>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(rejection) = this.refused.take() {
            return Poll::Ready(Err(rejected(rejection)));
        }
        let Some(call) = this.call.as_mut().as_pin_mut() else {
            panic!("`AdaptiveConcurrencyServiceFuture` polled after it completed");
        };
        let out = std::task::ready!(call.poll(cx));
        this.call.set(None);
        let (failed, out) = match out {
            Ok(response) => {
                let outcome = this.classify.classify_response(&response);
                (outcome.is_some_and(failure), Ok(response))
            }
            Err(error) => {
                let error: BoxError = error.into();
                (failure(error.classify()), Err(error))
            }
        };
        if let Some(start) = this.start.take() {
            this.limiter.release_held(start, Some(failed));
        }
        Poll::Ready(out)
    }
}

/// Every outcome but `Permanent` says something about load.
fn failure(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::Permanent)
}
