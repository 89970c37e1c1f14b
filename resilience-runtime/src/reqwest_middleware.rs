//! A [`reqwest_middleware::Middleware`](::reqwest_middleware::Middleware)
//! running each request through our instances (feature
//! `reqwest-middleware`): the same breaker, retry, timeout, bulkhead and
//! rate limiter an annotated function uses can guard a `reqwest` client.
//!
//! The layers are added outermost first, as attributes read:
//! `.retry(&R).timeout(&T)` is a timeout per attempt, `.timeout(&T).retry(&R)`
//! a deadline over all attempts.
//!
//! Responses are classified as [`http`](crate::http) says: a 5xx or 429
//! response counts against a breaker and is retried when transient (429,
//! 502, 503, 504, 408; 500 only with an `idempotent` retry policy), after
//! at least its `Retry-After`; errors are classified by [`Classify`]
//! (a timeout or a refused connection is transient). Only requests with
//! an idempotent method (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and a
//! body that can be cloned are retried, unless
//! [`retry_any_method`](ResilienceMiddleware::retry_any_method) says
//! otherwise. A response that is not retried is returned as it is (the
//! caller still sees the 503).
//!
//! A rejection comes back as `reqwest_middleware::Error::Middleware`,
//! holding the [`Rejection`]: `error.downcast_ref::<Rejection>()` on the
//! `anyhow::Error` inside.
//!
//! ```
//! use resilience::breaker::{BreakerPolicy, CircuitBreaker};
//! use resilience::reqwest_middleware::ResilienceMiddleware;
//! use resilience::{Retry, RetryPolicy, Timeout};
//! use std::time::Duration;
//!
//! static PRICES: CircuitBreaker = CircuitBreaker::new("doc-prices", BreakerPolicy::new());
//! static PRICES_RETRY: Retry = Retry::new("doc-prices-retry", RetryPolicy::new().max_attempts(3));
//! static PRICES_TIMEOUT: Timeout = Timeout::new("doc-prices-timeout", Duration::from_secs(2));
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(
//!         ResilienceMiddleware::new()
//!             .circuit_breaker(&PRICES)
//!             .retry(&PRICES_RETRY)
//!             .timeout(&PRICES_TIMEOUT),
//!     )
//!     .build();
//! # let _ = client;
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use ::reqwest_middleware::{Error, Middleware, Next, Result};
use http::{Extensions, Method};
use reqwest::{Request, Response};

use crate::http::HttpError;
use crate::{
    AdaptiveTimeout, Bulkhead, CircuitBreaker, Classify, Outcome, RateLimiter, Rejection, Retry,
    Timeout,
};

/// An instance the middleware uses: a `&'static` one or an `Arc` (a named
/// instance from the registry is an `Arc`).
///
/// ```
/// use resilience::reqwest_middleware::Instance;
/// use resilience::{Timeout};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// static T: Timeout = Timeout::new("doc-instance", Duration::from_secs(1));
/// let a: Instance<Timeout> = (&T).into();
/// let b: Instance<Timeout> = Arc::new(Timeout::named("per-host", Duration::from_secs(1))).into();
/// assert_eq!((a.name(), b.name()), ("doc-instance", "per-host"));
/// ```
#[derive(Debug)]
pub enum Instance<T: 'static> {
    /// An instance in a `static`.
    Static(&'static T),
    /// A shared instance.
    Shared(Arc<T>),
}

impl<T> Clone for Instance<T> {
    fn clone(&self) -> Self {
        match self {
            Instance::Static(t) => Instance::Static(t),
            Instance::Shared(t) => Instance::Shared(Arc::clone(t)),
        }
    }
}

impl<T> Deref for Instance<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Instance::Static(t) => t,
            Instance::Shared(t) => t,
        }
    }
}

impl<T> From<&'static T> for Instance<T> {
    fn from(t: &'static T) -> Self {
        Instance::Static(t)
    }
}

impl<T> From<Arc<T>> for Instance<T> {
    fn from(t: Arc<T>) -> Self {
        Instance::Shared(t)
    }
}

#[derive(Debug, Clone)]
enum Step {
    CircuitBreaker(Instance<CircuitBreaker>),
    Retry(Instance<Retry>),
    Timeout(Instance<Timeout>),
    AdaptiveTimeout(Instance<AdaptiveTimeout>),
    Bulkhead(Instance<Bulkhead>),
    RateLimiter(Instance<RateLimiter>),
}

/// The middleware: a stack of our instances, outermost first; see the
/// [module docs](self).
///
/// ```
/// use resilience::reqwest_middleware::ResilienceMiddleware;
/// use resilience::Bulkhead;
///
/// static UPLOADS: Bulkhead = Bulkhead::new("doc-uploads", 4);
/// let middleware = ResilienceMiddleware::new().bulkhead(&UPLOADS);
/// # let _ = middleware;
/// ```
#[derive(Clone, Default)]
pub struct ResilienceMiddleware {
    steps: Vec<Step>,
    retry_any_method: bool,
}

impl fmt::Debug for ResilienceMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResilienceMiddleware")
            .field("steps", &self.steps)
            .field("retry_any_method", &self.retry_any_method)
            .finish()
    }
}

impl ResilienceMiddleware {
    /// A middleware with no layers (every request goes straight through).
    ///
    /// ```
    /// let m = resilience::reqwest_middleware::ResilienceMiddleware::new();
    /// # let _ = m;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a circuit breaker below the layers added so far.
    ///
    /// ```
    /// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// use resilience::reqwest_middleware::ResilienceMiddleware;
    ///
    /// static B: CircuitBreaker = CircuitBreaker::new("doc-mw-breaker", BreakerPolicy::new());
    /// let m = ResilienceMiddleware::new().circuit_breaker(&B);
    /// # let _ = m;
    /// ```
    pub fn circuit_breaker(self, breaker: impl Into<Instance<CircuitBreaker>>) -> Self {
        self.push(Step::CircuitBreaker(breaker.into()))
    }

    /// Adds a retry below the layers added so far.
    ///
    /// ```
    /// use resilience::reqwest_middleware::ResilienceMiddleware;
    /// use resilience::{Retry, RetryPolicy};
    ///
    /// static R: Retry = Retry::new("doc-mw-retry", RetryPolicy::new());
    /// let m = ResilienceMiddleware::new().retry(&R);
    /// # let _ = m;
    /// ```
    pub fn retry(self, retry: impl Into<Instance<Retry>>) -> Self {
        self.push(Step::Retry(retry.into()))
    }

    /// Adds a timeout below the layers added so far.
    ///
    /// ```
    /// use resilience::reqwest_middleware::ResilienceMiddleware;
    /// use resilience::Timeout;
    /// use std::time::Duration;
    ///
    /// static T: Timeout = Timeout::new("doc-mw-timeout", Duration::from_secs(1));
    /// let m = ResilienceMiddleware::new().timeout(&T);
    /// # let _ = m;
    /// ```
    pub fn timeout(self, timeout: impl Into<Instance<Timeout>>) -> Self {
        self.push(Step::Timeout(timeout.into()))
    }

    /// Adds an adaptive timeout below the layers added so far.
    ///
    /// ```
    /// use resilience::reqwest_middleware::ResilienceMiddleware;
    /// use resilience::AdaptiveTimeout;
    /// use std::time::Duration;
    ///
    /// static T: AdaptiveTimeout =
    ///     AdaptiveTimeout::new("doc-mw-adaptive", 0.99, 2.0, Duration::from_millis(50), Duration::from_secs(5));
    /// let m = ResilienceMiddleware::new().adaptive_timeout(&T);
    /// # let _ = m;
    /// ```
    pub fn adaptive_timeout(self, timeout: impl Into<Instance<AdaptiveTimeout>>) -> Self {
        self.push(Step::AdaptiveTimeout(timeout.into()))
    }

    /// Adds a bulkhead below the layers added so far.
    ///
    /// ```
    /// use resilience::reqwest_middleware::ResilienceMiddleware;
    /// use resilience::Bulkhead;
    ///
    /// static B: Bulkhead = Bulkhead::new("doc-mw-bulkhead", 8);
    /// let m = ResilienceMiddleware::new().bulkhead(&B);
    /// # let _ = m;
    /// ```
    pub fn bulkhead(self, bulkhead: impl Into<Instance<Bulkhead>>) -> Self {
        self.push(Step::Bulkhead(bulkhead.into()))
    }

    /// Adds a rate limiter below the layers added so far.
    ///
    /// ```
    /// use resilience::reqwest_middleware::ResilienceMiddleware;
    /// use resilience::RateLimiter;
    /// use std::time::Duration;
    ///
    /// static R: RateLimiter = RateLimiter::new("doc-mw-rate", 50, Duration::from_secs(1));
    /// let m = ResilienceMiddleware::new().rate_limiter(&R);
    /// # let _ = m;
    /// ```
    pub fn rate_limiter(self, limiter: impl Into<Instance<RateLimiter>>) -> Self {
        self.push(Step::RateLimiter(limiter.into()))
    }

    /// Retries requests of any method (POST and PATCH too), for a service
    /// whose writes are idempotent (an idempotency key, say).
    ///
    /// ```
    /// use resilience::reqwest_middleware::ResilienceMiddleware;
    ///
    /// let m = ResilienceMiddleware::new().retry_any_method(true);
    /// # let _ = m;
    /// ```
    pub fn retry_any_method(mut self, yes: bool) -> Self {
        self.retry_any_method = yes;
        self
    }

    fn push(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }
}

#[async_trait::async_trait]
impl Middleware for ResilienceMiddleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let retryable = self.retry_any_method || is_idempotent(request.method());
        run(&self.steps, retryable, request, extensions, next).await
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

fn reject(rejection: Rejection) -> Error {
    Error::middleware(rejection)
}

/// What an error says about the service.
fn classify_error(error: &Error) -> Outcome {
    match error {
        Error::Reqwest(error) => error.classify(),
        Error::Middleware(error) => {
            let error: &(dyn std::error::Error + Send + Sync + 'static) = error.as_ref();
            error.classify()
        }
    }
}

/// What a response says about the service: `None` for a success.
fn classify_response(response: &Response) -> Option<Outcome> {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        .then(|| HttpError::from_response(response).classify())
}

/// The outcome of an answer, for a breaker or a retry.
fn outcome(out: &Result<Response>) -> Option<Outcome> {
    match out {
        Ok(response) => classify_response(response),
        Err(error) => Some(classify_error(error)),
    }
}

/// Runs `request` through `steps`, then the rest of the client's stack.
fn run<'a>(
    steps: &'a [Step],
    retryable: bool,
    request: Request,
    extensions: &'a mut Extensions,
    next: Next<'a>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response>> + Send + 'a>> {
    Box::pin(async move {
        let Some((step, rest)) = steps.split_first() else {
            return next.run(request, extensions).await;
        };
        match step {
            Step::CircuitBreaker(breaker) => {
                let permit = breaker.try_acquire().map_err(reject)?;
                let out = run(rest, retryable, request, extensions, next).await;
                match outcome(&out) {
                    None => permit.success(),
                    Some(outcome) => permit.record(outcome),
                }
                out
            }
            Step::Timeout(timeout) => {
                let call = run(rest, retryable, request, extensions, next);
                timeout.call_with(call, reject).await
            }
            Step::AdaptiveTimeout(timeout) => {
                let call = run(rest, retryable, request, extensions, next);
                timeout.call_with(call, reject).await
            }
            Step::Bulkhead(bulkhead) => {
                let call = run(rest, retryable, request, extensions, next);
                bulkhead.call_with(call, reject).await
            }
            Step::RateLimiter(limiter) => {
                let call = run(rest, retryable, request, extensions, next);
                limiter.call_with(call, reject).await
            }
            Step::Retry(retry) => {
                if !retryable {
                    return run(rest, retryable, request, extensions, next).await;
                }
                let mut attempts = retry.start();
                loop {
                    // A body that cannot be cloned (a stream) gets one try.
                    let Some(attempt) = request.try_clone() else {
                        return run(rest, retryable, request, extensions, next).await;
                    };
                    let out = run(rest, retryable, attempt, extensions, next.clone()).await;
                    let Some(outcome) = outcome(&out) else {
                        return out;
                    };
                    match attempts.after_failure(outcome) {
                        Some(delay) => crate::time::sleep(delay, crate::time::RETRY).await,
                        None => return out,
                    }
                }
            }
        }
    })
}
