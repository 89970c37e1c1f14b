//! Which errors are worth retrying and which count against a service.

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
/// use resilience_runtime::Outcome;
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
    /// # use resilience_runtime::Outcome;
    /// assert_eq!(Outcome::TRANSIENT, Outcome::Transient { retry_after: None });
    /// ```
    pub const TRANSIENT: Outcome = Outcome::Transient { retry_after: None };

    /// Whether `#[retry]` may try again after this outcome.
    ///
    /// ```
    /// # use resilience_runtime::Outcome;
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
    /// # use resilience_runtime::Outcome;
    /// assert!(Outcome::Fault.counts_as_failure());
    /// assert!(!Outcome::Permanent.counts_as_failure());
    /// ```
    pub const fn counts_as_failure(self) -> bool {
        !matches!(self, Outcome::Permanent)
    }

    /// The service's hint of when to call again, if any.
    ///
    /// ```
    /// # use resilience_runtime::Outcome;
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
    /// # use resilience_runtime::Outcome;
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
/// use resilience_runtime::{Classify, Outcome};
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
}
