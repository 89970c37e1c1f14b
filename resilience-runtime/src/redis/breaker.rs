//! [`FleetBreaker`]: one view of a circuit breaker across the fleet.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{RedisStore, StoreError};
use crate::breaker::{CircuitBreaker, State};

/// Publishes a state and reads every replica's: `KEYS[1]` a hash of
/// replica → `state|server_ms`; `ARGV`: this replica, its state (empty:
/// read only), how long a report counts (ms). Reports older than that are
/// removed (a replica that stopped). Returns `{replica, state, age_ms, …}`.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. string.format('%.0f', now))
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
end
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local sep = string.find(all[i + 1], '|', 1, true)
  local at = tonumber(string.sub(all[i + 1], sep + 1))
  if now - at > ttl then
    redis.call('HDEL', KEYS[1], all[i])
  else
    table.insert(out, all[i])
    table.insert(out, string.sub(all[i + 1], 1, sep - 1))
    table.insert(out, now - at)
  end
end
return out
";

/// How often a watched breaker publishes its state, unless set.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// What this crate writes for a breaker that the fleet opened: not a
/// verdict of its own, so it does not count towards `k`.
const FLEET_OPEN: &str = "fleet-open";

/// A replica's report on a breaker, as [`FleetBreaker::fleet_states`] lists it.
///
/// ```
/// use resilience::redis::FleetBreakerState;
/// use std::time::Duration;
/// let s = FleetBreakerState { replica: "web-1".into(), state: "open".into(), age: Duration::ZERO };
/// assert!(s.is_open());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetBreakerState {
    /// The replica that reported it.
    pub replica: String,
    /// Its breaker's state, as [`State`]'s `Display` writes it
    /// (`"closed"`, `"open"`, `"half-open"`, `"forced open"`,
    /// `"disabled"`), or `"fleet-open"` when the fleet opened it.
    pub state: String,
    /// How long ago, by the server's clock.
    pub age: Duration,
}

impl FleetBreakerState {
    /// Whether the replica's own breaker judged the service down (`open`
    /// or `forced open` by an operator): what counts towards `k`.
    ///
    /// ```
    /// # use resilience::redis::FleetBreakerState;
    /// # use std::time::Duration;
    /// let s = FleetBreakerState { replica: "web-2".into(), state: "fleet-open".into(), age: Duration::ZERO };
    /// assert!(!s.is_open(), "opened by the fleet, not by its own calls");
    /// ```
    pub fn is_open(&self) -> bool {
        self.state == State::Open.to_string() || self.state == State::ForcedOpen.to_string()
    }
}

/// A circuit breaker with a fleet-wide view: each replica publishes its
/// breaker's state to Redis, and the breaker opens on every replica once
/// at least `k` replicas report theirs open, so one bad replica (its own
/// network, its own bug) does not shut the fleet, and a service that is
/// down for everyone is shed everywhere at once.
///
/// It works on the breaker from the outside, by its public methods: every
/// [`PUBLISH_EVERY`] (500 ms unless set) [`tick`](Self::tick) publishes the
/// breaker's state and reads the fleet's in one script call; with `k` or
/// more replicas open it [`force_open`](CircuitBreaker::force_open)s the
/// local breaker (reported as `"fleet-open"`, which does not count towards
/// `k`), and [`reset`](CircuitBreaker::reset)s it once fewer than `k`
/// remain open. A report older than three periods is dropped (a replica
/// that stopped). If Redis does not answer within the store timeout, the
/// tick logs a warning and a breaker the fleet opened is reset: each
/// replica's own verdict applies while the fleet view is unknown.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
/// use resilience::redis::{FleetBreaker, RedisStore};
///
/// static PAYMENTS: CircuitBreaker = CircuitBreaker::new("payments", BreakerPolicy::new());
///
/// let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
/// let fleet = FleetBreaker::new(&store, &PAYMENTS, "web-1", 3);
/// let _watch = fleet.spawn(); // publishes and follows the fleet until dropped
/// # }
/// ```
pub struct FleetBreaker<B> {
    store: RedisStore,
    key: String,
    breaker: B,
    replica: String,
    open_at: usize,
    every: Duration,
    script: ::redis::Script,
    /// Whether this replica's breaker is open because of the fleet.
    opened_by_fleet: AtomicBool,
    /// Whether the last tick failed (for one warning per outage).
    store_down: AtomicBool,
}

impl<B> fmt::Debug for FleetBreaker<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBreaker")
            .field("key", &self.key)
            .field("replica", &self.replica)
            .field("open_at", &self.open_at)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl<B> FleetBreaker<B>
where
    B: Deref<Target = CircuitBreaker> + Send + Sync + 'static,
{
    /// The fleet view of `breaker` (a `&'static CircuitBreaker` or an
    /// `Arc<CircuitBreaker>`), under the key
    /// `<prefix>:circuit_breaker:<breaker's name>`, this replica named
    /// `replica` (unique in the fleet: a host name, a pod name), opening
    /// when `open_at` (`k`, at least 1) replicas report it open.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// use resilience::redis::{FleetBreaker, RedisStore};
    /// use std::sync::Arc;
    ///
    /// let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let breaker = Arc::new(CircuitBreaker::named("search", BreakerPolicy::new()));
    /// let fleet = FleetBreaker::new(&store, breaker, "web-1", 2);
    /// assert_eq!(fleet.open_at(), 2);
    /// # }
    /// ```
    pub fn new(store: &RedisStore, breaker: B, replica: impl Into<String>, open_at: usize) -> Self {
        FleetBreaker {
            store: store.clone(),
            key: store.key("circuit_breaker", breaker.name()),
            breaker,
            replica: replica.into(),
            open_at: open_at.max(1),
            every: PUBLISH_EVERY,
            script: ::redis::Script::new(SCRIPT),
            opened_by_fleet: AtomicBool::new(false),
            store_down: AtomicBool::new(false),
        }
    }

    /// How often [`spawn`](Self::spawn)'s task ticks (500 ms unless set).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience::redis::{FleetBreaker, RedisStore};
    /// # use std::time::Duration;
    /// # static B: CircuitBreaker = CircuitBreaker::new("doc-every", BreakerPolicy::new());
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let fleet = FleetBreaker::new(&store, &B, "web-1", 2).publish_every(Duration::from_millis(100));
    /// assert_eq!(fleet.get_publish_every(), Duration::from_millis(100));
    /// # }
    /// ```
    pub fn publish_every(mut self, every: Duration) -> Self {
        self.every = every.max(Duration::from_millis(1));
        self
    }

    /// The tick period.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience::redis::{FleetBreaker, RedisStore, PUBLISH_EVERY};
    /// # static B: CircuitBreaker = CircuitBreaker::new("doc-get-every", BreakerPolicy::new());
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(FleetBreaker::new(&store, &B, "web-1", 2).get_publish_every(), PUBLISH_EVERY);
    /// # }
    /// ```
    pub fn get_publish_every(&self) -> Duration {
        self.every
    }

    /// `k`: how many replicas reporting open open it everywhere.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience::redis::{FleetBreaker, RedisStore};
    /// # static B: CircuitBreaker = CircuitBreaker::new("doc-open-at", BreakerPolicy::new());
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(FleetBreaker::new(&store, &B, "web-1", 0).open_at(), 1, "at least one");
    /// # }
    /// ```
    pub fn open_at(&self) -> usize {
        self.open_at
    }

    /// The local breaker.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience::redis::{FleetBreaker, RedisStore};
    /// # static B: CircuitBreaker = CircuitBreaker::new("doc-breaker", BreakerPolicy::new());
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(FleetBreaker::new(&store, &B, "web-1", 2).breaker().name(), "doc-breaker");
    /// # }
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// One round: publishes this replica's state, reads the fleet's,
    /// opens or closes the local breaker by `k`; returns the fleet's
    /// reports (this replica's included). One round trip, at most the
    /// store timeout.
    ///
    /// # Errors
    ///
    /// When Redis does not answer in time (the message says why); a
    /// breaker the fleet opened is then reset.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience::redis::{FleetBreaker, RedisStore};
    /// # static B: CircuitBreaker = CircuitBreaker::new("doc-tick", BreakerPolicy::new());
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let fleet = FleetBreaker::new(&store, &B, "web-1", 2);
    /// let reports = fleet.tick().await.unwrap();
    /// assert!(reports.iter().any(|r| r.replica == "web-1"));
    /// # }
    /// ```
    pub async fn tick(&self) -> Result<Vec<FleetBreakerState>, String> {
        let by_fleet = self.opened_by_fleet.load(Ordering::Relaxed);
        let state = self.breaker.state();
        // An operator's reset or force open since the fleet opened it
        // takes the breaker back.
        let by_fleet = by_fleet && state == State::ForcedOpen;
        let published = if by_fleet {
            FLEET_OPEN.to_owned()
        } else {
            state.to_string()
        };
        match self.exchange(&published).await {
            Ok(reports) => {
                if self.store_down.swap(false, Ordering::Relaxed) {
                    tracing::info!(name = %self.breaker.name(), "resilience: redis answers again, fleet breaker view resumed");
                }
                let open = reports.iter().filter(|r| r.is_open()).count();
                if open >= self.open_at
                    && !by_fleet
                    && state != State::Open
                    && state != State::ForcedOpen
                    && state != State::Disabled
                {
                    tracing::warn!(name = %self.breaker.name(), open, k = self.open_at, "resilience: enough replicas report the circuit open; opening it here too");
                    self.breaker.force_open();
                    self.opened_by_fleet.store(true, Ordering::Relaxed);
                } else if by_fleet && open < self.open_at {
                    tracing::info!(name = %self.breaker.name(), open, k = self.open_at, "resilience: fewer replicas report the circuit open; closing it here");
                    self.release();
                } else {
                    self.opened_by_fleet.store(by_fleet, Ordering::Relaxed);
                }
                Ok(reports)
            }
            Err(error) => {
                if !self.store_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(name = %self.breaker.name(), %error, "resilience: redis store unavailable; fleet breaker view paused, each replica decides alone");
                }
                if by_fleet {
                    self.release();
                }
                Err(error.to_string())
            }
        }
    }

    fn release(&self) {
        self.opened_by_fleet.store(false, Ordering::Relaxed);
        self.breaker.reset();
    }

    /// Every replica's latest report (without publishing), for a
    /// dashboard or a health endpoint. One round trip.
    ///
    /// # Errors
    ///
    /// When Redis does not answer within the store timeout.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience::redis::{FleetBreaker, RedisStore};
    /// # static B: CircuitBreaker = CircuitBreaker::new("doc-states", BreakerPolicy::new());
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let fleet = FleetBreaker::new(&store, &B, "web-1", 2);
    /// for report in fleet.fleet_states().await.unwrap() {
    ///     println!("{}: {}", report.replica, report.state);
    /// }
    /// # }
    /// ```
    pub async fn fleet_states(&self) -> Result<Vec<FleetBreakerState>, String> {
        self.exchange("").await.map_err(|e| e.to_string())
    }

    async fn exchange(&self, state: &str) -> Result<Vec<FleetBreakerState>, StoreError> {
        let ttl = (self.every * 3).as_millis() as u64;
        let mut invocation = self.script.key(&self.key);
        invocation.arg(&self.replica).arg(state).arg(ttl);
        let reports: Vec<(String, String, u64)> = self
            .store
            .within_timeout(|mut connection| async move {
                invocation.invoke_async(&mut connection).await
            })
            .await?;
        let mut reports: Vec<FleetBreakerState> = reports
            .into_iter()
            .map(|(replica, state, age)| FleetBreakerState {
                replica,
                state,
                age: Duration::from_millis(age),
            })
            .collect();
        reports.sort_by(|a, b| a.replica.cmp(&b.replica));
        Ok(reports)
    }

    /// Ticks every [`publish_every`](Self::publish_every) on a task of
    /// the current tokio runtime, until the returned handle is dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience::redis::{FleetBreaker, RedisStore};
    /// # static B: CircuitBreaker = CircuitBreaker::new("doc-spawn", BreakerPolicy::new());
    /// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
    /// let watch = FleetBreaker::new(&store, &B, "web-1", 2).spawn();
    /// drop(watch); // stops publishing
    /// # }
    /// ```
    pub fn spawn(self) -> FleetBreakerTask {
        let every = self.every;
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let _ = self.tick().await;
            }
        });
        FleetBreakerTask(task)
    }
}

/// The task of [`FleetBreaker::spawn`]; dropping it stops the task.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
/// # use resilience::redis::{FleetBreaker, FleetBreakerTask, RedisStore};
/// # static B: CircuitBreaker = CircuitBreaker::new("doc-task", BreakerPolicy::new());
/// # let store = RedisStore::open("redis://127.0.0.1:6379").unwrap();
/// let watch: FleetBreakerTask = FleetBreaker::new(&store, &B, "web-1", 2).spawn();
/// # }
/// ```
#[derive(Debug)]
#[must_use = "the fleet view stops when this is dropped"]
pub struct FleetBreakerTask(tokio::task::JoinHandle<()>);

impl Drop for FleetBreakerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
