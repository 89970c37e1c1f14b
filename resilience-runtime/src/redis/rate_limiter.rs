//! [`FleetRateLimiter`]: GCRA in Redis, spent locally through leases.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use resilience_schema::fleet_rate_limiter as schema;

use super::{OnStoreError, RedisStore, StoreError};
use crate::registry::Registrable;
use crate::{RateLimiter, Rejection};

/// GCRA over the server's clock, for a batch of cells at once.
///
/// `KEYS[1]`: the TAT, in microseconds of the server's clock (absent:
/// the whole burst is free). `ARGV`: the interval (µs per cell), the
/// tolerance (`burst × interval`), the cells wanted, the cells given back
/// and the TAT the lease that gives them back stored (they go back only
/// if no one has taken a cell since, as the in-process limiter's refund),
/// and a clock reading in µs to use instead of `TIME` (empty in
/// production; the model test drives time with it, and then the key does
/// not expire: its expiry runs on the server's real clock, not the test's).
///
/// Returns `{granted, retry_after_us, tat}`: as many cells as are free
/// now, at most the wanted ones (GCRA: a cell is free when the TAT after
/// it is at most `tolerance` ahead of now); when none is, the time until
/// one is. The key expires when the TAT passes, so an idle limiter leaves
/// nothing behind.
pub(super) const SCRIPT: &str = r"
local now
if ARGV[6] ~= '' then
  now = tonumber(ARGV[6])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = tonumber(ARGV[4])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = tonumber(stored) end
local changed = false
if back > 0 and stored and stored == ARGV[5] then
  tat = tat - back * interval
  changed = true
end
if tat < now then tat = now end
local ahead = tat - now
local granted = math.floor((tolerance - ahead) / interval)
if granted > want then granted = want end
if granted < 0 then granted = 0 end
if granted > 0 then
  tat = tat + granted * interval
  changed = true
end
local text = string.format('%.0f', tat)
if changed and ARGV[6] ~= '' then
  redis.call('SET', KEYS[1], text)
elseif changed then
  local ttl = math.ceil((tat - now) / 1000) + 1
  redis.call('SET', KEYS[1], text, 'PX', ttl)
end
local retry = 0
if granted == 0 then retry = ahead + interval - tolerance end
return {granted, retry, text}
";

/// Cells leased at most in one script call, unless set (and at most a
/// quarter of the burst, so that one replica never holds the most of it).
pub const MAX_LEASE: u32 = schema::MAX_LEASE;
/// How long a leased cell may be spent, unless set.
pub const LEASE_TTL: Duration = schema::LEASE_TTL;

/// The lease word: `expiry_ms << 24 | cells`, milliseconds since the
/// limiter's epoch.
const CELL_BITS: u32 = 24;
const CELLS: u64 = (1 << CELL_BITS) - 1;

/// How long the limiter stays on its fallback after Redis failed, before
/// the next call tries Redis again: doubling from the first to the last.
const FIRST_BACKOFF_MS: u64 = 50;
const LAST_BACKOFF_MS: u64 = 500;

/// `mark` of a lease that prefetches nothing (more).
const NO_MARK: u64 = 0;

/// A rate limiter whose quota every replica of a service shares: `rate`
/// calls per `per` for the whole fleet, up to `burst` at once, kept in
/// Redis.
///
/// Used by `#[rate_limiter(with = …)]` (a `static LazyLock<FleetRateLimiter>`,
/// a field, an `Arc`), by a [`FleetSlot`] bound at start-up, or directly
/// ([`FleetRateLimiter::acquire`], [`FleetRateLimiter::call`]).
///
/// # Algorithm
///
/// GCRA, as [`RateLimiter`], with the theoretical arrival time (TAT) kept
/// in one Redis key and updated by a Lua script that reads the server's
/// clock (`TIME`): replicas' clocks never matter. One script call is one
/// round trip (`EVALSHA`, and `SCRIPT LOAD` again after a server restart
/// answers `NOSCRIPT`).
///
/// # Leases
///
/// A call does not go to Redis: a replica takes a *lease* of cells in one
/// script call (as many as are free, at most the lease size) and spends
/// them locally, one atomic operation per call. A lease lives
/// [`lease_ttl`](Self::lease_ttl) (100 ms unless set); cells left when it
/// ends go back to Redis with the next script call if no replica has taken
/// a cell since, and otherwise lapse.
///
/// The lease size adapts to the replica's own demand: it starts at one
/// cell, doubles while leases are spent within half their lifetime, up to
/// [`max_lease`](Self::max_lease) (4,096 or a quarter of the burst unless
/// set), and falls to what was spent when a lease ends unspent.
///
/// **Prefetch.** A busy replica asks for its next lease while it still
/// spends the current one: when the lease has as many cells left as the
/// replica spends in two round trips (at the pace it spent its last lease,
/// and the round trips measured so far), or a quarter is spent if that
/// comes first, and it is being spent in under half its lifetime (it will
/// likely run out before it ends), the call that finds it so spawns a task
/// on the current tokio runtime that asks Redis for the next lease. The
/// calls after it go on spending the current one and then the next, so a
/// busy replica's calls find their cells locally and none waits for the
/// round trip (unless a round trip takes longer than the whole lease, when
/// the call that finds both spent waits for that answer, within the store
/// timeout; [`FleetRateLimiterSnapshot::waited`] counts those). A replica
/// holds at most two leases, the one being spent and the one prefetched.
/// A quiet replica holds no cells: a lease of one cell prefetches nothing,
/// it takes a lease only for a call, and every lease ends within
/// `lease_ttl`. Without a tokio runtime (another executor), nothing is
/// prefetched and calls refill as they need.
///
/// **Bound.** Redis grants cells by GCRA: at most `burst + t × rate / per`
/// in any stretch of time `t`. A cell is spent at most `lease_ttl` after it
/// was granted, and at the start of a stretch each replica holds at most
/// two leases, so the calls the fleet admits in any stretch `t` are at most
/// `burst + t × rate / per + min(lease_ttl × rate / per, replicas × 2 ×
/// max_lease)`, however many replicas there are: over a second at most
/// `lease_ttl × rate / per` calls (20 for 200 calls/s and 100 ms) more
/// than the in-process limiter allows. While Redis is down the fallback's
/// own limits apply instead (see [`OnStoreError`]).
///
/// # When Redis is slow or down
///
/// No call waits on Redis longer than the store timeout
/// ([`RedisStore::store_timeout`]). A call that finds its replica's lease
/// spent asks Redis for the next one; if Redis does not answer in time, the
/// call follows [`on_store_error`](Self::on_store_error), a `tracing`
/// warning names the limiter, and the following calls apply the fallback
/// at once for a short backoff (50 ms doubling to 500 ms) before one tries
/// Redis again. The connection reconnects on its own; the first answer
/// brings the shared count back (an info event), where the server kept it,
/// or afresh after a restart without persistence.
///
/// # Cancel safety
///
/// A call dropped while it waits for Redis may have taken a lease that no
/// call spends: the fleet then admits fewer calls than it could for at
/// most `lease_ttl`, never more.
///
/// # Examples
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::redis::{FleetRateLimiter, OnStoreError, RedisStore};
/// use std::time::Duration;
///
/// let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
/// let limiter = FleetRateLimiter::new(&store, "search", 200, Duration::from_secs(1))
///     .burst(20)
///     .on_store_error(OnStoreError::Local)
///     .replicas(4);
/// match limiter.acquire().await {
///     Ok(()) => { /* call the service */ }
///     Err(refused) => println!("over the fleet's quota: {refused}"),
/// }
/// # }
/// ```
pub struct FleetRateLimiter {
    /// Shared with the task that prefetches the next lease.
    inner: Arc<Inner>,
}

/// What the builder sets; a builder call starts a fresh state from it.
#[derive(Clone)]
struct Settings {
    name: Cow<'static, str>,
    store: RedisStore,
    key: String,
    rate: u32,
    per: Duration,
    burst: u32,
    /// `per / rate` in microseconds, the server clock's unit.
    interval_us: u64,
    /// As set by [`FleetRateLimiter::max_lease`]; see `get_max_lease`.
    max_lease: Option<u32>,
    lease_ttl: Duration,
    on_store_error: OnStoreError,
    replicas: u32,
    /// How long a call over the limit waits for a cell.
    max_wait: Duration,
}

impl Settings {
    fn max_lease(&self) -> u32 {
        self.max_lease
            .unwrap_or(MAX_LEASE.min(self.burst / 4))
            .clamp(1, self.burst)
    }
}

struct Inner {
    s: Settings,
    script: ::redis::Script,
    /// This replica's share, for `OnStoreError::Local`.
    local: RateLimiter,
    epoch: Instant,
    /// The lease being spent: `expiry_ms << CELL_BITS | cells left`.
    lease: AtomicU64,
    /// The lease prefetched while `lease` ran low, in the same form: it
    /// takes `lease`'s place when that is spent or ends.
    next: AtomicU64,
    /// When `lease` has fewer cells than this left after a call, that
    /// call starts the prefetch of the next one (`NO_MARK`: none), and
    /// the next call tries again if a prefetch was still finishing.
    mark: AtomicU64,
    /// Whether a prefetch is under way.
    prefetching: AtomicBool,
    /// When `lease` was installed (ns since `epoch`) and its cells then
    /// (0 once its pace is measured): for `ns_per_cell`.
    installed_ns: AtomicU64,
    installed_cells: AtomicU64,
    /// Leases installed so far: a prefetch asked for by a lease that a
    /// call's own refill has replaced meanwhile fetches nothing.
    installs: AtomicU64,
    /// The pace the last lease was spent at, in ns per cell (`u64::MAX`:
    /// not measured yet).
    ns_per_cell: AtomicU64,
    /// A round trip to Redis, smoothed: up at once, down an eighth of the
    /// way each answer (0: none yet).
    round_trip_ns: AtomicU64,
    /// Until when Redis said no cell is free: calls are refused locally.
    denied_until_ms: AtomicU64,
    /// Until when the fallback applies without asking Redis.
    down_until_ms: AtomicU64,
    refill: tokio::sync::Mutex<Refill>,
    round_trips: AtomicU64,
    prefetches: AtomicU64,
    waited: AtomicU64,
    rejected: AtomicU64,
    store_errors: AtomicU64,
}

/// The slow path's state, behind its async lock: one caller at a time
/// asks Redis.
#[derive(Debug)]
struct Refill {
    /// Cells of the current lease, and when it was asked for.
    granted: u32,
    started_ms: u64,
    /// The TAT the current lease stored (for giving cells back).
    tat: Option<String>,
    /// Cells the next lease asks for.
    next: u32,
    /// Whether Redis failed last time, and the next backoff.
    down: bool,
    backoff_ms: u64,
}

impl fmt::Debug for FleetRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.s;
        f.debug_struct("FleetRateLimiter")
            .field("name", &s.name)
            .field("key", &s.key)
            .field("rate", &s.rate)
            .field("per", &s.per)
            .field("burst", &s.burst)
            .field("max_lease", &s.max_lease)
            .field("lease_ttl", &s.lease_ttl)
            .field("on_store_error", &s.on_store_error)
            .field("replicas", &s.replicas)
            .field("max_wait", &s.max_wait)
            .finish_non_exhaustive()
    }
}

impl FleetRateLimiter {
    /// `rate` calls per `per` for the whole fleet, a burst of `rate`, its
    /// state under the key `<prefix>:rate_limiter:<name>` of `store`.
    /// Every replica builds it with the same name and settings.
    ///
    /// # Panics
    ///
    /// If `rate` is 0 or `per` is shorter than `rate` microseconds (the
    /// server clock's unit), or longer than 100 years.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::redis::{FleetRateLimiter, RedisStore};
    /// use std::time::Duration;
    /// let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1));
    /// assert_eq!(limiter.get_burst(), 1_000);
    /// # }
    /// ```
    pub fn new(
        store: &RedisStore,
        name: impl Into<Cow<'static, str>>,
        rate: u32,
        per: Duration,
    ) -> Self {
        let name = name.into();
        // The in-process limiter checks `rate` and `per` by the schema's rules.
        let local = RateLimiter::named(name.clone(), rate, per);
        resilience_schema::expect(schema::check_per(rate, per));
        let interval_us = per.as_micros() / u128::from(rate);
        let key = store.key("rate_limiter", &name);
        let settings = Settings {
            store: store.clone(),
            key,
            rate,
            per,
            burst: rate,
            interval_us: interval_us as u64,
            max_lease: None,
            lease_ttl: LEASE_TTL,
            on_store_error: OnStoreError::Local,
            replicas: 1,
            max_wait: schema::MAX_WAIT,
            name,
        };
        let _ = local;
        FleetRateLimiter {
            inner: Arc::new(Inner::new(settings)),
        }
    }

    /// A builder call: the settings changed, the state starts afresh (no
    /// call has been made yet, or the caller asked for a new limiter).
    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.inner.s.clone();
        change(&mut settings);
        self.inner = Arc::new(Inner::new(settings));
        self
    }

    /// How many calls the fleet may make at once after a quiet spell.
    ///
    /// # Panics
    ///
    /// As [`RateLimiter::burst`](crate::RateLimiter::burst).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1)).burst(50);
    /// assert_eq!(limiter.get_burst(), 50);
    /// # }
    /// ```
    pub fn burst(self, burst: u32) -> Self {
        // The schema's rule, through the in-process limiter's builder.
        let _ = RateLimiter::named("", self.inner.s.rate, self.inner.s.per).burst(burst);
        self.with(|s| s.burst = burst)
    }

    /// The most cells one lease takes (unless set, 4,096 or a quarter of the
    /// burst, whichever is less; at most the burst): larger leases cost a
    /// busy replica fewer round trips and let one replica hold more of the
    /// burst.
    ///
    /// Panics, with the schema's sentence, on 0 or more than 16,777,215.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1)).max_lease(10);
    /// assert_eq!(limiter.get_max_lease(), 10);
    /// # }
    /// ```
    pub fn max_lease(self, cells: u32) -> Self {
        resilience_schema::expect(schema::check_max_lease(cells));
        self.with(|s| s.max_lease = Some(cells))
    }

    /// How long a leased cell may be spent (100 ms unless set): the
    /// fleet's over-admission bound grows by `lease_ttl × rate / per`
    /// (see [Leases](Self#leases)).
    ///
    /// Panics, with the schema's sentence, under a millisecond.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1))
    ///     .lease_ttl(Duration::from_millis(20));
    /// assert_eq!(limiter.get_lease_ttl(), Duration::from_millis(20));
    /// # }
    /// ```
    pub fn lease_ttl(self, ttl: Duration) -> Self {
        resilience_schema::expect(schema::check_lease_ttl(ttl));
        self.with(|s| s.lease_ttl = ttl)
    }

    /// What calls get while Redis does not answer ([`OnStoreError::Local`]
    /// unless set).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, OnStoreError, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1))
    ///     .on_store_error(OnStoreError::Deny);
    /// assert_eq!(limiter.get_on_store_error(), OnStoreError::Deny);
    /// # }
    /// ```
    pub fn on_store_error(self, policy: OnStoreError) -> Self {
        self.with(|s| s.on_store_error = policy)
    }

    /// How many replicas share the limit (1 unless set): under
    /// [`OnStoreError::Local`] each replica admits `rate / replicas` per
    /// `per` (at least one), a burst of `burst / replicas`.
    ///
    /// Panics, with the schema's sentence, on 0.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1)).replicas(20);
    /// assert_eq!(limiter.local_share().rate(), 50);
    /// # }
    /// ```
    pub fn replicas(self, replicas: u32) -> Self {
        resilience_schema::expect(schema::check_replicas(replicas));
        self.with(|s| s.replicas = replicas)
    }

    /// How long a call over the fleet's limit waits for a cell (zero,
    /// refused at once, unless set). A waiting call sleeps until Redis
    /// says the next cell is free and asks again; it is refused as soon as
    /// it is clear it cannot be admitted within `max_wait`, so it waits at
    /// most `max_wait`, plus one store timeout for the round trip that
    /// finds its cell. Waiting holds no cell: a call dropped while it
    /// waits takes nothing from the fleet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1))
    ///     .max_wait(Duration::from_millis(250));
    /// assert_eq!(limiter.get_max_wait(), Duration::from_millis(250));
    /// # }
    /// ```
    pub fn max_wait(self, max_wait: Duration) -> Self {
        self.with(|s| s.max_wait = max_wait)
    }

    /// How long a call over the limit waits.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(FleetRateLimiter::new(&store, "g", 5, Duration::from_secs(1)).get_max_wait(), Duration::ZERO);
    /// # }
    /// ```
    pub fn get_max_wait(&self) -> Duration {
        self.inner.s.max_wait
    }

    /// The instance name carried by its rejections.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(FleetRateLimiter::new(&store, "github", 5, Duration::from_secs(1)).name(), "github");
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.s.name
    }

    /// Calls per [`per`](Self::per) for the fleet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "github", 5, Duration::from_secs(2));
    /// assert_eq!((limiter.rate(), limiter.per()), (5, Duration::from_secs(2)));
    /// # }
    /// ```
    pub fn rate(&self) -> u32 {
        self.inner.s.rate
    }

    /// The period of the rate.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(FleetRateLimiter::new(&store, "g", 5, Duration::from_secs(2)).per(), Duration::from_secs(2));
    /// # }
    /// ```
    pub fn per(&self) -> Duration {
        self.inner.s.per
    }

    /// The burst.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(FleetRateLimiter::new(&store, "g", 5, Duration::from_secs(1)).get_burst(), 5);
    /// # }
    /// ```
    pub fn get_burst(&self) -> u32 {
        self.inner.s.burst
    }

    /// The largest lease.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(FleetRateLimiter::new(&store, "g", 500, Duration::from_secs(1)).get_max_lease(), 125);
    /// assert_eq!(FleetRateLimiter::new(&store, "g", 5_000, Duration::from_secs(1)).get_max_lease(), 1_250);
    /// # }
    /// ```
    pub fn get_max_lease(&self) -> u32 {
        self.inner.s.max_lease()
    }

    /// A lease's lifetime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "g", 5, Duration::from_secs(1));
    /// assert_eq!(limiter.get_lease_ttl(), Duration::from_millis(100));
    /// # }
    /// ```
    pub fn get_lease_ttl(&self) -> Duration {
        self.inner.s.lease_ttl
    }

    /// The policy while Redis does not answer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, OnStoreError, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "g", 5, Duration::from_secs(1));
    /// assert_eq!(limiter.get_on_store_error(), OnStoreError::Local);
    /// # }
    /// ```
    pub fn get_on_store_error(&self) -> OnStoreError {
        self.inner.s.on_store_error
    }

    /// The in-process limiter `OnStoreError::Local` falls back to: this
    /// replica's share of the limit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "g", 100, Duration::from_secs(1)).burst(40).replicas(4);
    /// assert_eq!((limiter.local_share().rate(), limiter.local_share().get_burst()), (25, 10));
    /// # }
    /// ```
    pub fn local_share(&self) -> &RateLimiter {
        &self.inner.local
    }

    /// Round trips, rejections, store errors and the cells this replica
    /// holds now.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "g", 100, Duration::from_secs(1));
    /// assert_eq!(limiter.snapshot().leased, 0, "no lease before the first call");
    /// # }
    /// ```
    pub fn snapshot(&self) -> FleetRateLimiterSnapshot {
        let inner = &*self.inner;
        let now = inner.now_ms();
        let live = |word: u64| {
            if now < word >> CELL_BITS {
                (word & CELLS) as u32
            } else {
                0
            }
        };
        FleetRateLimiterSnapshot {
            leased: live(inner.lease.load(Ordering::Acquire))
                + live(inner.next.load(Ordering::Acquire)),
            round_trips: inner.round_trips.load(Ordering::Relaxed),
            prefetches: inner.prefetches.load(Ordering::Relaxed),
            waited: inner.waited.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
            store_errors: inner.store_errors.load(Ordering::Relaxed),
            on_fallback: now < inner.down_until_ms.load(Ordering::Relaxed),
        }
    }

    /// Admits a call, from this replica's lease when it holds one (no
    /// round trip), else from a new lease (one round trip, at most the
    /// store timeout), or refuses it with [`Rejection::RateLimited`] and
    /// the time until the fleet frees a cell.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "g", 100, Duration::from_secs(1));
    /// limiter.acquire().await.unwrap();
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<(), Rejection> {
        match self.inner.fast() {
            Fast::Admitted => Ok(()),
            Fast::Refused(retry_after) => self.inner.admit(Some(retry_after)).await,
            Fast::Slow => self.inner.admit(None).await,
        }
    }

    /// Runs `call` once it is admitted; refuses it with
    /// [`Rejection::RateLimited`] when the fleet is over its limit.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use resilience::Rejection;
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "g", 100, Duration::from_secs(1));
    /// assert_eq!(limiter.call(async { Ok::<_, Rejection>(7) }).await, Ok(7));
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, call: F) -> FleetRateLimiterFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejection>,
    {
        self.call_with(call, E::from)
    }

    /// Like [`FleetRateLimiter::call`], with `reject` turning the
    /// rejection into `E`.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "g", 100, Duration::from_secs(1));
    /// let out: Result<u32, String> = limiter.call_with(async { Ok(7) }, |r| r.to_string()).await;
    /// # }
    /// ```
    pub fn call_with<F, T, E>(
        &self,
        call: F,
        reject: fn(Rejection) -> E,
    ) -> FleetRateLimiterFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        FleetRateLimiterFuture {
            limiter: Some(self),
            state: FleetState::Start,
            call,
            reject,
        }
    }

    /// Registers this limiter under its name, for every [`FleetSlot`] of
    /// that name and for the registry's list; returns the shared instance.
    /// The first limiter bound to a name stays.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::redis::{FleetRateLimiter, FleetSlot, RedisStore};
    /// use std::time::Duration;
    ///
    /// static GITHUB: FleetSlot = FleetSlot::new("github");
    ///
    /// let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// FleetRateLimiter::new(&store, "github", 1_000, Duration::from_secs(1)).bind();
    /// assert!(GITHUB.get().is_some());
    /// # }
    /// ```
    pub fn bind(self) -> Arc<FleetRateLimiter> {
        let name = self.inner.s.name.to_string();
        let limiter = crate::registry::get_or_register(self.inner.s.name.clone(), || self);
        bound()
            .entry(name)
            .or_insert_with(|| limiter.clone())
            .clone()
    }

    /// The script's answer for `want` cells at `now_us` on the script's
    /// clock, for the model test. Not public API.
    #[doc(hidden)]
    pub async fn __take_at(&self, want: u32, now_us: u64) -> Result<(u32, u64), String> {
        let deadline = Instant::now() + self.inner.s.store.timeout;
        self.inner
            .take_cells(want, None, Some(now_us), deadline)
            .await
            .map(|a| (a.granted, a.retry_after_us))
            .map_err(|e| e.to_string())
    }
}

impl Inner {
    fn new(s: Settings) -> Inner {
        let rate = (s.rate / s.replicas).max(1);
        let burst = (s.burst / s.replicas).max(1);
        Inner {
            local: RateLimiter::named(s.name.clone(), rate, s.per).burst(burst),
            s,
            script: ::redis::Script::new(SCRIPT),
            epoch: Instant::now(),
            lease: AtomicU64::new(0),
            next: AtomicU64::new(0),
            mark: AtomicU64::new(NO_MARK),
            prefetching: AtomicBool::new(false),
            installed_ns: AtomicU64::new(0),
            installed_cells: AtomicU64::new(0),
            installs: AtomicU64::new(0),
            ns_per_cell: AtomicU64::new(u64::MAX),
            round_trip_ns: AtomicU64::new(0),
            denied_until_ms: AtomicU64::new(0),
            down_until_ms: AtomicU64::new(0),
            refill: tokio::sync::Mutex::new(Refill {
                granted: 0,
                started_ms: 0,
                tat: None,
                next: 1,
                down: false,
                backoff_ms: FIRST_BACKOFF_MS,
            }),
            round_trips: AtomicU64::new(0),
            prefetches: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since `epoch`, for the cold paths' measurements.
    fn now_ns(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.epoch)
            .as_nanos() as u64
    }

    #[inline]
    fn now_ms(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.epoch)
            .as_millis() as u64
    }

    /// Takes one cell of the lease if it holds one and has not ended;
    /// returns the lease word after it.
    #[inline]
    fn spend(&self, now_ms: u64) -> Option<u64> {
        let mut lease = self.lease.load(Ordering::Relaxed);
        loop {
            if lease & CELLS == 0 || now_ms >= lease >> CELL_BITS {
                return None;
            }
            match self.lease.compare_exchange_weak(
                lease,
                lease - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(lease - 1),
                Err(actual) => lease = actual,
            }
        }
    }

    /// What a call gets without a round trip.
    #[inline]
    fn fast(self: &Arc<Self>) -> Fast {
        let now = self.now_ms();
        if let Some(lease) = self.spend(now) {
            let mark = self.mark.load(Ordering::Relaxed);
            if lease & CELLS < mark {
                self.prefetch(now, lease >> CELL_BITS, mark);
            }
            return Fast::Admitted;
        }
        self.fast_without_lease(now)
    }

    #[cold]
    fn fast_without_lease(self: &Arc<Self>, now: u64) -> Fast {
        self.lease_ended();
        if self.promote(now) {
            return Fast::Admitted;
        }
        let denied = self.denied_until_ms.load(Ordering::Relaxed);
        if now < denied {
            return Fast::Refused(Duration::from_millis(denied - now));
        }
        let down = self.down_until_ms.load(Ordering::Relaxed);
        if now < down {
            return match self.fallback(Duration::from_millis(down - now)) {
                Ok(()) => Fast::Admitted,
                Err(retry_after) => Fast::Refused(retry_after),
            };
        }
        Fast::Slow
    }

    /// Puts the prefetched lease in the spent one's place, one of its
    /// cells for this call.
    fn promote(self: &Arc<Self>, now: u64) -> bool {
        let next = self.next.load(Ordering::Acquire);
        if next & CELLS == 0 || now >= next >> CELL_BITS {
            return false;
        }
        if self
            .next
            .compare_exchange(next, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            // Another call promoted it: spend from there.
            return self.spend(now).is_some();
        }
        self.install(next - 1, (next & CELLS) as u32);
        true
    }

    /// The first call to find the lease spent or ended measures the pace
    /// it was spent at, for the next leases' marks.
    fn lease_ended(&self) {
        let granted = self.installed_cells.swap(0, Ordering::Relaxed);
        if granted == 0 {
            return;
        }
        let left = self.lease.load(Ordering::Relaxed) & CELLS;
        let spent = granted.saturating_sub(left);
        let took = self
            .now_ns()
            .saturating_sub(self.installed_ns.load(Ordering::Relaxed));
        let pace = took.checked_div(spent).unwrap_or(u64::MAX);
        self.ns_per_cell.store(pace.max(1), Ordering::Relaxed);
    }

    /// Makes `word` the lease being spent: a lease of `granted` cells.
    /// It prefetches the next one when it has [`Inner::mark_for`] cells
    /// left (if spent fast, see [`Inner::prefetch`]); a lease of one cell
    /// never does, so a quiet replica asks for cells only when a call
    /// needs one.
    fn install(&self, word: u64, granted: u32) {
        let mark = if granted >= 2 {
            u64::from(self.mark_for(granted)) + 1
        } else {
            NO_MARK
        };
        self.installed_ns.store(self.now_ns(), Ordering::Relaxed);
        self.installed_cells
            .store(u64::from(granted), Ordering::Relaxed);
        self.installs.fetch_add(1, Ordering::Relaxed);
        self.mark.store(mark, Ordering::Relaxed);
        self.lease.store(word, Ordering::Release);
    }

    /// The cells a lease of `granted` has left when it asks for the next:
    /// those the replica spends in two round trips at the last lease's
    /// pace, so that the answer comes back before they run out even when
    /// a round trip takes twice as long as the last ones. At least a
    /// quarter is spent first, unless two round trips' worth is more; at
    /// most every cell but two (the call that installs the lease spends
    /// its first cell without looking at the mark: the first to look is
    /// the second).
    fn mark_for(&self, granted: u32) -> u32 {
        let latest = granted - granted.div_ceil(4).max(2);
        let earliest = granted - 2;
        let pace = self.ns_per_cell.load(Ordering::Relaxed);
        let round_trip = self.round_trip_ns.load(Ordering::Relaxed);
        let during = (round_trip.saturating_mul(2) / pace.max(1)).min(u64::from(earliest));
        (during as u32).clamp(latest, earliest)
    }

    /// The lease ending at `expiry_ms` is down to its mark at `now`
    /// ([`Inner::mark_for`]): if it will be spent before it ends (it has
    /// more than half its life left), a task asks Redis for the next lease
    /// now, so that no call waits for the round trip. Needs a tokio
    /// runtime; without one, calls refill as they would without
    /// prefetching. While the last prefetch task is still finishing, the
    /// lease keeps its `mark` and the next call tries again; otherwise the
    /// lease asks no more.
    #[cold]
    #[inline(never)]
    fn prefetch(self: &Arc<Self>, now: u64, expiry_ms: u64, mark: u64) {
        let ttl = self.s.lease_ttl.as_millis() as u64;
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime)
                if expiry_ms.saturating_sub(now) * 2 > ttl
                    && self.next.load(Ordering::Relaxed) == 0 =>
            {
                runtime
            }
            _ => {
                self.done_asking(mark);
                return;
            }
        };
        if self.prefetching.load(Ordering::Relaxed)
            || self.prefetching.swap(true, Ordering::Acquire)
        {
            return;
        }
        self.done_asking(mark);
        let lease = self.installs.load(Ordering::Relaxed);
        runtime.spawn(Arc::clone(self).prefetch_lease(lease));
    }

    /// The lease whose mark was `mark` asks for no more prefetches (unless
    /// another lease took its place meanwhile).
    fn done_asking(&self, mark: u64) {
        let _ = self
            .mark
            .compare_exchange(mark, NO_MARK, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The prefetch task: one round trip for the next lease, holding the
    /// refill lock, so calls that spend the current lease meanwhile wait
    /// for this answer (within their store timeout) rather than ask again.
    async fn prefetch_lease(self: Arc<Self>, lease: u64) {
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _done = Done(&self.prefetching);
        // A call of this replica may be asking Redis already: its answer
        // replaces the lease that asked for this one, and that new lease
        // asks for its own successor when it runs low.
        let mut refill = self.refill.lock().await;
        let now = self.now_ms();
        if self.installs.load(Ordering::Relaxed) != lease
            || self.next.load(Ordering::Acquire) != 0
            || now < self.denied_until_ms.load(Ordering::Relaxed)
            || now < self.down_until_ms.load(Ordering::Relaxed)
        {
            return;
        }
        // Twice as many if the current lease goes in under half its life
        // (the refill's rule), at the last lease's pace or, before one is
        // measured, at this one's: a quarter spent in under an eighth.
        let ttl_ns = self.s.lease_ttl.as_nanos();
        let pace = self.ns_per_cell.load(Ordering::Relaxed);
        let fast = if pace == u64::MAX {
            let lived = now.saturating_sub(refill.started_ms);
            u128::from(lived) * 8 < self.s.lease_ttl.as_millis()
        } else {
            u128::from(pace) * u128::from(refill.granted) * 2 < ttl_ns
        };
        if fast {
            refill.next = refill.next.saturating_mul(2).clamp(1, self.s.max_lease());
        }
        self.prefetches.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + self.s.store.timeout;
        match self.take_cells(refill.next, None, None, deadline).await {
            Ok(Answer {
                granted,
                retry_after_us,
                tat,
            }) => {
                self.answered(&mut refill);
                if granted == 0 {
                    // The current lease is still the latest grant (the
                    // script changed nothing): its cells may still go back.
                    self.deny_for(now, retry_after_us);
                    return;
                }
                refill.granted = granted;
                refill.started_ms = now;
                refill.tat = Some(tat);
                let expiry = now + self.s.lease_ttl.as_millis() as u64;
                self.next
                    .store(expiry << CELL_BITS | u64::from(granted), Ordering::Release);
            }
            Err(error) => {
                self.store_failed(&mut refill, &error);
            }
        }
    }

    /// The call's fate while Redis is down: `retry_store` is the time until
    /// Redis is tried again.
    fn fallback(&self, retry_store: Duration) -> Result<(), Duration> {
        match self.s.on_store_error {
            OnStoreError::Allow => Ok(()),
            OnStoreError::Deny => Err(retry_store.max(Duration::from_millis(1))),
            OnStoreError::Local => self
                .local
                .check()
                .map_err(|r| r.retry_after().unwrap_or(retry_store)),
        }
    }

    #[cold]
    fn reject(&self, retry_after: Duration) -> Rejection {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(name = %self.s.name, ?retry_after, "resilience: fleet rate limit reached, call rejected");
        Rejection::rate_limited(self.s.name.clone(), retry_after)
    }

    /// One round trip for a new lease, within the store timeout from the
    /// moment the call started waiting (for the lock included).
    async fn acquire_slow(self: &Arc<Self>) -> Result<(), Duration> {
        self.waited.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + self.s.store.timeout;
        let Ok(mut refill) = tokio::time::timeout_at(deadline, self.refill.lock()).await else {
            // Another call of this replica (or the prefetch) is asking
            // Redis and has not heard back: the store is slow.
            self.store_errors.fetch_add(1, Ordering::Relaxed);
            return self.fall_back(FIRST_BACKOFF_MS);
        };
        // Another call or the prefetch may have brought a lease, a refusal
        // or a failure.
        match self.fast() {
            Fast::Admitted => return Ok(()),
            Fast::Refused(retry_after) => return Err(retry_after),
            Fast::Slow => {}
        }
        let now = self.now_ms();
        // Both leases are spent or ended; the prefetched one, if there is
        // one, is the latest grant, whose cells may go back.
        let next = self.next.swap(0, Ordering::AcqRel);
        let lease = self.lease.swap(0, Ordering::AcqRel);
        let left = (if next != 0 { next } else { lease } & CELLS) as u32;
        let spent = refill.granted.saturating_sub(left);
        let lived = now.saturating_sub(refill.started_ms);
        refill.next = if left > 0 {
            // Ended unspent: as many as were spent in its lifetime.
            spent.max(1)
        } else if refill.granted > 0 && u128::from(lived) * 2 < self.s.lease_ttl.as_millis() {
            // Spent in under half its lifetime: twice as many.
            refill.next.saturating_mul(2)
        } else {
            refill.next
        }
        .clamp(1, self.s.max_lease());
        let give_back = if left > 0 { refill.tat.take() } else { None };
        let answer = self
            .take_cells(
                refill.next,
                give_back.as_deref().map(|tat| (left, tat)),
                None,
                deadline,
            )
            .await;
        match answer {
            Ok(Answer {
                granted,
                retry_after_us,
                tat,
            }) => {
                self.answered(&mut refill);
                if granted == 0 {
                    refill.granted = 0;
                    return Err(self.deny_for(now, retry_after_us));
                }
                refill.granted = granted;
                refill.started_ms = now;
                refill.tat = Some(tat);
                let expiry = now + self.s.lease_ttl.as_millis() as u64;
                self.install(expiry << CELL_BITS | u64::from(granted - 1), granted);
                Ok(())
            }
            Err(error) => {
                let backoff = self.store_failed(&mut refill, &error);
                self.fall_back(backoff)
            }
        }
    }

    /// Redis answered: if it had failed before, the shared count is back.
    fn answered(&self, refill: &mut Refill) {
        if refill.down {
            refill.down = false;
            refill.backoff_ms = FIRST_BACKOFF_MS;
            self.down_until_ms.store(0, Ordering::Relaxed);
            tracing::info!(name = %self.s.name, "resilience: redis answers again, fleet rate limiter back on the shared count");
        }
    }

    /// Redis has no cell free for `retry_after_us` from `now`: calls are
    /// refused locally until then.
    fn deny_for(&self, now: u64, retry_after_us: u64) -> Duration {
        let retry_after = Duration::from_micros(retry_after_us.max(1));
        let until = now + retry_after.as_millis().max(1) as u64;
        self.denied_until_ms.store(until, Ordering::Relaxed);
        retry_after
    }

    /// Redis did not answer: the fallback applies without asking Redis for
    /// the backoff it returns.
    #[cold]
    fn store_failed(&self, refill: &mut Refill, error: &StoreError) -> u64 {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        let backoff = refill.backoff_ms;
        refill.backoff_ms = (backoff * 2).min(LAST_BACKOFF_MS);
        refill.granted = 0;
        refill.tat = None;
        if !refill.down {
            refill.down = true;
            tracing::warn!(
                name = %self.s.name,
                %error,
                on_store_error = %self.s.on_store_error,
                "resilience: redis store unavailable, fleet rate limiter falls back"
            );
        }
        self.down_until_ms
            .store(self.now_ms() + backoff, Ordering::Relaxed);
        backoff
    }

    /// This call's fate while Redis does not answer.
    #[cold]
    fn fall_back(&self, backoff_ms: u64) -> Result<(), Duration> {
        self.fallback(Duration::from_millis(backoff_ms))
    }

    /// A call `fast` did not admit at once: `refused` is its refusal
    /// (`None`: it needs a round trip). Without `max_wait` that is the
    /// answer; with it, the call sleeps until the fleet frees a cell and
    /// tries again, as long as it can be admitted within `max_wait` of
    /// now (plus one store timeout for the round trip that finds the
    /// cell). Sleeping holds nothing, so dropping the call is harmless.
    async fn admit(self: &Arc<Self>, refused: Option<Duration>) -> Result<(), Rejection> {
        let mut answer = match refused {
            Some(retry_after) => Err(retry_after),
            None => self.acquire_slow().await,
        };
        if self.s.max_wait.is_zero() {
            return answer.map_err(|retry_after| self.reject(retry_after));
        }
        let deadline = Instant::now() + self.s.max_wait;
        loop {
            let retry_after = match answer {
                Ok(()) => return Ok(()),
                Err(retry_after) => retry_after,
            };
            if Instant::now() + retry_after > deadline {
                return Err(self.reject(retry_after));
            }
            tokio::time::sleep(retry_after).await;
            answer = match self.fast() {
                Fast::Admitted => Ok(()),
                Fast::Refused(retry_after) => Err(retry_after),
                Fast::Slow => self.acquire_slow().await,
            };
        }
    }

    /// One script call: up to `want` cells, giving back `give_back`'s
    /// cells if the TAT is still the one it names; `now_us` replaces the
    /// server's clock (tests).
    async fn take_cells(
        &self,
        want: u32,
        give_back: Option<(u32, &str)>,
        now_us: Option<u64>,
        deadline: Instant,
    ) -> Result<Answer, StoreError> {
        let (back, tat) = give_back.unwrap_or((0, ""));
        let mut invocation = self.script.key(&self.s.key);
        invocation
            .arg(self.s.interval_us)
            .arg(self.s.interval_us * u64::from(self.s.burst))
            .arg(want)
            .arg(back)
            .arg(tat)
            .arg(now_us.map(|n| n.to_string()).unwrap_or_default());
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let mut connection = self.s.store.connection.clone();
        let start = Instant::now();
        let reply = tokio::time::timeout_at(
            deadline,
            invocation.invoke_async::<(u32, u64, String)>(&mut connection),
        )
        .await;
        match reply {
            Ok(Ok((granted, retry_after_us, tat))) => {
                self.round_trip_took(start.elapsed());
                Ok(Answer {
                    granted,
                    retry_after_us,
                    tat,
                })
            }
            Ok(Err(error)) => Err(StoreError::Redis(error)),
            Err(_) => Err(StoreError::Timeout(self.s.store.timeout)),
        }
    }
}

impl Inner {
    /// Folds one round trip into `round_trip_ns`: a slower one counts at
    /// once, a faster one an eighth of the way.
    fn round_trip_took(&self, took: Duration) {
        let took = took.as_nanos() as u64;
        let was = self.round_trip_ns.load(Ordering::Relaxed);
        let smoothed = if took >= was {
            took
        } else {
            was - (was - took) / 8
        };
        self.round_trip_ns.store(smoothed, Ordering::Relaxed);
    }
}

struct Answer {
    granted: u32,
    retry_after_us: u64,
    tat: String,
}

enum Fast {
    Admitted,
    Refused(Duration),
    Slow,
}

impl Registrable for FleetRateLimiter {
    const KIND: &'static str = "fleet_rate_limiter";
    fn same_settings(&self, other: &Self) -> bool {
        let (s, o) = (&self.inner.s, &other.inner.s);
        (
            s.key.as_str(),
            s.rate,
            s.per,
            s.burst,
            s.max_lease(),
            s.lease_ttl,
            s.on_store_error,
            s.replicas,
            s.max_wait,
        ) == (
            o.key.as_str(),
            o.rate,
            o.per,
            o.burst,
            o.max_lease(),
            o.lease_ttl,
            o.on_store_error,
            o.replicas,
            o.max_wait,
        )
    }

    fn describe(&self) -> crate::registry::Description {
        use crate::registry::{Description, Kind, Policy, Snapshot};
        let s = &self.inner.s;
        let policy = Policy::new()
            .with("key", s.key.as_str())
            .with("rate", s.rate)
            .with_duration("per", s.per)
            .with("burst", s.burst)
            .with("max_lease", s.max_lease())
            .with_duration("lease_ttl", s.lease_ttl)
            .with(
                "on_store_error",
                format!("{:?}", s.on_store_error).to_lowercase(),
            )
            .with("replicas", s.replicas)
            .with_duration("max_wait", s.max_wait);
        Description::new(
            Kind::FleetRateLimiter,
            self.name(),
            policy,
            Snapshot::FleetRateLimiter(self.snapshot()),
        )
    }
}

fn bound() -> std::sync::MutexGuard<'static, HashMap<String, Arc<FleetRateLimiter>>> {
    static BOUND: LazyLock<Mutex<HashMap<String, Arc<FleetRateLimiter>>>> =
        LazyLock::new(Default::default);
    BOUND.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A call site's handle on the fleet limiter [bound](FleetRateLimiter::bind)
/// under a name at start-up, for a `static`: `#[rate_limiter(with = SLOT)]`.
/// It looks the name up once, at the first call after the binding; then
/// each call is one atomic load more than the limiter's own.
///
/// A call through a slot whose name is not bound yet is refused with
/// [`Rejection::RateLimited`] (`retry_after` one second) and logs an
/// error: the service started without binding its limiter.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::rate_limiter;
/// use resilience::redis::{FleetRateLimiter, FleetSlot, RedisStore};
/// use std::time::Duration;
///
/// static SEARCH: FleetSlot = FleetSlot::new("search");
///
/// #[rate_limiter(with = SEARCH)]
/// async fn search(q: &str) -> Result<usize, resilience::Rejection> {
///     Ok(q.len())
/// }
///
/// // At start-up:
/// let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
/// FleetRateLimiter::new(&store, "search", 500, Duration::from_secs(1)).bind();
/// search("rust").await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct FleetSlot {
    name: &'static str,
    limiter: OnceLock<Arc<FleetRateLimiter>>,
    warned: AtomicBool,
}

impl FleetSlot {
    /// A slot for the limiter bound under `name`.
    ///
    /// ```
    /// # use resilience::redis::FleetSlot;
    /// static SLOT: FleetSlot = FleetSlot::new("doc-slot-new");
    /// assert_eq!(SLOT.name(), "doc-slot-new");
    /// ```
    pub const fn new(name: &'static str) -> Self {
        FleetSlot {
            name,
            limiter: OnceLock::new(),
            warned: AtomicBool::new(false),
        }
    }

    /// The name it looks up.
    ///
    /// ```
    /// # use resilience::redis::FleetSlot;
    /// assert_eq!(FleetSlot::new("search").name(), "search");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The bound limiter, if one is bound under the name.
    ///
    /// ```
    /// # use resilience::redis::FleetSlot;
    /// assert!(FleetSlot::new("doc-nothing-bound").get().is_none());
    /// ```
    #[inline]
    pub fn get(&self) -> Option<&FleetRateLimiter> {
        match self.limiter.get() {
            Some(limiter) => Some(limiter),
            None => self.look_up(),
        }
    }

    #[cold]
    fn look_up(&self) -> Option<&FleetRateLimiter> {
        let limiter = bound().get(self.name).cloned()?;
        Some(self.limiter.get_or_init(|| limiter))
    }

    /// Runs `call` through the bound limiter ([`FleetRateLimiter::call_with`]).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::FleetSlot;
    /// static SLOT: FleetSlot = FleetSlot::new("doc-unbound");
    /// let out: Result<(), String> = SLOT.call_with(async { Ok(()) }, |r| r.to_string()).await;
    /// assert!(out.is_err(), "nothing bound under the name: refused");
    /// # }
    /// ```
    pub fn call_with<F, T, E>(
        &self,
        call: F,
        reject: fn(Rejection) -> E,
    ) -> FleetRateLimiterFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        match self.get() {
            Some(limiter) => limiter.call_with(call, reject),
            None => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        name = self.name,
                        "resilience: no fleet rate limiter bound under this name; calls are refused until `FleetRateLimiter::bind`"
                    );
                }
                FleetRateLimiterFuture {
                    limiter: None,
                    state: FleetState::Unbound(self.name),
                    call,
                    reject,
                }
            }
        }
    }
}

/// What a [`FleetRateLimiter`] did so far (see [`FleetRateLimiter::snapshot`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # use resilience::redis::{FleetRateLimiter, RedisStore};
/// # use std::time::Duration;
/// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
/// let s = FleetRateLimiter::new(&store, "g", 100, Duration::from_secs(1)).snapshot();
/// assert_eq!((s.leased, s.round_trips, s.prefetches, s.waited, s.rejected), (0, 0, 0, 0, 0));
/// assert!(!s.on_fallback);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FleetRateLimiterSnapshot {
    /// Cells this replica holds and may spend without a round trip.
    pub leased: u32,
    /// Script calls made: one round trip each (three when the server has
    /// lost the script, e.g. after a restart: `NOSCRIPT`, load, run).
    pub round_trips: u64,
    /// Of those, the ones a background task made for the next lease while
    /// the current one was still being spent (no call waited for them).
    pub prefetches: u64,
    /// Calls that found no cell in hand and waited for Redis's answer
    /// (their own round trip, or the prefetch's when they spent the rest
    /// of the lease before it came back).
    pub waited: u64,
    /// Calls refused.
    pub rejected: u64,
    /// Times Redis failed or did not answer within the store timeout.
    pub store_errors: u64,
    /// Whether the fallback applies now, without asking Redis.
    pub on_fallback: bool,
}

type Asking<'a> = Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>>;

enum FleetState<'a> {
    Start,
    /// Asking Redis for a lease; boxed, so the future stays small when a
    /// lease admits the call (it allocates only for a round trip).
    Asking(Asking<'a>),
    /// A [`FleetSlot`] with nothing bound under its name.
    Unbound(&'static str),
    Admitted,
}

pin_project! {
    /// The future returned by [`FleetRateLimiter::call`]: admits the call
    /// (from the lease, or after one round trip), then runs it.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::redis::{FleetRateLimiter, RedisStore};
    /// # use resilience::Rejection;
    /// # use std::time::Duration;
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let limiter = FleetRateLimiter::new(&store, "g", 100, Duration::from_secs(1));
    /// let future: resilience::redis::FleetRateLimiterFuture<'_, _, Rejection> =
    ///     limiter.call(async { Ok::<_, Rejection>(1) });
    /// assert_eq!(future.await, Ok(1));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct FleetRateLimiterFuture<'a, F, E> {
        limiter: Option<&'a FleetRateLimiter>,
        state: FleetState<'a>,
        #[pin]
        call: F,
        reject: fn(Rejection) -> E,
    }
}

impl<F, E> fmt::Debug for FleetRateLimiterFuture<'_, F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            FleetState::Start => "start",
            FleetState::Asking(_) => "asking redis",
            FleetState::Unbound(_) => "unbound",
            FleetState::Admitted => "admitted",
        };
        f.debug_struct("FleetRateLimiterFuture")
            .field("limiter", &self.limiter.map(|l| l.name()))
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<'a, F, T, E> Future for FleetRateLimiterFuture<'a, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let FleetState::Start = this.state {
            let Some(limiter) = *this.limiter else {
                unreachable!("a future without a limiter starts unbound")
            };
            match limiter.inner.fast() {
                Fast::Admitted => *this.state = FleetState::Admitted,
                Fast::Refused(retry_after) if limiter.inner.s.max_wait.is_zero() => {
                    return Poll::Ready(Err((this.reject)(limiter.inner.reject(retry_after))));
                }
                Fast::Refused(retry_after) => {
                    *this.state =
                        FleetState::Asking(Box::pin(limiter.inner.admit(Some(retry_after))));
                }
                Fast::Slow => {
                    *this.state = FleetState::Asking(Box::pin(limiter.inner.admit(None)));
                }
            }
        }
        match this.state {
            FleetState::Asking(asking) => {
                let admitted = std::task::ready!(asking.as_mut().poll(cx));
                *this.state = FleetState::Admitted;
                if let Err(rejection) = admitted {
                    return Poll::Ready(Err((this.reject)(rejection)));
                }
            }
            FleetState::Unbound(name) => {
                let rejection = Rejection::rate_limited(*name, Duration::from_secs(1));
                return Poll::Ready(Err((this.reject)(rejection)));
            }
            _ => {}
        }
        this.call.poll(cx)
    }
}

#[cfg(test)]
mod prefetch_tests {
    //! When a lease asks for the next one: no Redis needed, the pace and
    //! the round trips are set as a busy replica would measure them.

    use super::*;

    fn limiter() -> FleetRateLimiter {
        nowhere("prefetch", 1_000_000)
    }

    /// A limiter whose store is nowhere: its connection is lazy, and a
    /// round trip fails at once (nothing listens at port 1).
    fn nowhere(name: &'static str, rate: u32) -> FleetRateLimiter {
        let store = RedisStore::open("redis://127.0.0.1:1").unwrap();
        FleetRateLimiter::new(&store, name, rate, Duration::from_secs(1))
    }

    /// A limiter that waits up to 30 ms for a cell and, Redis being
    /// nowhere, is admitted by `allow` once it asks.
    fn waiting(name: &'static str) -> FleetRateLimiter {
        nowhere(name, 1_000)
            .max_wait(Duration::from_millis(30))
            .on_store_error(OnStoreError::Allow)
    }

    /// Refuses `limiter`'s calls for `ms` from now, as Redis's answer
    /// that no cell is free would.
    fn refuse_for(limiter: &FleetRateLimiter, ms: u64) {
        let inner = &limiter.inner;
        inner
            .denied_until_ms
            .store(inner.now_ms() + ms, Ordering::Relaxed);
    }

    /// A limiter of a million calls a second on `server`, its leases
    /// living 400 ms.
    fn served(
        server: &super::super::test_server::RedisServer,
        name: &'static str,
    ) -> FleetRateLimiter {
        let store = RedisStore::open(&server.url())
            .unwrap()
            .store_timeout(Duration::from_secs(2))
            .key_prefix(name);
        FleetRateLimiter::new(&store, name, 1_000_000, Duration::from_secs(1))
            .lease_ttl(Duration::from_millis(400))
    }

    #[tokio::test]
    async fn a_lease_asks_for_the_next_two_round_trips_before_it_runs_out() {
        let limiter = limiter();
        let inner = &limiter.inner;
        // Nothing measured yet: once a quarter is spent.
        assert_eq!(inner.mark_for(4096), 3072);
        assert_eq!(
            inner.mark_for(2),
            0,
            "a lease of two asks at its second call"
        );
        // 100 ns a cell, 50 µs round trips: 1,000 cells go in two round
        // trips, less than the three quarters left at the quarter mark.
        inner.ns_per_cell.store(100, Ordering::Relaxed);
        inner.round_trip_took(Duration::from_micros(50));
        assert_eq!(inner.mark_for(4096), 3072);
        // 200 µs round trips: 4,000 cells go in two, so it asks with 4,000 left.
        inner.round_trip_took(Duration::from_micros(200));
        assert_eq!(inner.mark_for(4096), 4000);
        // 1 ms round trips: more than the lease; it asks at once (every
        // cell but the two its first calls spent).
        inner.round_trip_took(Duration::from_millis(1));
        assert_eq!(inner.mark_for(4096), 4094);
        // A slower pace asks later: at 1 µs a cell two round trips take
        // 2,000 cells, so the quarter mark comes first again.
        inner.ns_per_cell.store(1_000, Ordering::Relaxed);
        assert_eq!(inner.mark_for(4096), 3072);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_too_close_to_its_end_asks_for_nothing_and_stops_looking() {
        let limiter = limiter();
        let inner = &limiter.inner;
        // 10 ms left of a 100 ms life: it would end before it is spent.
        let expiry = inner.now_ms() + 10;
        inner.install(expiry << CELL_BITS | 9, 10);
        let mark = inner.mark.load(Ordering::Relaxed);
        assert_eq!(mark, 8);
        // Down to 8 left, then 7: below the mark.
        assert!(matches!(inner.fast(), Fast::Admitted));
        assert!(matches!(inner.fast(), Fast::Admitted));
        assert_eq!(inner.prefetches.load(Ordering::Relaxed), 0);
        assert!(!inner.prefetching.load(Ordering::Relaxed));
        // The lease asked once: its other calls skip the prefetch check.
        assert_eq!(inner.mark.load(Ordering::Relaxed), NO_MARK);
    }

    #[tokio::test]
    async fn a_slow_round_trip_counts_at_once_a_fast_one_an_eighth() {
        let limiter = limiter();
        let inner = &limiter.inner;
        inner.round_trip_took(Duration::from_micros(800));
        assert_eq!(inner.round_trip_ns.load(Ordering::Relaxed), 800_000);
        inner.round_trip_took(Duration::from_micros(1_600));
        assert_eq!(inner.round_trip_ns.load(Ordering::Relaxed), 1_600_000);
        inner.round_trip_took(Duration::from_micros(800));
        assert_eq!(inner.round_trip_ns.load(Ordering::Relaxed), 1_500_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_admits_exactly_its_cells_then_sends_the_call_to_redis() {
        let limiter = limiter();
        let inner = &limiter.inner;
        let expiry = inner.now_ms() + 100;
        // Three cells left of a lease of four.
        inner.install(expiry << CELL_BITS | 3, 4);
        for left in [2, 1, 0] {
            assert!(matches!(inner.fast(), Fast::Admitted));
            assert_eq!(limiter.snapshot().leased, left);
        }
        assert!(
            matches!(inner.fast(), Fast::Slow),
            "a spent lease admits no more"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_ends_at_its_expiry_to_the_millisecond() {
        let limiter = limiter();
        let inner = &limiter.inner;
        tokio::time::advance(Duration::from_millis(5)).await;
        let expiry = inner.now_ms() + 10;
        inner.install(expiry << CELL_BITS | 5, 6);
        tokio::time::advance(Duration::from_millis(9)).await;
        assert_eq!(limiter.snapshot().leased, 5, "1 ms before its end");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.snapshot().leased, 0, "at its end");
        assert!(matches!(inner.fast(), Fast::Slow));
    }

    #[tokio::test(start_paused = true)]
    async fn the_prefetched_lease_takes_the_spent_ones_place_without_a_round_trip() {
        let limiter = limiter();
        let inner = &limiter.inner;
        let expiry = inner.now_ms() + 100;
        // The current lease's last cell, and a prefetched lease of 10.
        inner.install(expiry << CELL_BITS | 1, 2);
        inner
            .next
            .store(expiry << CELL_BITS | 10, Ordering::Release);
        assert!(matches!(inner.fast(), Fast::Admitted));
        assert_eq!(limiter.snapshot().leased, 10);
        assert!(
            matches!(inner.fast(), Fast::Admitted),
            "from the prefetched lease"
        );
        assert_eq!(inner.next.load(Ordering::Relaxed), 0, "it is the lease now");
        assert_eq!(
            inner.lease.load(Ordering::Relaxed),
            expiry << CELL_BITS | 9,
            "its first cell went to the call that promoted it"
        );
        assert_eq!(
            inner.mark.load(Ordering::Relaxed),
            u64::from(inner.mark_for(10)) + 1,
            "it asks for its own successor as a lease of 10 does"
        );
        for _ in 0..9 {
            assert!(matches!(inner.fast(), Fast::Admitted));
        }
        assert!(matches!(inner.fast(), Fast::Slow));
        assert_eq!(limiter.snapshot().round_trips, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_prefetched_lease_that_ended_or_holds_nothing_is_not_promoted() {
        let limiter = limiter();
        let inner = &limiter.inner;
        tokio::time::advance(Duration::from_millis(5)).await;
        let now = inner.now_ms();
        inner.next.store(now << CELL_BITS | 10, Ordering::Release);
        assert!(matches!(inner.fast(), Fast::Slow), "ended now");
        inner.next.store((now + 50) << CELL_BITS, Ordering::Release);
        assert!(matches!(inner.fast(), Fast::Slow), "no cell in it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_or_a_fallback_says_how_long_until_it_ends() {
        let limiter = nowhere("until", 1_000).on_store_error(OnStoreError::Deny);
        let inner = &limiter.inner;
        tokio::time::advance(Duration::from_millis(20)).await;
        let now = inner.now_ms();
        inner.denied_until_ms.store(now + 30, Ordering::Relaxed);
        assert!(
            matches!(inner.fast(), Fast::Refused(d) if d == Duration::from_millis(30)),
            "Redis said no cell for 30 ms"
        );
        inner.denied_until_ms.store(0, Ordering::Relaxed);
        inner.down_until_ms.store(now + 40, Ordering::Relaxed);
        assert!(limiter.snapshot().on_fallback);
        assert!(
            matches!(inner.fast(), Fast::Refused(d) if d == Duration::from_millis(40)),
            "`deny` until Redis is tried again, 40 ms from now"
        );
        tokio::time::advance(Duration::from_millis(40)).await;
        assert!(!limiter.snapshot().on_fallback, "the backoff is over");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_asks_for_its_successor_once_below_its_mark_and_with_over_half_its_life_left() {
        let limiter = limiter();
        let inner = &limiter.inner;
        let ttl = limiter.get_lease_ttl().as_millis() as u64;
        // A lease of 10 asks with 7 left (a quarter spent: its mark is 8).
        let expiry = inner.now_ms() + ttl * 6 / 10;
        inner.install(expiry << CELL_BITS | 9, 10);
        assert_eq!(inner.mark.load(Ordering::Relaxed), 8);
        assert!(matches!(inner.fast(), Fast::Admitted));
        assert!(
            !inner.prefetching.load(Ordering::Relaxed),
            "8 left: not yet"
        );
        assert!(matches!(inner.fast(), Fast::Admitted));
        assert!(
            inner.prefetching.load(Ordering::Relaxed),
            "7 left, 60 % of its life ahead: the prefetch is under way"
        );
        assert_eq!(inner.mark.load(Ordering::Relaxed), NO_MARK);

        // Exactly half its life left: it would be spent as it ends, and
        // asks for nothing.
        let limiter = self::limiter();
        let inner = &limiter.inner;
        let expiry = inner.now_ms() + ttl / 2;
        inner.install(expiry << CELL_BITS | 9, 10);
        assert!(matches!(inner.fast(), Fast::Admitted));
        assert!(matches!(inner.fast(), Fast::Admitted));
        assert!(!inner.prefetching.load(Ordering::Relaxed));
        assert_eq!(
            inner.mark.load(Ordering::Relaxed),
            NO_MARK,
            "and stops looking"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_prefetch_asks_nothing_while_refused_or_down_or_once_its_lease_was_replaced() {
        let limiter = limiter();
        let inner = &limiter.inner;
        tokio::time::advance(Duration::from_millis(20)).await;
        let now = inner.now_ms();
        let installs = inner.installs.load(Ordering::Relaxed);
        let asked = || inner.prefetches.load(Ordering::Relaxed);
        for (denied, down) in [(now + 30, 0), (0, now + 30)] {
            inner.denied_until_ms.store(denied, Ordering::Relaxed);
            inner.down_until_ms.store(down, Ordering::Relaxed);
            Arc::clone(inner).prefetch_lease(installs).await;
            assert_eq!(asked(), 0, "refused until {denied}, down until {down}");
        }
        inner.down_until_ms.store(0, Ordering::Relaxed);
        Arc::clone(inner).prefetch_lease(installs + 1).await;
        assert_eq!(asked(), 0, "a newer lease asks for its own successor");
        inner
            .next
            .store((now + 50) << CELL_BITS | 4, Ordering::Release);
        Arc::clone(inner).prefetch_lease(installs).await;
        assert_eq!(asked(), 0, "a successor is there already");
        inner.next.store(0, Ordering::Release);

        // At the refusal's end (and the backoff's), it asks. (A failed
        // round trip lets the paused clock run on: `now` is read again.)
        for refused in [true, false] {
            let now = inner.now_ms();
            let (denied, down) = if refused { (now, 0) } else { (0, now) };
            inner.denied_until_ms.store(denied, Ordering::Relaxed);
            inner.down_until_ms.store(down, Ordering::Relaxed);
            let before = asked();
            Arc::clone(inner).prefetch_lease(installs).await;
            assert_eq!(
                asked(),
                before + 1,
                "refused until {denied}, down until {down}"
            );
            // Nothing listens at port 1: the round trip failed.
            assert!(limiter.snapshot().store_errors > 0);
        }
    }

    /// What a prefetch brings for a lease of `granted` cells installed
    /// `ago` ms before it runs, spent at `pace` ns a cell (`u64::MAX`:
    /// not measured): the cells of the lease it stores, checked to end
    /// one lease lifetime after the prefetch.
    async fn prefetched(limiter: &FleetRateLimiter, granted: u32, ago: u64, pace: u64) -> u32 {
        let inner = &limiter.inner;
        inner.ns_per_cell.store(pace, Ordering::Relaxed);
        {
            let mut refill = inner.refill.lock().await;
            (refill.granted, refill.next) = (granted, granted);
            refill.started_ms = inner.now_ms() - ago;
        }
        let before = inner.now_ms();
        Arc::clone(inner)
            .prefetch_lease(inner.installs.load(Ordering::Relaxed))
            .await;
        let after = inner.now_ms();
        let word = inner.next.swap(0, Ordering::AcqRel);
        let ttl = limiter.get_lease_ttl().as_millis() as u64;
        assert!(
            (before + ttl..=after + ttl).contains(&(word >> CELL_BITS)),
            "the lease ends {ttl} ms after it came: {} not in {before}..={after} + {ttl}",
            word >> CELL_BITS
        );
        (word & CELLS) as u32
    }

    #[tokio::test]
    async fn a_prefetch_asks_for_twice_as_many_cells_when_the_lease_goes_in_under_half_its_life() {
        let Some(server) = super::super::test_server::RedisServer::start() else {
            return;
        };
        let limiter = served(&server, "grow");
        // Real time: Redis's clock is, and a paused one would fire the
        // store timeout while the answer is on the wire. The time a
        // prefetch takes only makes a lease older: the fast cases keep a
        // margin, the boundaries none.
        tokio::time::sleep(Duration::from_millis(60)).await;
        let unmeasured = u64::MAX;
        // Not measured yet: a quarter of it spent in under an eighth of
        // its life (50 ms of 400) is fast.
        assert_eq!(prefetched(&limiter, 16, 20, unmeasured).await, 32);
        assert_eq!(
            prefetched(&limiter, 16, 50, unmeasured).await,
            16,
            "an eighth: not under"
        );
        // Measured: all of it in under half its life (200 ms) is fast.
        assert_eq!(prefetched(&limiter, 40, 0, 4_999_999).await, 80);
        assert_eq!(
            prefetched(&limiter, 40, 0, 5_000_000).await,
            40,
            "40 cells at 5 ms a cell take half its life: not under"
        );
    }

    #[tokio::test]
    async fn a_lease_spent_in_under_half_its_life_is_followed_by_one_twice_as_big() {
        let Some(server) = super::super::test_server::RedisServer::start() else {
            return;
        };
        let limiter = served(&server, "refill");
        let inner = &limiter.inner;
        // Real time (Redis's clock is); `started_ms` is set back by hand.
        // The time the call takes only makes the lease older: the fast
        // case keeps a margin, the boundary none.
        tokio::time::sleep(Duration::from_millis(210)).await;
        // The lease of `granted` cells, spent, was asked for `ago` ms
        // before the call that finds it spent: the cells of the next.
        let refilled = |granted: u32, ago: u64| async move {
            {
                let mut refill = inner.refill.lock().await;
                (refill.granted, refill.next) = (granted, granted);
                refill.started_ms = inner.now_ms() - ago;
            }
            inner.lease.store(0, Ordering::Release);
            let before = inner.now_ms();
            inner.acquire_slow().await.unwrap();
            let after = inner.now_ms();
            let word = inner.lease.load(Ordering::Acquire);
            assert!(
                (before + 400..=after + 400).contains(&(word >> CELL_BITS)),
                "a lease lives 400 ms from its answer: {} not in {before}..={after} + 400",
                word >> CELL_BITS
            );
            inner.refill.lock().await.granted
        };
        assert_eq!(refilled(8, 150).await, 16, "spent in 150 ms of 400");
        assert_eq!(
            refilled(8, 200).await,
            8,
            "spent in half its life: not under"
        );
        assert_eq!(
            limiter.snapshot().leased,
            7,
            "the call that asked took the first cell"
        );
    }

    #[tokio::test]
    async fn each_failed_round_trip_doubles_the_time_on_the_fallback_up_to_half_a_second() {
        // Nothing listens at port 1: every round trip fails at once.
        let limiter = nowhere("backoff", 1_000).on_store_error(OnStoreError::Allow);
        let inner = &limiter.inner;
        for backoff in [50, 100, 200, 400, 500, 500] {
            // The last backoff is over: the next call asks Redis again.
            inner.down_until_ms.store(0, Ordering::Relaxed);
            let before = inner.now_ms();
            inner.acquire_slow().await.expect("`allow` admits");
            let after = inner.now_ms();
            let until = inner.down_until_ms.load(Ordering::Relaxed);
            assert!(
                (before + backoff..=after + backoff).contains(&until),
                "on the fallback for {backoff} ms: until {until}, asked at {before}..={after}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_waits_for_a_cell_that_frees_exactly_at_its_max_wait() {
        let limiter = waiting("exact-wait");
        tokio::time::advance(Duration::from_millis(10)).await;
        // Redis said: no cell for 31 ms, more than the call may wait.
        refuse_for(&limiter, 31);
        let started = Instant::now();
        let refused = limiter.acquire().await.unwrap_err();
        assert_eq!(refused.retry_after(), Some(Duration::from_millis(31)));
        assert_eq!(started.elapsed(), Duration::ZERO, "refused without waiting");
        // 30 ms: exactly its max wait. It waits, then asks Redis (which
        // does not answer here: `allow` admits it).
        refuse_for(&limiter, 30);
        limiter.acquire().await.expect("admitted after its wait");
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(limiter.snapshot().rejected, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_through_the_limiter_with_a_max_wait_waits_out_a_refusal() {
        let limiter = waiting("call-wait");
        tokio::time::advance(Duration::from_millis(10)).await;
        refuse_for(&limiter, 20);
        let started = Instant::now();
        let out = limiter.call(async { Ok::<_, Rejection>(7) }).await;
        assert_eq!(out.ok(), Some(7), "admitted after waiting 20 ms");
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_is_measured_over_the_cells_a_lease_spent() {
        let limiter = limiter();
        let inner = &limiter.inner;
        let expiry = inner.now_ms() + 100;
        // A lease of 10 cells, the installing call's spent: 9 left.
        inner.install(expiry << CELL_BITS | 9, 10);
        assert_eq!(
            u64::from(inner.mark_for(10)) + 1,
            inner.mark.load(Ordering::Relaxed)
        );
        for _ in 0..3 {
            assert!(inner.spend(inner.now_ms()).is_some());
        }
        tokio::time::advance(Duration::from_micros(40)).await;
        // Ended with 6 left: 4 spent in 40 µs.
        inner.lease_ended();
        assert_eq!(inner.ns_per_cell.load(Ordering::Relaxed), 10_000);
        // Measured once: a second look at the same lease changes nothing.
        tokio::time::advance(Duration::from_millis(1)).await;
        inner.lease_ended();
        assert_eq!(inner.ns_per_cell.load(Ordering::Relaxed), 10_000);
    }
}
