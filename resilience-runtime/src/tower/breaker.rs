//! [`CircuitBreaker`] as a tower layer.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::classify::{ClassifyResponse, HttpResponses, NoResponses};
use super::{BoxError, rejected};
use crate::breaker::HeldPermit;
use crate::{CircuitBreaker, Classify, Rejection};

/// A [`CircuitBreaker`] as a [`Layer`]: while the circuit is open, calls
/// are refused with [`Rejection::CircuitOpen`] without calling the inner
/// service.
///
/// The breaker is asked in `call`; `poll_ready` only forwards the inner
/// service's readiness. A call whose future is dropped before it finishes
/// counts as neither success nor failure and gives a half-open trial back.
/// Errors count as failures unless they classify as `Permanent`; with
/// [`http`](Self::http), 5xx and 429 responses count too.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
/// use resilience::tower::CircuitBreakerLayer;
/// use std::sync::Arc;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// let breaker = Arc::new(CircuitBreaker::named("pricing", BreakerPolicy::new().failure_threshold(1)));
/// let service = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::new(breaker.clone()))
///     .service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("down")) });
/// assert!(service.oneshot(()).await.is_err());
/// assert_eq!(breaker.state(), State::Open);
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer<P, C = NoResponses> {
    breaker: P,
    classify: C,
}

impl<P: Deref<Target = CircuitBreaker>> CircuitBreakerLayer<P> {
    /// A layer over `breaker`: `&STATIC`, an `Arc`, or a named instance's `Arc`.
    ///
    /// ```
    /// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// use resilience::tower::CircuitBreakerLayer;
    ///
    /// static PAYMENTS: CircuitBreaker = CircuitBreaker::new("payments", BreakerPolicy::new());
    /// let layer = CircuitBreakerLayer::new(&PAYMENTS);
    /// # let _ = layer;
    /// ```
    pub fn new(breaker: P) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: NoResponses,
        }
    }
}

impl<P, C> CircuitBreakerLayer<P, C> {
    /// Counts responses that `classify` calls failures, as well as errors.
    ///
    /// ```
    /// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// use resilience::tower::{CircuitBreakerLayer, HttpResponses};
    ///
    /// static API: CircuitBreaker = CircuitBreaker::new("api", BreakerPolicy::new());
    /// let layer = CircuitBreakerLayer::new(&API).classify(HttpResponses);
    /// # let _ = layer;
    /// ```
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<P, C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
        }
    }

    /// Counts 5xx and 429 responses as failures ([`HttpResponses`]).
    ///
    /// ```
    /// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// use resilience::tower::CircuitBreakerLayer;
    ///
    /// static API: CircuitBreaker = CircuitBreaker::new("api-http", BreakerPolicy::new());
    /// let layer = CircuitBreakerLayer::new(&API).http();
    /// # let _ = layer;
    /// ```
    pub fn http(self) -> CircuitBreakerLayer<P, HttpResponses> {
        self.classify(HttpResponses)
    }
}

impl<P: Deref<Target = CircuitBreaker>, C> fmt::Debug for CircuitBreakerLayer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker.name())
            .finish_non_exhaustive()
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for CircuitBreakerLayer<P, C> {
    type Service = CircuitBreakerService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service of a [`CircuitBreakerLayer`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
/// use resilience::tower::CircuitBreakerLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static B: CircuitBreaker = CircuitBreaker::new("doc-breaker-service", BreakerPolicy::new());
/// let service = CircuitBreakerLayer::new(&B).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(service.oneshot(3).await.unwrap(), 3);
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreakerService<S, P, C> {
    inner: S,
    breaker: P,
    classify: C,
}

impl<S, P: Deref<Target = CircuitBreaker>, C> fmt::Debug for CircuitBreakerService<S, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("breaker", &self.breaker.name())
            .finish_non_exhaustive()
    }
}

impl<S, P, C, Request> Service<Request> for CircuitBreakerService<S, P, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    P: Deref<Target = CircuitBreaker> + Clone,
    C: ClassifyResponse<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = CircuitBreakerServiceFuture<S::Future, P, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        let (call, held, refused) = match self.breaker.try_acquire() {
            Ok(permit) => (
                Some(self.inner.call(request)),
                Some(CircuitBreaker::hold(permit)),
                None,
            ),
            Err(rejection) => (None, None, Some(rejection)),
        };
        CircuitBreakerServiceFuture {
            call,
            held,
            refused,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

pin_project! {
    /// The future of a [`CircuitBreakerService`] call: the inner call
    /// holding the breaker's permit, or the rejection.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner call; the call counts as neither
    /// success nor failure and a half-open trial permit is given back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// use resilience::tower::CircuitBreakerLayer;
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// static B: CircuitBreaker = CircuitBreaker::new("doc-breaker-future", BreakerPolicy::new());
    /// let mut service = CircuitBreakerLayer::new(&B).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let future = service.ready().await.unwrap().call(1);
    /// assert_eq!(future.await.unwrap(), 1);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct CircuitBreakerServiceFuture<F, P: Deref<Target = CircuitBreaker>, C> {
        #[pin]
        call: Option<F>,
        held: Option<HeldPermit>,
        refused: Option<Rejection>,
        breaker: P,
        classify: C,
    }

    impl<F, P: Deref<Target = CircuitBreaker>, C> PinnedDrop for CircuitBreakerServiceFuture<F, P, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(held) = this.held.take() {
                this.breaker.release_held(held);
            }
        }
    }
}

impl<F, P: Deref<Target = CircuitBreaker>, C> fmt::Debug for CircuitBreakerServiceFuture<F, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerServiceFuture")
            .field("breaker", &self.breaker.name())
            .field("holds_permit", &self.held.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, P, C, T, E> Future for CircuitBreakerServiceFuture<F, P, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    P: Deref<Target = CircuitBreaker>,
    C: ClassifyResponse<T>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(rejection) = this.refused.take() {
            return Poll::Ready(Err(rejected(rejection)));
        }
        let (Some(call), Some(held)) = (this.call.as_pin_mut(), this.held.take()) else {
            panic!("`CircuitBreakerServiceFuture` polled after it completed");
        };
        // As in `BreakerFuture`: the permit is a local while the call is
        // polled, so the call's own panic counts as a failure.
        let permit = this.breaker.resume(held);
        match call.poll(cx) {
            Poll::Ready(Ok(response)) => {
                match this.classify.classify_response(&response) {
                    None => permit.success(),
                    Some(outcome) => permit.record(outcome),
                }
                Poll::Ready(Ok(response))
            }
            Poll::Ready(Err(error)) => {
                let error: BoxError = error.into();
                permit.record(error.classify());
                Poll::Ready(Err(error))
            }
            Poll::Pending => {
                *this.held = Some(CircuitBreaker::hold(permit));
                Poll::Pending
            }
        }
    }
}
