//! Fleet-wide state in Redis (feature `redis`): one quota shared by every
//! replica of a service, and one view of its circuit breakers.
//!
//! - [`FleetRateLimiter`]: GCRA kept in Redis by a Lua script that reads
//!   the server's clock (`TIME`), so the replicas' clocks never matter.
//!   A replica takes a *lease* of cells in one script call and spends them
//!   locally, so most calls cost one atomic operation, no round trip.
//! - [`FleetBreaker`]: publishes a local [`CircuitBreaker`](crate::CircuitBreaker)'s
//!   state to Redis and opens it when at least `k` replicas report theirs
//!   open; [`FleetBreaker::fleet_states`] lists every replica's state.
//!
//! Both reach Redis through one [`RedisStore`]: a `redis` crate
//! `ConnectionManager` (it reconnects on its own) and the *store timeout*,
//! the longest any call waits on Redis (50 ms unless set). When Redis is
//! slow or down, a limiter follows its [`OnStoreError`] policy, emits a
//! `tracing` warning, and goes back to the shared count once Redis answers.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use resilience::rate_limiter;
//! use resilience::redis::{FleetRateLimiter, OnStoreError, RedisStore};
//! use std::sync::LazyLock;
//! use std::time::Duration;
//!
//! // 1,000 calls a second for every replica together.
//! static GITHUB: LazyLock<FleetRateLimiter> = LazyLock::new(|| {
//!     let store = RedisStore::open("redis://127.0.0.1:6379").expect("a valid URL");
//!     FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1))
//!         .on_store_error(OnStoreError::Local)
//!         .replicas(20)
//! });
//!
//! #[rate_limiter(with = GITHUB)]
//! async fn list_repos() -> Result<Vec<String>, resilience::Rejection> {
//!     Ok(vec![])
//! }
//!
//! list_repos().await?;
//! # Ok(())
//! # }
//! ```

mod breaker;
#[cfg(all(test, not(resilience_loom)))]
mod model_tests;
mod rate_limiter;
#[cfg(all(test, not(resilience_loom)))]
mod test_server;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use breaker::{FleetBreaker, FleetBreakerState, FleetBreakerTask, PUBLISH_EVERY};
pub use rate_limiter::{
    FleetRateLimiter, FleetRateLimiterFuture, FleetRateLimiterSnapshot, FleetSlot, LEASE_TTL,
    MAX_LEASE,
};

/// How long a call waits on Redis at most, unless set: loopback and
/// in-datacenter round trips take well under a millisecond, so 50 ms is a
/// server that is down or overloaded.
pub const STORE_TIMEOUT: Duration = resilience_schema::fleet_rate_limiter::STORE_TIMEOUT;

/// The prefix of every key this crate writes, unless set.
pub const KEY_PREFIX: &str = resilience_schema::fleet_rate_limiter::KEY_PREFIX;

/// What a fleet limiter does while Redis does not answer within the store
/// timeout (down, overloaded, or unreachable).
///
/// ```
/// use resilience::redis::OnStoreError;
/// assert_eq!(OnStoreError::default(), OnStoreError::Local);
/// assert_eq!("deny".parse::<OnStoreError>(), Ok(OnStoreError::Deny));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnStoreError {
    /// Limit each replica to its share of the limit (`rate / replicas`,
    /// see [`FleetRateLimiter::replicas`]) with an in-process limiter: the
    /// fleet keeps roughly its limit without Redis.
    #[default]
    Local,
    /// Admit every call: availability over the quota.
    Allow,
    /// Refuse every call with [`Rejection::RateLimited`](crate::Rejection::RateLimited),
    /// its `retry_after` the time until Redis is tried again: the quota
    /// over availability.
    Deny,
}

impl std::str::FromStr for OnStoreError {
    type Err = String;

    /// `"local"`, `"allow"` or `"deny"`, as a configuration file writes it.
    fn from_str(s: &str) -> Result<Self, String> {
        // The schema's words, in its order.
        match resilience_schema::fleet_rate_limiter::ON_STORE_ERRORS
            .iter()
            .position(|word| *word == s)
        {
            Some(0) => Ok(OnStoreError::Local),
            Some(1) => Ok(OnStoreError::Allow),
            Some(2) => Ok(OnStoreError::Deny),
            _ => Err(format!(
                "{}, not {s:?}",
                resilience_schema::fleet_rate_limiter::ON_STORE_ERROR_WORDS
            )),
        }
    }
}

impl fmt::Display for OnStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnStoreError::Local => "local",
            OnStoreError::Allow => "allow",
            OnStoreError::Deny => "deny",
        })
    }
}

/// A connection to the Redis server that holds the fleet's state, shared
/// by every fleet instance of a process (cloning it is cheap).
///
/// It connects lazily and reconnects on its own (the `redis` crate's
/// `ConnectionManager`): opening it never waits for the server, so a
/// service starts while Redis is down and its limiters fall back until it
/// answers.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::redis::RedisStore;
/// use std::time::Duration;
///
/// let store = RedisStore::open("redis://127.0.0.1:6379")
///     .unwrap()
///     .store_timeout(Duration::from_millis(20))
///     .key_prefix("checkout");
/// assert_eq!(store.get_store_timeout(), Duration::from_millis(20));
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    timeout: Duration,
    prefix: Arc<str>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url` (`redis://host:port/db`), with the default store
    /// timeout ([`STORE_TIMEOUT`]) and key prefix ([`KEY_PREFIX`]).
    /// Does not connect yet.
    ///
    /// # Errors
    ///
    /// If `url` is not a Redis URL.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the connection's task is spawned on it).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::redis::RedisStore;
    /// assert!(RedisStore::open("redis://127.0.0.1:1").is_ok()); // nothing listens: no error yet
    /// assert!(RedisStore::open("not a url").is_err());
    /// # }
    /// ```
    pub fn open(url: &str) -> Result<RedisStore, ::redis::RedisError> {
        let client = ::redis::Client::open(url)?;
        // Every request is cut at the store timeout by the caller; these
        // only keep the manager's own reconnection brief and bounded, so
        // that a server back up is found again within a second.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore {
            connection,
            timeout: STORE_TIMEOUT,
            prefix: Arc::from(KEY_PREFIX),
        })
    }

    /// The longest any call waits on Redis; then the limiter's
    /// [`OnStoreError`] policy applies.
    ///
    /// Panics, with the schema's sentence, on zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::RedisStore;
    /// # use std::time::Duration;
    /// let store = RedisStore::open("redis://127.0.0.1:1").unwrap().store_timeout(Duration::from_millis(10));
    /// assert_eq!(store.get_store_timeout(), Duration::from_millis(10));
    /// # }
    /// ```
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        resilience_schema::expect(resilience_schema::fleet_rate_limiter::check_store_timeout(
            timeout,
        ));
        self.timeout = timeout;
        self
    }

    /// The prefix of the keys this store's instances write
    /// (`<prefix>:rate_limiter:<name>`, `<prefix>:circuit_breaker:<name>`),
    /// so that two services, or two tests, sharing a server do not share
    /// a quota by accident.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::RedisStore;
    /// let store = RedisStore::open("redis://127.0.0.1:1").unwrap().key_prefix("checkout");
    /// assert_eq!(store.get_key_prefix(), "checkout");
    /// # }
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// The store timeout.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{RedisStore, STORE_TIMEOUT};
    /// assert_eq!(RedisStore::open("redis://127.0.0.1:1").unwrap().get_store_timeout(), STORE_TIMEOUT);
    /// # }
    /// ```
    pub fn get_store_timeout(&self) -> Duration {
        self.timeout
    }

    /// The key prefix.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{RedisStore, KEY_PREFIX};
    /// assert_eq!(RedisStore::open("redis://127.0.0.1:1").unwrap().get_key_prefix(), KEY_PREFIX);
    /// # }
    /// ```
    pub fn get_key_prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }

    /// Runs `request` on a clone of the connection, cut at the store
    /// timeout. A timeout is reported as an I/O error of kind `TimedOut`.
    async fn within_timeout<T, Fut>(
        &self,
        request: impl FnOnce(ConnectionManager) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = ::redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout, request(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError::Redis(error)),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }
}

/// Why Redis did not answer: for the `tracing` events.
#[derive(Debug)]
enum StoreError {
    Redis(::redis::RedisError),
    Timeout(Duration),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Redis(error) => write!(f, "{error}"),
            StoreError::Timeout(timeout) => {
                write!(f, "no answer within the store timeout of {timeout:?}")
            }
        }
    }
}
