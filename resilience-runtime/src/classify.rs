//! Which errors are worth retrying and which count against a service.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use crate::Rejection;

/// What an error says about the call that produced it.
///
/// | outcome | retried by `#[retry]` | counts as a service failure |
/// |---|---|---|
/// | `Transient` | yes | yes |
/// | `Fault` | only with `idempotent = true` | yes |
/// | `Permanent` | never | no |
///
/// # Examples
///
/// ```
/// use resilience::Outcome;
/// use std::time::Duration;
///
/// let throttled = Outcome::Transient { retry_after: Some(Duration::from_secs(1)) };
/// assert!(throttled.is_retryable(false));
/// assert!(Outcome::Fault.is_retryable(true));
/// assert!(!Outcome::Fault.is_retryable(false));
/// assert!(!Outcome::Permanent.counts_as_failure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A passing failure (timeout, connection reset, 503): retry it, and
    /// count it as a failure of the service. `retry_after` is the service's
    /// own hint of when to come back (429 Retry-After, an open circuit).
    Transient {
        /// When the service asked to be called again, if it said.
        retry_after: Option<Duration>,
    },
    /// A failure of the service that may have had effects (HTTP 500):
    /// counts as a failure, retried only when the call is idempotent.
    Fault,
    /// The request itself is wrong (400, 404, invalid input): never
    /// retried, and not held against the service.
    Permanent,
}

impl Outcome {
    /// A transient outcome with no hint of when to retry.
    ///
    /// ```
    /// # use resilience::Outcome;
    /// assert_eq!(Outcome::TRANSIENT, Outcome::Transient { retry_after: None });
    /// ```
    pub const TRANSIENT: Outcome = Outcome::Transient { retry_after: None };

    /// Whether `#[retry]` may try again after this outcome.
    ///
    /// ```
    /// # use resilience::Outcome;
    /// assert!(Outcome::TRANSIENT.is_retryable(false));
    /// assert!(!Outcome::Permanent.is_retryable(true));
    /// ```
    pub const fn is_retryable(self, idempotent: bool) -> bool {
        match self {
            Outcome::Transient { .. } => true,
            Outcome::Fault => idempotent,
            Outcome::Permanent => false,
        }
    }

    /// Whether the outcome counts against the service (for a circuit breaker).
    ///
    /// ```
    /// # use resilience::Outcome;
    /// assert!(Outcome::Fault.counts_as_failure());
    /// assert!(!Outcome::Permanent.counts_as_failure());
    /// ```
    pub const fn counts_as_failure(self) -> bool {
        !matches!(self, Outcome::Permanent)
    }

    /// The service's hint of when to call again, if any.
    ///
    /// ```
    /// # use resilience::Outcome;
    /// assert_eq!(Outcome::Fault.retry_after(), None);
    /// ```
    pub const fn retry_after(self) -> Option<std::time::Duration> {
        match self {
            Outcome::Transient { retry_after } => retry_after,
            Outcome::Fault | Outcome::Permanent => None,
        }
    }

    /// The outcome of a `retry_if` / `failure_if` predicate: `true` is a
    /// transient failure (retried and counted), `false` permanent.
    ///
    /// ```
    /// # use resilience::Outcome;
    /// assert_eq!(Outcome::from_predicate(true), Outcome::TRANSIENT);
    /// assert_eq!(Outcome::from_predicate(false), Outcome::Permanent);
    /// ```
    pub const fn from_predicate(retry: bool) -> Outcome {
        if retry {
            Outcome::TRANSIENT
        } else {
            Outcome::Permanent
        }
    }
}

/// Classifies an error for retries and circuit breakers.
///
/// Implement it for your error type to say which failures are worth another
/// try. The macros find the impl on their own; an error type **without** an
/// impl is treated as [`Outcome::Transient`] with no hint, so every error is
/// retried and counted until you say otherwise.
///
/// In generic code, the macros see only the bounds you write: a function
/// generic over `E` whose `where` clause lacks `E: Classify` treats every
/// error as transient, even when the concrete `E` implements `Classify`.
/// Add the bound to get the impl used.
///
/// # Examples
///
/// ```
/// use resilience::{Classify, Outcome};
///
/// enum ApiError {
///     Unavailable,
///     BadRequest,
/// }
///
/// impl Classify for ApiError {
///     fn classify(&self) -> Outcome {
///         match self {
///             ApiError::Unavailable => Outcome::TRANSIENT,
///             ApiError::BadRequest => Outcome::Permanent,
///         }
///     }
/// }
///
/// assert_eq!(ApiError::BadRequest.classify(), Outcome::Permanent);
/// ```
#[cfg_attr(
    not(feature = "anyhow"),
    diagnostic::on_unimplemented(
        message = "`{Self}` does not implement `resilience::Classify`, so this call cannot tell which of its errors to retry or count against the service",
        label = "`{Self}` needs `Classify`",
        note = "implement `resilience::Classify` for `{Self}`, or pass a classifier to `call_with`; for `anyhow::Error`, enable the `anyhow` feature of `resilience`; `Box<dyn Error + Send + Sync>` and `std::io::Error` implement it as they are"
    )
)]
#[cfg_attr(
    feature = "anyhow",
    diagnostic::on_unimplemented(
        message = "`{Self}` does not implement `resilience::Classify`, so this call cannot tell which of its errors to retry or count against the service",
        label = "`{Self}` needs `Classify`",
        note = "implement `resilience::Classify` for `{Self}`, or pass a classifier to `call_with`; `anyhow::Error`, `Box<dyn Error + Send + Sync>` and `std::io::Error` implement it as they are"
    )
)]
pub trait Classify {
    /// What this error says about the call.
    fn classify(&self) -> Outcome;
}

impl<T: Classify + ?Sized> Classify for &T {
    fn classify(&self) -> Outcome {
        (**self).classify()
    }
}

impl<T: Classify + ?Sized> Classify for Box<T> {
    fn classify(&self) -> Outcome {
        (**self).classify()
    }
}

impl Classify for Rejection {
    /// Timeouts, a full bulkhead and injected faults are transient; an open
    /// circuit and a rate limit are transient with their `retry_after`.
    fn classify(&self) -> Outcome {
        Outcome::Transient {
            retry_after: self.retry_after(),
        }
    }
}

impl Classify for io::Error {
    /// Network and timing kinds (`TimedOut`, `ConnectionReset`, `Interrupted`,
    /// …) are transient; kinds that say the request is wrong (`NotFound`,
    /// `PermissionDenied`, `InvalidInput`, `InvalidData`, `AlreadyExists`,
    /// `Unsupported`) are permanent. An `io::Error` that wraps a
    /// [`Rejection`] classifies as that rejection. Other kinds are transient.
    fn classify(&self) -> Outcome {
        if let Some(rejection) = self.get_ref().and_then(|e| e.downcast_ref::<Rejection>()) {
            return rejection.classify();
        }
        use io::ErrorKind::*;
        match self.kind() {
            NotFound | PermissionDenied | InvalidInput | InvalidData | AlreadyExists
            | Unsupported | InvalidFilename | IsADirectory | NotADirectory | ReadOnlyFilesystem
            | FileTooLarge | ArgumentListTooLong | DirectoryNotEmpty | CrossesDevices => {
                Outcome::Permanent
            }
            _ => Outcome::TRANSIENT,
        }
    }
}

/// The outcome of an error object: that of the first error along its
/// [`source`](StdError::source) chain whose type has a known
/// classification ([`Rejection`], [`io::Error`]; with the `reqwest`
/// feature `reqwest::Error` and the `resilience::http` errors), and
/// otherwise transient, as the macros treat an error type without an impl.
fn classify_error_chain(error: &(dyn StdError + 'static)) -> Outcome {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(outcome) = classify_known(error) {
            return outcome;
        }
        next = error.source();
    }
    Outcome::TRANSIENT
}

fn classify_known(error: &(dyn StdError + 'static)) -> Option<Outcome> {
    if let Some(rejection) = error.downcast_ref::<Rejection>() {
        return Some(rejection.classify());
    }
    if let Some(io) = error.downcast_ref::<io::Error>() {
        return Some(io.classify());
    }
    #[cfg(feature = "reqwest")]
    {
        use crate::http::{HttpError, RequestError};
        if let Some(e) = error.downcast_ref::<HttpError>() {
            return Some(e.classify());
        }
        if let Some(e) = error.downcast_ref::<RequestError>() {
            return Some(e.classify());
        }
        if let Some(e) = error.downcast_ref::<reqwest::Error>() {
            return Some(e.classify());
        }
    }
    None
}

macro_rules! classify_error_objects {
    ($($object:ty),*) => {$(
        impl Classify for $object {
            /// As the first error along its `source()` chain with a known
            /// classification ([`Rejection`], [`io::Error`]; with the
            /// `reqwest` feature `reqwest::Error`, `HttpError`,
            /// `RequestError`); transient if there is none. So a
            /// `Box<dyn Error + Send + Sync>` holding a permanent
            /// `io::Error` is not retried.
            ///
            /// ```
            /// use resilience::{Classify, Outcome};
            /// use std::error::Error;
            /// use std::io;
            ///
            /// let boxed: Box<dyn Error + Send + Sync> = io::Error::from(io::ErrorKind::NotFound).into();
            /// assert_eq!(boxed.classify(), Outcome::Permanent);
            /// let opaque: Box<dyn Error + Send + Sync> = "something broke".into();
            /// assert_eq!(opaque.classify(), Outcome::TRANSIENT);
            /// ```
            fn classify(&self) -> Outcome {
                classify_error_chain(self)
            }
        }
    )*};
}

classify_error_objects!(
    dyn StdError + 'static,
    dyn StdError + Send + 'static,
    dyn StdError + Send + Sync + 'static
);

/// `anyhow::Error` (feature `anyhow`) classifies as the error it wraps,
/// looked up along its chain of causes like a `Box<dyn Error>`; the macros
/// classify an `anyhow::Error` the same way with or without the feature.
///
/// ```
/// # #[cfg(feature = "anyhow")] {
/// use resilience::{Classify, Outcome};
/// use std::io;
///
/// let wrapped = anyhow::Error::from(io::Error::from(io::ErrorKind::PermissionDenied)).context("reading the quota");
/// assert_eq!(wrapped.classify(), Outcome::Permanent);
/// assert_eq!(anyhow::anyhow!("down").classify(), Outcome::TRANSIENT);
/// # }
/// ```
#[cfg(feature = "anyhow")]
impl Classify for anyhow::Error {
    fn classify(&self) -> Outcome {
        classify_error_chain(&**self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_transient_with_their_hint() {
        let open = Rejection::circuit_open("b", Duration::from_secs(3));
        assert_eq!(
            open.classify(),
            Outcome::Transient {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        let limited = Rejection::rate_limited("r", Duration::from_millis(7));
        assert_eq!(
            limited.classify().retry_after(),
            Some(Duration::from_millis(7))
        );
        assert_eq!(
            Rejection::timeout("t", Duration::from_secs(1)).classify(),
            Outcome::TRANSIENT
        );
        assert_eq!(Rejection::bulkhead_full("k").classify(), Outcome::TRANSIENT);
    }

    #[test]
    fn io_errors_by_kind() {
        let transient = [
            io::ErrorKind::TimedOut,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::Interrupted,
        ];
        for kind in transient {
            assert_eq!(
                io::Error::from(kind).classify(),
                Outcome::TRANSIENT,
                "{kind:?}"
            );
        }
        let permanent = [
            io::ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::InvalidInput,
            io::ErrorKind::InvalidData,
        ];
        for kind in permanent {
            assert_eq!(
                io::Error::from(kind).classify(),
                Outcome::Permanent,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn io_error_carrying_a_rejection_keeps_its_hint() {
        let io: io::Error = Rejection::circuit_open("b", Duration::from_secs(9)).into();
        assert_eq!(io.classify().retry_after(), Some(Duration::from_secs(9)));
    }

    #[derive(Debug)]
    struct Wrapper(io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapper")
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_boxed_error_classifies_as_the_first_known_error_of_its_chain() {
        let boxed: Box<dyn StdError + Send + Sync> =
            io::Error::from(io::ErrorKind::NotFound).into();
        assert_eq!(boxed.classify(), Outcome::Permanent);
        let nested: Box<dyn StdError + Send + Sync> =
            Box::new(Wrapper(io::Error::from(io::ErrorKind::InvalidInput)));
        assert_eq!(
            nested.classify(),
            Outcome::Permanent,
            "found through `source()`"
        );
        let rejected: Box<dyn StdError> =
            Box::new(Rejection::circuit_open("b", Duration::from_secs(2)));
        assert_eq!(
            rejected.classify().retry_after(),
            Some(Duration::from_secs(2))
        );
        let opaque: Box<dyn StdError + Send> = Box::<dyn StdError + Send + Sync>::from("broke");
        assert_eq!(opaque.classify(), Outcome::TRANSIENT);
    }

    #[cfg(feature = "anyhow")]
    #[test]
    fn anyhow_classifies_as_the_error_it_wraps() {
        let permanent = anyhow::Error::from(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(permanent.classify(), Outcome::Permanent);
        let with_context = anyhow::Error::from(io::Error::from(io::ErrorKind::NotFound))
            .context("loading")
            .context("starting");
        assert_eq!(with_context.classify(), Outcome::Permanent);
        let wrapped = anyhow::Error::new(Wrapper(io::Error::from(io::ErrorKind::NotFound)));
        assert_eq!(wrapped.classify(), Outcome::Permanent);
        let limited = anyhow::Error::from(Rejection::rate_limited("r", Duration::from_secs(4)));
        assert_eq!(
            limited.classify().retry_after(),
            Some(Duration::from_secs(4))
        );
        assert_eq!(anyhow::anyhow!("down").classify(), Outcome::TRANSIENT);
    }
}
