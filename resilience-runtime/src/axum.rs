//! Load shedding for axum servers (feature `axum`): a rejected request is
//! answered with the response a client knows what to do with.
//!
//! | rejection | response |
//! |---|---|
//! | [`Rejection::RateLimited`] | `429 Too Many Requests`, `Retry-After`: its `retry_after` |
//! | [`Rejection::CircuitOpen`] | `503 Service Unavailable`, `Retry-After`: its `retry_after` |
//! | [`Rejection::BulkheadFull`] | `503 Service Unavailable`, `Retry-After`: one second (see [`LoadShedLayer::bulkhead_retry_after`]) |
//! | [`Rejection::Timeout`] | `504 Gateway Timeout` |
//! | [`Rejection::Injected`] (chaos) | `503 Service Unavailable` |
//!
//! The body is the rejection's message (`rate limiter `search` ...`), as
//! `text/plain`. `Retry-After` is in whole seconds, rounded up.
//!
//! [`LoadShedLayer`] goes outside the [`tower`](crate::tower) layers (in a
//! `ServiceBuilder`, above them) and turns their errors into responses, so
//! the stack fits `Router::layer`, whose services must not fail. A
//! handler can also return a [`Rejection`] itself: it implements
//! `IntoResponse` with the same table.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, routing::get};
//! use resilience::axum::LoadShedLayer;
//! use resilience::tower::{BulkheadLayer, RateLimiterLayer};
//! use resilience::{Bulkhead, RateLimiter};
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//!
//! static SEARCH_POOL: Bulkhead = Bulkhead::new("doc-search-pool", 64);
//! static SEARCH_RATE: RateLimiter = RateLimiter::new("doc-search-rate", 100, Duration::from_secs(1));
//!
//! let app: Router = Router::new().route("/search", get(|| async { "results" })).layer(
//!     ServiceBuilder::new()
//!         .layer(LoadShedLayer::new())
//!         .layer(RateLimiterLayer::new(&SEARCH_RATE))
//!         .layer(BulkheadLayer::new(&SEARCH_POOL)),
//! );
//! # let _ = app;
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::Rejection;
use crate::tower::BoxError;

/// What a full bulkhead's `Retry-After` says by default: a bulkhead does not
/// know when a permit frees.
const BULKHEAD_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A [`Layer`] answering the errors of the services below it: a
/// [`Rejection`] (found along the error's `source()` chain) as the table
/// in the [module docs](self) says, any other error as `500 Internal
/// Server Error` (its message is logged with `tracing`, not sent).
///
/// `poll_ready` forwards the inner service's readiness; an error there is
/// answered at the next `call`, so the service itself never fails.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use http::{Request, StatusCode};
/// use resilience::axum::LoadShedLayer;
/// use resilience::tower::BulkheadLayer;
/// use resilience::Bulkhead;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// static ONE: Bulkhead = Bulkhead::new("doc-one", 1);
/// let service = ServiceBuilder::new()
///     .layer(LoadShedLayer::new())
///     .layer(BulkheadLayer::new(&ONE))
///     .service_fn(|_: Request<()>| async { Ok::<_, std::io::Error>("ok") });
/// let _inside = ONE.try_acquire();
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "1");
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LoadShedLayer {
    bulkhead_retry_after: Duration,
}

impl LoadShedLayer {
    /// The layer, with `Retry-After: 1` for a full bulkhead.
    ///
    /// ```
    /// let layer = resilience::axum::LoadShedLayer::new();
    /// # let _ = layer;
    /// ```
    pub const fn new() -> Self {
        LoadShedLayer {
            bulkhead_retry_after: BULKHEAD_RETRY_AFTER,
        }
    }

    /// The `Retry-After` sent with a full bulkhead's 503 (a bulkhead does
    /// not know when a permit frees; one second by default).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let layer = resilience::axum::LoadShedLayer::new().bulkhead_retry_after(Duration::from_secs(5));
    /// # let _ = layer;
    /// ```
    pub const fn bulkhead_retry_after(mut self, retry_after: Duration) -> Self {
        self.bulkhead_retry_after = retry_after;
        self
    }
}

impl Default for LoadShedLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for LoadShedLayer {
    type Service = LoadShedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LoadShedService {
            inner,
            bulkhead_retry_after: self.bulkhead_retry_after,
            failed: None,
        }
    }
}

/// The service of a [`LoadShedLayer`]: never fails; errors become
/// responses.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use http::{Request, StatusCode};
/// use resilience::axum::LoadShedLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// let service = LoadShedLayer::new().layer(service_fn(|_: Request<()>| async {
///     Err::<&str, _>(std::io::Error::other("database on fire"))
/// }));
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// # }
/// ```
pub struct LoadShedService<S> {
    inner: S,
    bulkhead_retry_after: Duration,
    /// An error of the inner `poll_ready`, answered at the next `call`.
    failed: Option<BoxError>,
}

impl<S: Clone> Clone for LoadShedService<S> {
    fn clone(&self) -> Self {
        LoadShedService {
            inner: self.inner.clone(),
            bulkhead_retry_after: self.bulkhead_retry_after,
            failed: None,
        }
    }
}

impl<S> fmt::Debug for LoadShedService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedService")
            .field("bulkhead_retry_after", &self.bulkhead_retry_after)
            .finish_non_exhaustive()
    }
}

impl<S, Request> Service<Request> for LoadShedService<S>
where
    S: Service<Request>,
    S::Response: IntoResponse,
    S::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = LoadShedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.failed.is_none()
            && let Err(error) = std::task::ready!(self.inner.poll_ready(cx))
        {
            self.failed = Some(error.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (call, answer) = match self.failed.take() {
            Some(error) => (
                None,
                Some(error_response(&error, self.bulkhead_retry_after)),
            ),
            None => (Some(self.inner.call(request)), None),
        };
        LoadShedFuture {
            call,
            answer,
            bulkhead_retry_after: self.bulkhead_retry_after,
        }
    }
}

pin_project! {
    /// The future of a [`LoadShedService`] call.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use http::Request;
    /// use resilience::axum::LoadShedLayer;
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// let mut service = LoadShedLayer::new().layer(service_fn(|_: Request<()>| async { Ok::<_, std::io::Error>("hi") }));
    /// let future = service.ready().await.unwrap().call(Request::new(()));
    /// assert!(future.await.unwrap().status().is_success());
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct LoadShedFuture<F> {
        #[pin]
        call: Option<F>,
        answer: Option<Response>,
        bulkhead_retry_after: Duration,
    }
}

impl<F> fmt::Debug for LoadShedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedFuture").finish_non_exhaustive()
    }
}

impl<F, T, E> Future for LoadShedFuture<F>
where
    F: Future<Output = Result<T, E>>,
    T: IntoResponse,
    E: Into<BoxError>,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(answer) = this.answer.take() {
            return Poll::Ready(Ok(answer));
        }
        let Some(call) = this.call.as_pin_mut() else {
            panic!("`LoadShedFuture` polled after it completed");
        };
        Poll::Ready(Ok(match std::task::ready!(call.poll(cx)) {
            Ok(response) => response.into_response(),
            Err(error) => error_response(&error.into(), *this.bulkhead_retry_after),
        }))
    }
}

/// The response for an error: its rejection's, or a 500.
#[cold]
fn error_response(error: &BoxError, bulkhead_retry_after: Duration) -> Response {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&**error);
    while let Some(error) = next {
        if let Some(rejection) = error.downcast_ref::<Rejection>() {
            return rejection_response(rejection, bulkhead_retry_after);
        }
        next = error.source();
    }
    tracing::warn!(%error, "resilience: request failed, answering 500");
    let mut response = Response::new(Body::from("internal server error"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

fn rejection_response(rejection: &Rejection, bulkhead_retry_after: Duration) -> Response {
    let (status, retry_after) = match rejection {
        Rejection::RateLimited { retry_after, .. } => {
            (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after))
        }
        Rejection::CircuitOpen { retry_after, .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, Some(*retry_after))
        }
        Rejection::BulkheadFull { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, Some(bulkhead_retry_after))
        }
        Rejection::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, None),
        _ => (StatusCode::SERVICE_UNAVAILABLE, None),
    };
    let mut response = Response::new(Body::from(rejection.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(retry_after) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(whole_seconds(retry_after)));
    }
    response
}

/// `Retry-After` is whole seconds: rounded up, so a client that waits
/// that long is not refused again for being early.
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A rejection answered as the [module docs](self) say (a full bulkhead
/// with `Retry-After: 1`), for handlers that return one.
///
/// ```
/// use axum::response::IntoResponse;
/// use http::StatusCode;
/// use resilience::Rejection;
/// use std::time::Duration;
///
/// let response = Rejection::rate_limited("search", Duration::from_millis(1500)).into_response();
/// assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(response.headers()["retry-after"], "2");
/// ```
impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        rejection_response(&self, BULKHEAD_RETRY_AFTER)
    }
}
