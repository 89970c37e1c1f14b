//! [`Retry`] as a tower layer.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use super::BoxError;
use super::classify::{ClassifyResponse, HttpResponses, NoResponses};
use crate::retry::HeldAttempts;
use crate::{Classify, Retry};

/// A [`Retry`] as a [`Layer`]: a failed call is made again, as the
/// instance's [`RetryPolicy`](crate::RetryPolicy) says (attempts, backoff,
/// jitter, `max_elapsed`, budget), for errors that [`Classify`] calls
/// retryable; with [`http`](Self::http), for 429, 502, 503, 504 and 408
/// responses too (500 only with `idempotent`), waiting at least their
/// `Retry-After`.
///
/// Each attempt gets a clone of the request (`Request: Clone`) and a clone
/// of the inner service (`S: Clone`), polled ready before it is called.
/// `poll_ready` forwards the inner service's readiness, for the first
/// attempt.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::tower::RetryLayer;
/// use resilience::{Retry, RetryPolicy};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::io;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// static FLAKY: Retry = Retry::new("doc-flaky", RetryPolicy::new().max_attempts(3));
/// static CALLS: AtomicU32 = AtomicU32::new(0);
/// let service = ServiceBuilder::new()
///     .layer(RetryLayer::new(&FLAKY))
///     .service_fn(|_: ()| async {
///         match CALLS.fetch_add(1, Ordering::Relaxed) {
///             0 => Err(io::Error::from(io::ErrorKind::ConnectionReset)),
///             n => Ok(n),
///         }
///     });
/// assert_eq!(service.oneshot(()).await.unwrap(), 1);
/// # }
/// ```
#[derive(Clone)]
pub struct RetryLayer<P, C = NoResponses> {
    retry: P,
    classify: C,
}

impl<P: Deref<Target = Retry>> RetryLayer<P> {
    /// A layer over `retry`: `&STATIC`, an `Arc`, or a named instance's `Arc`.
    ///
    /// ```
    /// use resilience::{Retry, RetryPolicy};
    /// use resilience::tower::RetryLayer;
    ///
    /// static R: Retry = Retry::new("doc-retry-layer", RetryPolicy::new());
    /// let layer = RetryLayer::new(&R);
    /// # let _ = layer;
    /// ```
    pub fn new(retry: P) -> Self {
        RetryLayer {
            retry,
            classify: NoResponses,
        }
    }
}

impl<P, C> RetryLayer<P, C> {
    /// Also retries responses that `classify` calls retryable failures.
    ///
    /// ```
    /// use resilience::{Retry, RetryPolicy};
    /// use resilience::tower::{HttpResponses, RetryLayer};
    ///
    /// static R: Retry = Retry::new("doc-retry-classify", RetryPolicy::new());
    /// let layer = RetryLayer::new(&R).classify(HttpResponses);
    /// # let _ = layer;
    /// ```
    pub fn classify<C2>(self, classify: C2) -> RetryLayer<P, C2> {
        RetryLayer {
            retry: self.retry,
            classify,
        }
    }

    /// Also retries 429, 502, 503, 504 and 408 responses, honouring
    /// `Retry-After` ([`HttpResponses`]).
    ///
    /// ```
    /// use resilience::{Retry, RetryPolicy};
    /// use resilience::tower::RetryLayer;
    ///
    /// static R: Retry = Retry::new("doc-retry-http", RetryPolicy::new());
    /// let layer = RetryLayer::new(&R).http();
    /// # let _ = layer;
    /// ```
    pub fn http(self) -> RetryLayer<P, HttpResponses> {
        self.classify(HttpResponses)
    }
}

impl<P: Deref<Target = Retry>, C> fmt::Debug for RetryLayer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("retry", &self.retry.name())
            .finish_non_exhaustive()
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for RetryLayer<P, C> {
    type Service = RetryService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            retry: self.retry.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service of a [`RetryLayer`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::{Retry, RetryPolicy};
/// use resilience::tower::RetryLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static R: Retry = Retry::new("doc-retry-service", RetryPolicy::new());
/// let service = RetryLayer::new(&R).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(service.oneshot(5).await.unwrap(), 5);
/// # }
/// ```
#[derive(Clone)]
pub struct RetryService<S, P, C> {
    inner: S,
    retry: P,
    classify: C,
}

impl<S, P: Deref<Target = Retry>, C> fmt::Debug for RetryService<S, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("retry", &self.retry.name())
            .finish_non_exhaustive()
    }
}

impl<S, P, C, Request> Service<Request> for RetryService<S, P, C>
where
    S: Service<Request> + Clone,
    S::Error: Into<BoxError>,
    Request: Clone,
    P: Deref<Target = Retry> + Clone,
    C: ClassifyResponse<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RetryServiceFuture<S, Request, P, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The ready service makes the first attempt; the clone, the others.
        let service = self.inner.clone();
        let attempt = self.inner.call(request.clone());
        RetryServiceFuture {
            state: State::Calling { attempt },
            service,
            request,
            attempts: Retry::hold(self.retry.start()),
            retry: self.retry.clone(),
            classify: self.classify.clone(),
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] attempt: F },
        Waiting { #[pin] timer: Sleep },
        Readying,
    }
}

pin_project! {
    /// The future of a [`RetryService`] call: the attempt in flight or the
    /// wait before the next one.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the attempt in flight or the wait; no further
    /// attempt starts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::{Retry, RetryPolicy};
    /// use resilience::tower::RetryLayer;
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// static R: Retry = Retry::new("doc-retry-future", RetryPolicy::new());
    /// let mut service = RetryLayer::new(&R).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let future = service.ready().await.unwrap().call(6);
    /// assert_eq!(future.await.unwrap(), 6);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryServiceFuture<S: Service<Request>, Request, P, C> {
        #[pin]
        state: State<S::Future>,
        service: S,
        request: Request,
        attempts: HeldAttempts,
        retry: P,
        classify: C,
    }
}

impl<S: Service<Request>, Request, P: Deref<Target = Retry>, C> fmt::Debug
    for RetryServiceFuture<S, Request, P, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryServiceFuture")
            .field("retry", &self.retry.name())
            .finish_non_exhaustive()
    }
}

impl<S, Request, P, C> Future for RetryServiceFuture<S, Request, P, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    Request: Clone,
    P: Deref<Target = Retry>,
    C: ClassifyResponse<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { attempt } => {
                    let outcome = match ready!(attempt.poll(cx)) {
                        Ok(response) => match this.classify.classify_response(&response) {
                            None => return Poll::Ready(Ok(response)),
                            Some(outcome) => {
                                if !retry_after(this.retry, this.attempts, outcome, &mut this.state)
                                {
                                    return Poll::Ready(Ok(response));
                                }
                                continue;
                            }
                        },
                        Err(error) => {
                            let error: BoxError = error.into();
                            (error.classify(), error)
                        }
                    };
                    let (outcome, error) = outcome;
                    if !retry_after(this.retry, this.attempts, outcome, &mut this.state) {
                        return Poll::Ready(Err(error));
                    }
                }
                StateProj::Waiting { timer } => {
                    ready!(timer.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    ready!(this.service.poll_ready(cx)).map_err(Into::into)?;
                    let attempt = this.service.call(this.request.clone());
                    this.state.set(State::Calling { attempt });
                }
            }
        }
    }
}

/// Records a failed attempt; when another follows, arms the wait before
/// it and says so.
fn retry_after<F>(
    retry: &impl Deref<Target = Retry>,
    held: &mut HeldAttempts,
    outcome: crate::Outcome,
    state: &mut Pin<&mut State<F>>,
) -> bool {
    let mut attempts = retry.resume(*held);
    let delay = attempts.after_failure(outcome);
    *held = Retry::hold(attempts);
    match delay {
        Some(delay) => {
            state.set(State::Waiting {
                timer: crate::time::sleep(delay, crate::time::RETRY),
            });
            true
        }
        None => false,
    }
}
