//! HTTP classification (feature `reqwest`): which responses and transport
//! errors are worth another try, and how long the server asked us to wait.
//!
//! | what went wrong | [`Outcome`] |
//! |---|---|
//! | 429 Too Many Requests, 503 Service Unavailable | `Transient`, with the response's `Retry-After` |
//! | 502 Bad Gateway, 504 Gateway Timeout, 408 Request Timeout | `Transient` |
//! | 500 Internal Server Error and other 5xx | `Fault`: retried only with `idempotent = true` |
//! | 501 Not Implemented, 505 HTTP Version Not Supported | `Permanent` |
//! | other 4xx (400, 401, 403, 404, …) | `Permanent`: never retried, not a breaker fault |
//! | timeout, connection refused or reset (a [`reqwest::Error`]) | `Transient` |
//! | an invalid request (builder error, redirect policy) | `Permanent` |
//! | a body that does not decode | `Fault` |
//!
//! A [`reqwest::Error`] does not keep the response's headers, so
//! `response.error_for_status()` loses `Retry-After`. Use [`check`] instead:
//! it turns a 4xx/5xx response into an [`HttpError`] that carries the status
//! and the parsed `Retry-After` (delta-seconds or HTTP-date, the latter
//! parsed by the [`httpdate`] crate). [`RequestError`] puts the three ways an
//! annotated HTTP call can fail (a status, the transport, a
//! [`Rejection`]) in one error type that classifies itself, so it serves as
//! the error type of an annotated function:
//! `#[retry] #[timeout("2s")] async fn price(..) -> Result<String,
//! RequestError>` with the body
//! `Ok(http::check(client.get(url).send().await?)?.text().await?)`.
//!
//! ```
//! use resilience::http::{RequestError, check};
//! use resilience::{Classify, Outcome};
//! use std::time::Duration;
//!
//! fn body(response: reqwest::Response) -> Result<reqwest::Response, RequestError> {
//!     Ok(check(response)?)
//! }
//!
//! let throttled = http::Response::builder()
//!     .status(429)
//!     .header("retry-after", "2")
//!     .body("")
//!     .unwrap();
//! let err = body(throttled.into()).unwrap_err();
//! assert_eq!(
//!     err.classify(),
//!     Outcome::Transient { retry_after: Some(Duration::from_secs(2)) }
//! );
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::{HeaderMap, StatusCode};

#[cfg_attr(not(feature = "reqwest"), allow(unused_imports))]
use crate::{Classify, Outcome, Rejection};

impl Classify for StatusCode {
    /// 429, 502, 503, 504 and 408 are transient (a bare status has no
    /// `Retry-After`: use [`HttpError`] to keep it); 500 and other 5xx are
    /// service faults; 501, 505 and other 4xx are permanent. A status that is
    /// not an error (1xx, 2xx, 3xx) is `Permanent`: nothing to retry, nothing
    /// to hold against the service.
    ///
    /// ```
    /// use http::StatusCode;
    /// use resilience::{Classify, Outcome};
    ///
    /// assert_eq!(StatusCode::SERVICE_UNAVAILABLE.classify(), Outcome::TRANSIENT);
    /// assert_eq!(StatusCode::INTERNAL_SERVER_ERROR.classify(), Outcome::Fault);
    /// assert_eq!(StatusCode::NOT_FOUND.classify(), Outcome::Permanent);
    /// ```
    fn classify(&self) -> Outcome {
        match *self {
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
            | StatusCode::REQUEST_TIMEOUT => Outcome::TRANSIENT,
            StatusCode::NOT_IMPLEMENTED | StatusCode::HTTP_VERSION_NOT_SUPPORTED => {
                Outcome::Permanent
            }
            status if status.is_server_error() => Outcome::Fault,
            _ => Outcome::Permanent,
        }
    }
}

#[cfg(feature = "reqwest")]
impl Classify for reqwest::Error {
    /// Timeouts, connect errors and failures while sending or reading are
    /// transient; an error made by `error_for_status()` classifies as its
    /// status (without `Retry-After`, which reqwest drops: see [`check`]);
    /// an invalid request or redirect is permanent; a body that does not
    /// decode is a fault of the service.
    ///
    /// ```no_run
    /// use resilience::{Classify, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Nothing listens on port 9 (discard) here: the connection is refused.
    /// let err = reqwest::get("http://127.0.0.1:9/").await.unwrap_err();
    /// assert_eq!(err.classify(), Outcome::TRANSIENT);
    /// # }
    /// ```
    fn classify(&self) -> Outcome {
        if let Some(status) = self.status() {
            return status.classify();
        }
        if self.is_timeout() || self.is_connect() {
            Outcome::TRANSIENT
        } else if self.is_builder() || self.is_redirect() {
            Outcome::Permanent
        } else if self.is_decode() {
            Outcome::Fault
        } else {
            // Sending the request or reading the body failed: the connection
            // broke on the way, which another attempt may not meet.
            Outcome::TRANSIENT
        }
    }
}

/// A response whose status is a client or server error, with the
/// `Retry-After` the server sent.
///
/// Made by [`check`] (or [`HttpError::from_response`]) while the response's
/// headers are still at hand. It classifies as its status, with the
/// `Retry-After` added to a transient outcome, so `#[retry]` waits at least
/// as long as the server asked.
///
/// # Examples
///
/// ```
/// use http::StatusCode;
/// use resilience::http::HttpError;
/// use resilience::{Classify, Outcome};
/// use std::time::Duration;
///
/// let throttled = HttpError::new(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(2)));
/// assert_eq!(
///     throttled.classify(),
///     Outcome::Transient { retry_after: Some(Duration::from_secs(2)) }
/// );
/// assert_eq!(throttled.to_string(), "HTTP 429 Too Many Requests (retry after 2s)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    status: StatusCode,
    retry_after: Option<Duration>,
    #[cfg(feature = "reqwest")]
    url: Option<reqwest::Url>,
}

impl HttpError {
    /// An error for `status`, with the server's `Retry-After` if it sent one.
    ///
    /// ```
    /// # use resilience::http::HttpError;
    /// let err = HttpError::new(http::StatusCode::BAD_GATEWAY, None);
    /// assert_eq!(err.status(), http::StatusCode::BAD_GATEWAY);
    /// ```
    pub fn new(status: StatusCode, retry_after: Option<Duration>) -> Self {
        HttpError {
            status,
            retry_after,
            #[cfg(feature = "reqwest")]
            url: None,
        }
    }

    /// The status, `Retry-After` and URL of `response`, whatever its status.
    ///
    /// Prefer [`check`], which makes one only for error statuses.
    ///
    /// ```
    /// # use resilience::http::HttpError;
    /// let response = http::Response::builder()
    ///     .status(503)
    ///     .header("retry-after", "7")
    ///     .body("")
    ///     .unwrap();
    /// let err = HttpError::from_response(&reqwest::Response::from(response));
    /// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
    /// ```
    #[cfg(feature = "reqwest")]
    pub fn from_response(response: &reqwest::Response) -> Self {
        HttpError {
            status: response.status(),
            retry_after: retry_after(response.headers()),
            url: Some(response.url().clone()),
        }
    }

    /// The response's status.
    ///
    /// ```
    /// # use resilience::http::HttpError;
    /// # use http::StatusCode;
    /// assert_eq!(HttpError::new(StatusCode::NOT_FOUND, None).status(), StatusCode::NOT_FOUND);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// How long the server asked the client to wait, from `Retry-After`.
    ///
    /// ```
    /// # use resilience::http::HttpError;
    /// # use http::StatusCode;
    /// assert_eq!(HttpError::new(StatusCode::NOT_FOUND, None).retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The URL of the response, when the error was made from one.
    ///
    /// ```
    /// # use resilience::http::HttpError;
    /// # use http::StatusCode;
    /// assert!(HttpError::new(StatusCode::NOT_FOUND, None).url().is_none());
    /// ```
    #[cfg(feature = "reqwest")]
    pub fn url(&self) -> Option<&reqwest::Url> {
        self.url.as_ref()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        #[cfg(feature = "reqwest")]
        if let Some(url) = &self.url {
            write!(f, " from {url}")?;
        }
        if let Some(after) = self.retry_after {
            write!(f, " (retry after {after:?})")?;
        }
        Ok(())
    }
}

impl StdError for HttpError {}

impl Classify for HttpError {
    /// As [`StatusCode`], with `Retry-After` on a transient outcome.
    ///
    /// ```
    /// # use resilience::http::HttpError;
    /// # use resilience::{Classify, Outcome};
    /// # use std::time::Duration;
    /// let err = HttpError::new(http::StatusCode::SERVICE_UNAVAILABLE, Some(Duration::from_secs(30)));
    /// assert_eq!(err.classify().retry_after(), Some(Duration::from_secs(30)));
    /// ```
    fn classify(&self) -> Outcome {
        match self.status.classify() {
            Outcome::Transient { .. } => Outcome::Transient {
                retry_after: self.retry_after,
            },
            other => other,
        }
    }
}

/// `Ok(response)` for a status below 400, otherwise an [`HttpError`] with the
/// status and the `Retry-After` of the response.
///
/// What `response.error_for_status()` does, keeping the header that a
/// [`reqwest::Error`] drops.
///
/// # Examples
///
/// ```
/// use resilience::http::check;
/// use std::time::Duration;
///
/// let throttled = http::Response::builder()
///     .status(429)
///     .header("retry-after", "3")
///     .body("slow down")
///     .unwrap();
/// let err = check(reqwest::Response::from(throttled)).unwrap_err();
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
///
/// let fine = http::Response::builder().status(200).body("hello").unwrap();
/// assert!(check(reqwest::Response::from(fine)).is_ok());
/// ```
#[cfg(feature = "reqwest")]
pub fn check(response: reqwest::Response) -> Result<reqwest::Response, HttpError> {
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        Err(HttpError::from_response(&response))
    } else {
        Ok(response)
    }
}

/// The `Retry-After` of `headers` as a duration from now, in either form:
/// delta-seconds (`"120"`) or an HTTP-date (`"Wed, 21 Oct 2015 07:28:00
/// GMT"`, measured against the system clock, zero when already past).
/// `None` when the header is absent or malformed.
///
/// # Examples
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::RETRY_AFTER};
/// use resilience::http::retry_after;
/// use std::time::Duration;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
/// assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
/// ```
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// Parses a `Retry-After` value (RFC 9110 §10.2.3) into a duration from
/// `now`. HTTP-dates are parsed with the [`httpdate`] crate; a date in the
/// past is zero.
///
/// # Examples
///
/// ```
/// use resilience::http::parse_retry_after;
/// use std::time::{Duration, SystemTime};
///
/// let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
/// assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
/// assert_eq!(
///     parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now),
///     Some(Duration::from_secs(90))
/// );
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("soon", now), None);
/// # let _ = SystemTime::now();
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Every way an annotated HTTP call can fail: an error status, the transport,
/// or a resilience layer refusing the call.
///
/// It has `From` impls for all three, so `?` works on `send().await`, on
/// [`check`] and in the macro expansions, and it classifies each as its
/// source does. Use it as the error type of an annotated function, or copy
/// its three `classify` arms into your own error type.
///
/// # Examples
///
/// ```
/// use resilience::http::{HttpError, RequestError};
/// use resilience::{Classify, Outcome, Rejection};
/// use std::time::Duration;
///
/// let status: RequestError = HttpError::new(http::StatusCode::NOT_FOUND, None).into();
/// assert_eq!(status.classify(), Outcome::Permanent);
/// let rejected: RequestError = Rejection::timeout("price", Duration::from_secs(1)).into();
/// assert_eq!(rejected.classify(), Outcome::TRANSIENT);
/// ```
#[derive(Debug)]
#[non_exhaustive]
#[cfg(feature = "reqwest")]
pub enum RequestError {
    /// The server answered with a client or server error status.
    Status(HttpError),
    /// The request could not be sent or its response not read.
    Transport(reqwest::Error),
    /// A resilience layer refused or abandoned the call.
    Rejected(Rejection),
}

#[cfg(feature = "reqwest")]
impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Status(e) => e.fmt(f),
            RequestError::Transport(e) => e.fmt(f),
            RequestError::Rejected(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "reqwest")]
impl StdError for RequestError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            RequestError::Status(e) => Some(e),
            RequestError::Transport(e) => Some(e),
            RequestError::Rejected(e) => Some(e),
        }
    }
}

#[cfg(feature = "reqwest")]
impl Classify for RequestError {
    /// As the error it holds.
    ///
    /// ```
    /// # use resilience::http::{HttpError, RequestError};
    /// # use resilience::{Classify, Outcome};
    /// let err = RequestError::from(HttpError::new(http::StatusCode::INTERNAL_SERVER_ERROR, None));
    /// assert_eq!(err.classify(), Outcome::Fault);
    /// ```
    fn classify(&self) -> Outcome {
        match self {
            RequestError::Status(e) => e.classify(),
            RequestError::Transport(e) => e.classify(),
            RequestError::Rejected(e) => e.classify(),
        }
    }
}

#[cfg(feature = "reqwest")]
impl From<HttpError> for RequestError {
    fn from(e: HttpError) -> Self {
        RequestError::Status(e)
    }
}

#[cfg(feature = "reqwest")]
impl From<reqwest::Error> for RequestError {
    fn from(e: reqwest::Error) -> Self {
        RequestError::Transport(e)
    }
}

#[cfg(feature = "reqwest")]
impl From<Rejection> for RequestError {
    fn from(e: Rejection) -> Self {
        RequestError::Rejected(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> SystemTime {
        httpdate::parse_http_date(date).unwrap()
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = at("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 42 ", now),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        // The obsolete forms RFC 9110 still asks recipients to accept.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:50:37 1994", now),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn malformed_retry_after_is_none() {
        let now = SystemTime::UNIX_EPOCH;
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "99999999999999999999999",
            "Sun, 06 Nov 1994",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn statuses() {
        let transient = [408, 429, 502, 503, 504];
        let fault = [500, 507, 599];
        let permanent = [200, 304, 400, 401, 403, 404, 409, 422, 501, 505];
        for code in transient {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status.classify(), Outcome::TRANSIENT, "{code}");
        }
        for code in fault {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status.classify(), Outcome::Fault, "{code}");
        }
        for code in permanent {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status.classify(), Outcome::Permanent, "{code}");
        }
    }

    #[test]
    fn retry_after_only_on_transient_statuses() {
        let hint = Some(Duration::from_secs(1));
        assert_eq!(
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE, hint).classify(),
            Outcome::Transient { retry_after: hint }
        );
        assert_eq!(
            HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, hint).classify(),
            Outcome::Fault
        );
        assert_eq!(
            HttpError::new(StatusCode::NOT_FOUND, hint).classify(),
            Outcome::Permanent
        );
    }
}
