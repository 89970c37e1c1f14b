//! Which responses count as failures.

use crate::Outcome;

/// Decides whether a response (an `Ok` of the inner service) counts as a
/// failed call, for the breaker, retry and hedge layers.
///
/// `None`: a success. `Some(outcome)`: a failure classified as an error
/// would be (a breaker counts it unless it is `Permanent`; a retry retries
/// it when it is retryable, after at least its `retry_after`). The
/// response is returned to the caller whenever no retry follows.
///
/// ```
/// use resilience::Outcome;
/// use resilience::tower::ClassifyResponse;
///
/// /// `(status, body)` answers of an in-house protocol: 1 means "busy".
/// #[derive(Clone)]
/// struct Busy;
///
/// impl ClassifyResponse<(u8, String)> for Busy {
///     fn classify_response(&self, response: &(u8, String)) -> Option<Outcome> {
///         (response.0 == 1).then_some(Outcome::TRANSIENT)
///     }
/// }
///
/// assert_eq!(Busy.classify_response(&(1, String::new())), Some(Outcome::TRANSIENT));
/// assert_eq!(Busy.classify_response(&(0, String::new())), None);
/// ```
pub trait ClassifyResponse<Response> {
    /// The verdict on `response`: `None` for a success.
    fn classify_response(&self, response: &Response) -> Option<Outcome>;
}

/// Every response is a success; only errors count (the default).
///
/// ```
/// use resilience::tower::{ClassifyResponse, NoResponses};
///
/// assert_eq!(NoResponses.classify_response(&"anything"), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoResponses;

impl<Response> ClassifyResponse<Response> for NoResponses {
    #[inline(always)]
    fn classify_response(&self, _: &Response) -> Option<Outcome> {
        None
    }
}

/// HTTP responses as [`http`](crate::http) classifies them: 429, 502, 503,
/// 504 and 408 are transient (429 and 503 with their `Retry-After`), 500
/// and other 5xx are faults (retried only by an idempotent retry policy);
/// any other status (2xx, 3xx, 4xx, 501, 505) is a success of the
/// service.
///
/// ```
/// use http::{Response, StatusCode};
/// use resilience::Outcome;
/// use resilience::tower::{ClassifyResponse, HttpResponses};
/// use std::time::Duration;
///
/// let busy = Response::builder().status(429).header("retry-after", "3").body(()).unwrap();
/// assert_eq!(
///     HttpResponses.classify_response(&busy),
///     Some(Outcome::Transient { retry_after: Some(Duration::from_secs(3)) })
/// );
/// let broken = Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).body(()).unwrap();
/// assert_eq!(HttpResponses.classify_response(&broken), Some(Outcome::Fault));
/// let missing = Response::builder().status(StatusCode::NOT_FOUND).body(()).unwrap();
/// assert_eq!(HttpResponses.classify_response(&missing), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpResponses;

impl<B> ClassifyResponse<http::Response<B>> for HttpResponses {
    #[inline]
    fn classify_response(&self, response: &http::Response<B>) -> Option<Outcome> {
        let status = response.status();
        let failed = status.is_server_error()
            || status == http::StatusCode::TOO_MANY_REQUESTS
            || status == http::StatusCode::REQUEST_TIMEOUT;
        if failed {
            status_outcome(status, response.headers())
        } else {
            None
        }
    }
}

/// The outcome of a failed status, with the headers' `Retry-After`.
#[cold]
fn status_outcome(status: http::StatusCode, headers: &http::HeaderMap) -> Option<Outcome> {
    use crate::Classify;
    // One classification for every HTTP path: `HttpError`'s (status and
    // Retry-After), which `resilience::http::check` also gives.
    let error = crate::http::HttpError::new(status, crate::http::retry_after(headers));
    match error.classify() {
        Outcome::Permanent => None,
        outcome => Some(outcome),
    }
}
