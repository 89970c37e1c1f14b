//! [`Hedge`] as a tower layer.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use super::BoxError;
use super::classify::{ClassifyResponse, HttpResponses, NoResponses};
use crate::Hedge;

/// A [`Hedge`] as a [`Layer`]: when the inner call has not answered after
/// the hedge's delay, the request is sent again (up to `max_hedges`
/// times) and the first successful answer wins; the others are dropped.
/// With [`http`](Self::http), a 5xx or 429 response is not a success: the
/// others are still awaited, and the last failure is returned when every
/// attempt failed.
///
/// Each hedge gets a clone of the request (`Request: Clone`) and a clone
/// of the inner service (`S: Clone`), polled ready before it is called.
/// `poll_ready` forwards the inner service's readiness, for the first
/// attempt.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::Hedge;
/// use resilience::tower::HedgeLayer;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// static SLOW_FIRST: Hedge = Hedge::new("doc-hedge", Duration::from_millis(50), 1);
/// static CALLS: AtomicU32 = AtomicU32::new(0);
/// let service = ServiceBuilder::new()
///     .layer(HedgeLayer::new(&SLOW_FIRST))
///     .service_fn(|_: ()| async {
///         let n = CALLS.fetch_add(1, Ordering::Relaxed);
///         if n == 0 {
///             tokio::time::sleep(Duration::from_secs(10)).await;
///         }
///         Ok::<_, std::io::Error>(n)
///     });
/// let started = tokio::time::Instant::now();
/// assert_eq!(service.oneshot(()).await.unwrap(), 1, "the hedge answered");
/// assert_eq!(started.elapsed(), Duration::from_millis(50));
/// # }
/// ```
#[derive(Clone)]
pub struct HedgeLayer<P, C = NoResponses> {
    hedge: P,
    classify: C,
}

impl<P: Deref<Target = Hedge>> HedgeLayer<P> {
    /// A layer over `hedge`: `&STATIC`, an `Arc`, or a named instance's `Arc`.
    ///
    /// ```
    /// use resilience::Hedge;
    /// use resilience::tower::HedgeLayer;
    ///
    /// static H: Hedge = Hedge::adaptive("doc-hedge-layer", 1);
    /// let layer = HedgeLayer::new(&H);
    /// # let _ = layer;
    /// ```
    pub fn new(hedge: P) -> Self {
        HedgeLayer {
            hedge,
            classify: NoResponses,
        }
    }
}

impl<P, C> HedgeLayer<P, C> {
    /// Treats responses that `classify` calls failures as failed attempts.
    ///
    /// ```
    /// use resilience::Hedge;
    /// use resilience::tower::{HedgeLayer, HttpResponses};
    /// use std::time::Duration;
    ///
    /// static H: Hedge = Hedge::new("doc-hedge-classify", Duration::from_millis(20), 1);
    /// let layer = HedgeLayer::new(&H).classify(HttpResponses);
    /// # let _ = layer;
    /// ```
    pub fn classify<C2>(self, classify: C2) -> HedgeLayer<P, C2> {
        HedgeLayer {
            hedge: self.hedge,
            classify,
        }
    }

    /// Treats 5xx and 429 responses as failed attempts ([`HttpResponses`]).
    ///
    /// ```
    /// use resilience::Hedge;
    /// use resilience::tower::HedgeLayer;
    /// use std::time::Duration;
    ///
    /// static H: Hedge = Hedge::new("doc-hedge-http", Duration::from_millis(20), 1);
    /// let layer = HedgeLayer::new(&H).http();
    /// # let _ = layer;
    /// ```
    pub fn http(self) -> HedgeLayer<P, HttpResponses> {
        self.classify(HttpResponses)
    }
}

impl<P: Deref<Target = Hedge>, C> fmt::Debug for HedgeLayer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("hedge", &self.hedge.name())
            .finish_non_exhaustive()
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for HedgeLayer<P, C> {
    type Service = HedgeService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService {
            inner,
            hedge: self.hedge.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service of a [`HedgeLayer`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::Hedge;
/// use resilience::tower::HedgeLayer;
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static H: Hedge = Hedge::new("doc-hedge-service", Duration::from_millis(20), 1);
/// let service = HedgeLayer::new(&H).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(service.oneshot(8).await.unwrap(), 8);
/// # }
/// ```
#[derive(Clone)]
pub struct HedgeService<S, P, C> {
    inner: S,
    hedge: P,
    classify: C,
}

impl<S, P: Deref<Target = Hedge>, C> fmt::Debug for HedgeService<S, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeService")
            .field("hedge", &self.hedge.name())
            .finish_non_exhaustive()
    }
}

impl<S, P, C, Request> Service<Request> for HedgeService<S, P, C>
where
    S: Service<Request> + Clone,
    S::Error: Into<BoxError>,
    Request: Clone,
    P: Deref<Target = Hedge> + Clone,
    C: ClassifyResponse<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = HedgeServiceFuture<S, Request, P, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let service = self.inner.clone();
        let started = self.hedge.is_adaptive().then(Instant::now);
        let primary = self.inner.call(request.clone());
        HedgeServiceFuture {
            primary: Some(primary),
            started,
            hedges: Vec::new(),
            timer: None,
            delay: None,
            launched: 0,
            last: None,
            service,
            request,
            hedge: self.hedge.clone(),
            classify: self.classify.clone(),
        }
    }
}

type Attempt<F> = (Option<Instant>, Pin<Box<F>>);

pin_project! {
    /// The future of a [`HedgeService`] call: the first attempt and the
    /// hedges sent after it.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops every attempt in flight.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::Hedge;
    /// use resilience::tower::HedgeLayer;
    /// use std::time::Duration;
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// static H: Hedge = Hedge::new("doc-hedge-future", Duration::from_millis(20), 1);
    /// let mut service = HedgeLayer::new(&H).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let future = service.ready().await.unwrap().call(1);
    /// assert_eq!(future.await.unwrap(), 1);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct HedgeServiceFuture<S: Service<Request>, Request, P, C> {
        #[pin]
        primary: Option<S::Future>,
        started: Option<Instant>,
        // Boxed: only calls slow enough to hedge allocate.
        hedges: Vec<Attempt<S::Future>>,
        #[pin]
        timer: Option<Sleep>,
        // The hedge delay, read once the first attempt is pending.
        delay: Option<Option<std::time::Duration>>,
        launched: u32,
        // The last failed attempt's answer.
        last: Option<Result<S::Response, BoxError>>,
        service: S,
        request: Request,
        hedge: P,
        classify: C,
    }
}

impl<S: Service<Request>, Request, P: Deref<Target = Hedge>, C> fmt::Debug
    for HedgeServiceFuture<S, Request, P, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeServiceFuture")
            .field("hedge", &self.hedge.name())
            .field("hedges", &self.hedges.len())
            .finish_non_exhaustive()
    }
}

impl<S, Request, P, C> Future for HedgeServiceFuture<S, Request, P, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    Request: Clone,
    P: Deref<Target = Hedge>,
    C: ClassifyResponse<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(attempt) = this.primary.as_mut().as_pin_mut()
                && let Poll::Ready(out) = attempt.poll(cx)
            {
                this.primary.set(None);
                match judge(this.classify, out) {
                    Ok(response) => {
                        if let Some(started) = *this.started {
                            this.hedge.record_held(started);
                        }
                        return Poll::Ready(Ok(response));
                    }
                    Err(failed) => *this.last = Some(failed),
                }
            }
            let mut index = 0;
            while index < this.hedges.len() {
                match this.hedges[index].1.as_mut().poll(cx) {
                    Poll::Ready(out) => match judge(this.classify, out) {
                        Ok(response) => {
                            if let Some(started) = this.hedges[index].0 {
                                this.hedge.record_held(started);
                            }
                            tracing::debug!(name = %this.hedge.name(), hedge = index + 1, "resilience: a hedge answered first");
                            return Poll::Ready(Ok(response));
                        }
                        Err(failed) => {
                            *this.last = Some(failed);
                            drop(this.hedges.swap_remove(index));
                        }
                    },
                    Poll::Pending => index += 1,
                }
            }
            let hedge = &**this.hedge;
            let delay = *this.delay.get_or_insert_with(|| hedge.current_delay());
            let delay = delay.filter(|_| *this.launched < hedge.max_hedges());
            if this.primary.is_none() && this.hedges.is_empty() {
                // Every attempt so far failed: a hedge still to send is
                // not waited for, as `Hedge::call` does.
                if let Some(last) = this.last.take() {
                    return Poll::Ready(last);
                }
            }
            let Some(delay) = delay else {
                return Poll::Pending;
            };
            if this.timer.is_none() {
                this.timer
                    .set(Some(crate::time::sleep(delay, crate::time::HEDGE)));
            }
            let Some(timer) = this.timer.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            if timer.poll(cx).is_pending() {
                return Poll::Pending;
            }
            match this.service.poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => {
                    // No hedge today; the attempts in flight go on.
                    let error: BoxError = error.into();
                    tracing::debug!(name = %hedge.name(), %error, "resilience: hedge not sent, service not ready");
                    *this.launched = hedge.max_hedges();
                    continue;
                }
                Poll::Ready(Ok(())) => {}
            }
            this.timer.set(None);
            *this.launched += 1;
            tracing::info!(name = %hedge.name(), hedge = *this.launched, after = ?delay, "resilience: no answer yet, sending a hedge");
            let attempt = this.service.call(this.request.clone());
            this.hedges
                .push((this.started.map(|_| Instant::now()), Box::pin(attempt)));
        }
    }
}

/// An attempt's answer: the response to return, or the failure to keep.
fn judge<T, E: Into<BoxError>>(
    classify: &impl ClassifyResponse<T>,
    out: Result<T, E>,
) -> Result<T, Result<T, BoxError>> {
    match out {
        Ok(response) => match classify.classify_response(&response) {
            None => Ok(response),
            Some(_) => Err(Ok(response)),
        },
        Err(error) => Err(Err(error.into())),
    }
}
