//! [`Bulkhead`] as a tower layer.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, rejected};
use crate::bulkhead::HeldQueue;
use crate::{Bulkhead, Rejection};

/// A [`Bulkhead`] as a [`Layer`]: at most `max_concurrent` calls inside
/// the inner service at once, shared with every other user of the
/// instance (annotated functions included).
///
/// # `poll_ready`
///
/// Reserves a permit, waiting up to the bulkhead's `max_wait` (first in,
/// first out), then forwards the inner service's readiness. The permit
/// belongs to the service value until its next `call`, which holds it
/// until the inner call's future finishes or is dropped; a service
/// dropped before `call` gives it back. A bulkhead still full after
/// `max_wait` makes `poll_ready` ready anyway and the next `call` answers
/// [`Rejection::BulkheadFull`] at once, without calling the inner service.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::tower::BulkheadLayer;
/// use resilience::{Bulkhead, Rejection};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// static DB: Bulkhead = Bulkhead::new("db-pool", 1);
/// let service = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(&DB))
///     .service_fn(|q: &'static str| async move { Ok::<_, std::io::Error>(q.len()) });
///
/// let held = DB.try_acquire().unwrap(); // someone else is inside
/// let refused = service.clone().oneshot("select 1").await.unwrap_err();
/// assert!(matches!(refused.downcast_ref::<Rejection>(), Some(Rejection::BulkheadFull { .. })));
/// drop(held);
/// assert_eq!(service.oneshot("select 1").await.unwrap(), 8);
/// # }
/// ```
#[derive(Clone)]
pub struct BulkheadLayer<P> {
    bulkhead: P,
}

impl<P: Deref<Target = Bulkhead>> BulkheadLayer<P> {
    /// A layer over `bulkhead`: `&STATIC`, an `Arc`, or a named instance's `Arc`.
    ///
    /// ```
    /// use resilience::Bulkhead;
    /// use resilience::tower::BulkheadLayer;
    /// use std::sync::Arc;
    ///
    /// let layer = BulkheadLayer::new(Arc::new(Bulkhead::named("per-tenant", 4)));
    /// # let _ = layer;
    /// ```
    pub fn new(bulkhead: P) -> Self {
        BulkheadLayer { bulkhead }
    }
}

impl<P: Deref<Target = Bulkhead>> fmt::Debug for BulkheadLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadLayer")
            .field("bulkhead", &self.bulkhead.name())
            .finish()
    }
}

impl<S, P: Deref<Target = Bulkhead> + Clone> Layer<S> for BulkheadLayer<P> {
    type Service = BulkheadService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.bulkhead.clone())
    }
}

/// The service of a [`BulkheadLayer`]; see there for what `poll_ready`
/// does.
///
/// Cloning gives a service without the reservation: each clone reserves
/// its own permit.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::Bulkhead;
/// use resilience::tower::BulkheadLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// static B: Bulkhead = Bulkhead::new("doc-bulkhead-service", 2);
/// let mut service = BulkheadLayer::new(&B).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// service.ready().await.unwrap(); // a permit is reserved
/// assert_eq!(B.snapshot().in_use, 1);
/// drop(service); // no call: given back
/// assert_eq!(B.snapshot().in_use, 0);
/// # }
/// ```
pub struct BulkheadService<S, P: Deref<Target = Bulkhead>> {
    inner: S,
    bulkhead: P,
    /// A permit reserved by `poll_ready`, for the next `call`.
    reserved: bool,
    /// The place in the queue while `poll_ready` waits.
    queue: Option<HeldQueue>,
    /// The refusal `poll_ready` met, for the next `call`.
    refused: Option<Rejection>,
}

impl<S, P: Deref<Target = Bulkhead>> BulkheadService<S, P> {
    fn new(inner: S, bulkhead: P) -> Self {
        BulkheadService {
            inner,
            bulkhead,
            reserved: false,
            queue: None,
            refused: None,
        }
    }
}

impl<S: Clone, P: Deref<Target = Bulkhead> + Clone> Clone for BulkheadService<S, P> {
    fn clone(&self) -> Self {
        BulkheadService::new(self.inner.clone(), self.bulkhead.clone())
    }
}

impl<S, P: Deref<Target = Bulkhead>> Drop for BulkheadService<S, P> {
    fn drop(&mut self) {
        if std::mem::take(&mut self.reserved) {
            drop(self.bulkhead.resume());
        }
        if let Some(queue) = self.queue.take() {
            self.bulkhead.leave_held_queue(queue);
        }
    }
}

impl<S, P: Deref<Target = Bulkhead>> fmt::Debug for BulkheadService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadService")
            .field("bulkhead", &self.bulkhead.name())
            .field("reserved", &self.reserved)
            .finish_non_exhaustive()
    }
}

impl<S, P, Request> Service<Request> for BulkheadService<S, P>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    P: Deref<Target = Bulkhead> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BulkheadServiceFuture<S::Future, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.refused.is_some() {
            return Poll::Ready(Ok(()));
        }
        if !self.reserved {
            // The common case inline: a free permit and nobody waiting.
            if self.queue.is_none()
                && let Some(permit) = self.bulkhead.try_acquire()
            {
                Bulkhead::hold(permit);
                self.reserved = true;
                return self.inner.poll_ready(cx).map_err(Into::into);
            }
            match self.bulkhead.poll_acquire_held(&mut self.queue, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(permit)) => {
                    Bulkhead::hold(permit);
                    self.reserved = true;
                }
                Poll::Ready(Err(rejection)) => {
                    self.refused = Some(rejection);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let bulkhead = self.bulkhead.clone();
        if let Some(rejection) = self.refused.take() {
            return BulkheadServiceFuture::refused(bulkhead, rejection);
        }
        if !std::mem::take(&mut self.reserved) {
            // `call` without `poll_ready`: only a free permit will do.
            match self.bulkhead.try_acquire() {
                Some(permit) => Bulkhead::hold(permit),
                None => {
                    let rejection = Rejection::bulkhead_full(self.bulkhead.name().to_owned());
                    return BulkheadServiceFuture::refused(bulkhead, rejection);
                }
            }
        }
        BulkheadServiceFuture {
            call: Some(self.inner.call(request)),
            held: true,
            refused: None,
            bulkhead,
        }
    }
}

pin_project! {
    /// The future of a [`BulkheadService`] call: the inner call holding
    /// its permit (released as soon as the call finishes, or when this is
    /// dropped), or the refusal.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::Bulkhead;
    /// use resilience::tower::BulkheadLayer;
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// static B: Bulkhead = Bulkhead::new("doc-bulkhead-future", 1);
    /// let mut service = BulkheadLayer::new(&B).layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let future = service.ready().await.unwrap().call(4);
    /// drop(future); // cancelled: the permit goes back
    /// assert_eq!(B.snapshot().in_use, 0);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct BulkheadServiceFuture<F, P: Deref<Target = Bulkhead>> {
        #[pin]
        call: Option<F>,
        held: bool,
        refused: Option<Rejection>,
        bulkhead: P,
    }

    impl<F, P: Deref<Target = Bulkhead>> PinnedDrop for BulkheadServiceFuture<F, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if std::mem::take(this.held) {
                drop(this.bulkhead.resume());
            }
        }
    }
}

impl<F, P: Deref<Target = Bulkhead>> BulkheadServiceFuture<F, P> {
    fn refused(bulkhead: P, rejection: Rejection) -> Self {
        BulkheadServiceFuture {
            call: None,
            held: false,
            refused: Some(rejection),
            bulkhead,
        }
    }
}

impl<F, P: Deref<Target = Bulkhead>> fmt::Debug for BulkheadServiceFuture<F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadServiceFuture")
            .field("bulkhead", &self.bulkhead.name())
            .field("holds_permit", &self.held)
            .finish_non_exhaustive()
    }
}

impl<F, P, T, E> Future for BulkheadServiceFuture<F, P>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    P: Deref<Target = Bulkhead>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(rejection) = this.refused.take() {
            return Poll::Ready(Err(rejected(rejection)));
        }
        let Some(call) = this.call.as_mut().as_pin_mut() else {
            panic!("`BulkheadServiceFuture` polled after it completed");
        };
        let out = std::task::ready!(call.poll(cx));
        this.call.set(None);
        if std::mem::take(this.held) {
            drop(this.bulkhead.resume());
        }
        Poll::Ready(out.map_err(Into::into))
    }
}
