//! The error a layer returns when it refuses or abandons a call.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// Why a resilience layer refused a call or gave up on it.
///
/// Every variant carries the `name` of the instance that rejected the call
/// (the function path for a private instance, the registry name for a named
/// one), so logs and error chains say which guard tripped.
///
/// The error type of an annotated function must implement
/// `From<Rejection>` whenever a layer that can reject is in the stack
/// (`#[timeout]`, `#[circuit_breaker]`, `#[bulkhead]`, `#[rate_limiter]`,
/// `#[chaos]`). `Rejection` is `std::error::Error + Send + Sync + 'static`,
/// so `anyhow::Error` and `Box<dyn Error + Send + Sync>` accept it as they
/// are.
///
/// # Examples
///
/// ```
/// use resilience::Rejection;
/// use std::time::Duration;
///
/// let rejection = Rejection::timeout("inventory::lookup", Duration::from_millis(250));
/// assert_eq!(rejection.name(), "inventory::lookup");
/// assert_eq!(
///     rejection.to_string(),
///     "`inventory::lookup` timed out after 250ms"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The call did not finish within its timeout and was dropped.
    #[non_exhaustive]
    Timeout {
        /// The instance that timed out.
        name: Cow<'static, str>,
        /// How long the call ran before it was dropped.
        elapsed: Duration,
    },
    /// The circuit is open: the call was refused without running.
    #[non_exhaustive]
    CircuitOpen {
        /// The breaker that refused the call.
        name: Cow<'static, str>,
        /// Time until the breaker admits a trial call.
        retry_after: Duration,
    },
    /// Every bulkhead permit was taken and none freed within `max_wait`.
    #[non_exhaustive]
    BulkheadFull {
        /// The bulkhead that refused the call.
        name: Cow<'static, str>,
    },
    /// The rate limiter had no capacity left for this call.
    #[non_exhaustive]
    RateLimited {
        /// The limiter that refused the call.
        name: Cow<'static, str>,
        /// Time until the limiter admits a call.
        retry_after: Duration,
    },
    /// An adaptive concurrency limit was reached and no place freed within
    /// `max_wait`, or a call of higher priority took this call's place.
    #[non_exhaustive]
    ConcurrencyLimited {
        /// The limiter that refused the call.
        name: Cow<'static, str>,
        /// About one call's latency: when places are likely to free.
        retry_after: Duration,
    },
    /// A fault injected on purpose (chaos testing).
    #[non_exhaustive]
    Injected {
        /// The instance the fault was injected into.
        name: Cow<'static, str>,
    },
}

impl Rejection {
    /// A [`Rejection::Timeout`] for `name` after `elapsed`.
    ///
    /// ```
    /// # use resilience::Rejection;
    /// # use std::time::Duration;
    /// let r = Rejection::timeout("search", Duration::from_secs(2));
    /// assert!(matches!(r, Rejection::Timeout { .. }));
    /// ```
    pub fn timeout(name: impl Into<Cow<'static, str>>, elapsed: Duration) -> Self {
        Rejection::Timeout {
            name: name.into(),
            elapsed,
        }
    }

    /// A [`Rejection::CircuitOpen`] for `name`, admitting again after `retry_after`.
    ///
    /// ```
    /// # use resilience::Rejection;
    /// # use std::time::Duration;
    /// let r = Rejection::circuit_open("payments", Duration::from_secs(30));
    /// assert_eq!(r.retry_after(), Some(Duration::from_secs(30)));
    /// ```
    pub fn circuit_open(name: impl Into<Cow<'static, str>>, retry_after: Duration) -> Self {
        Rejection::CircuitOpen {
            name: name.into(),
            retry_after,
        }
    }

    /// A [`Rejection::BulkheadFull`] for `name`.
    ///
    /// ```
    /// # use resilience::Rejection;
    /// let r = Rejection::bulkhead_full("db");
    /// assert_eq!(r.to_string(), "bulkhead `db` is full");
    /// ```
    pub fn bulkhead_full(name: impl Into<Cow<'static, str>>) -> Self {
        Rejection::BulkheadFull { name: name.into() }
    }

    /// A [`Rejection::ConcurrencyLimited`] for `name`, suggesting a retry
    /// after `retry_after`.
    ///
    /// ```
    /// # use resilience::Rejection;
    /// # use std::time::Duration;
    /// let r = Rejection::concurrency_limited("db", Duration::from_millis(20));
    /// assert_eq!(r.retry_after(), Some(Duration::from_millis(20)));
    /// ```
    pub fn concurrency_limited(name: impl Into<Cow<'static, str>>, retry_after: Duration) -> Self {
        Rejection::ConcurrencyLimited {
            name: name.into(),
            retry_after,
        }
    }

    /// A [`Rejection::RateLimited`] for `name`, admitting again after `retry_after`.
    ///
    /// ```
    /// # use resilience::Rejection;
    /// # use std::time::Duration;
    /// let r = Rejection::rate_limited("github", Duration::from_millis(40));
    /// assert_eq!(r.retry_after(), Some(Duration::from_millis(40)));
    /// ```
    pub fn rate_limited(name: impl Into<Cow<'static, str>>, retry_after: Duration) -> Self {
        Rejection::RateLimited {
            name: name.into(),
            retry_after,
        }
    }

    /// A [`Rejection::Injected`] fault for `name`.
    ///
    /// ```
    /// # use resilience::Rejection;
    /// let r = Rejection::injected("inventory");
    /// assert_eq!(r.name(), "inventory");
    /// ```
    pub fn injected(name: impl Into<Cow<'static, str>>) -> Self {
        Rejection::Injected { name: name.into() }
    }

    /// The name of the instance that rejected the call.
    ///
    /// ```
    /// # use resilience::Rejection;
    /// assert_eq!(Rejection::bulkhead_full("db").name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            Rejection::Timeout { name, .. }
            | Rejection::CircuitOpen { name, .. }
            | Rejection::BulkheadFull { name }
            | Rejection::RateLimited { name, .. }
            | Rejection::ConcurrencyLimited { name, .. }
            | Rejection::Injected { name } => name,
        }
    }

    /// How long until the rejecting instance admits a call, where it knows.
    ///
    /// ```
    /// # use resilience::Rejection;
    /// # use std::time::Duration;
    /// assert_eq!(Rejection::bulkhead_full("db").retry_after(), None);
    /// let open = Rejection::circuit_open("db", Duration::from_secs(5));
    /// assert_eq!(open.retry_after(), Some(Duration::from_secs(5)));
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Rejection::CircuitOpen { retry_after, .. }
            | Rejection::RateLimited { retry_after, .. }
            | Rejection::ConcurrencyLimited { retry_after, .. } => Some(*retry_after),
            Rejection::Timeout { .. }
            | Rejection::BulkheadFull { .. }
            | Rejection::Injected { .. } => None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Timeout { name, elapsed } => {
                write!(f, "`{name}` timed out after {elapsed:?}")
            }
            Rejection::CircuitOpen { name, retry_after } => {
                write!(f, "circuit `{name}` is open; retry after {retry_after:?}")
            }
            Rejection::BulkheadFull { name } => write!(f, "bulkhead `{name}` is full"),
            Rejection::RateLimited { name, retry_after } => {
                write!(
                    f,
                    "rate limit of `{name}` reached; retry after {retry_after:?}"
                )
            }
            Rejection::ConcurrencyLimited { name, retry_after } => write!(
                f,
                "concurrency limit of `{name}` reached; retry after {retry_after:?}"
            ),
            Rejection::Injected { name } => write!(f, "fault injected into `{name}`"),
        }
    }
}

impl std::error::Error for Rejection {}

impl From<Rejection> for std::io::Error {
    /// Maps a rejection onto the closest [`std::io::ErrorKind`], keeping the
    /// rejection as the source, so `io::Result` functions can be annotated.
    fn from(rejection: Rejection) -> Self {
        let kind = match rejection {
            Rejection::Timeout { .. } => std::io::ErrorKind::TimedOut,
            Rejection::CircuitOpen { .. }
            | Rejection::BulkheadFull { .. }
            | Rejection::ConcurrencyLimited { .. } => std::io::ErrorKind::ResourceBusy,
            Rejection::RateLimited { .. } => std::io::ErrorKind::QuotaExceeded,
            Rejection::Injected { .. } => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, rejection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}

    #[test]
    fn is_a_thread_safe_static_error() {
        assert_error::<Rejection>();
    }

    #[test]
    fn display_and_debug_name_the_instance() {
        let all = [
            Rejection::timeout("a", Duration::from_millis(5)),
            Rejection::circuit_open("b", Duration::from_secs(1)),
            Rejection::bulkhead_full("c"),
            Rejection::rate_limited("d", Duration::from_millis(3)),
            Rejection::injected("e"),
        ];
        for (r, name) in all.iter().zip(["a", "b", "c", "d", "e"]) {
            assert_eq!(r.name(), name);
            assert!(r.to_string().contains(&format!("`{name}`")), "{r}");
            assert!(format!("{r:?}").contains(&format!("\"{name}\"")), "{r:?}");
        }
    }

    #[test]
    fn io_error_keeps_the_rejection_as_source() {
        let io: std::io::Error = Rejection::timeout("t", Duration::from_secs(1)).into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Rejection>());
        assert_eq!(inner.map(Rejection::name), Some("t"));
    }
}
