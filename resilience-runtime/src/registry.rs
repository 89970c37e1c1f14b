//! The process-wide registry: named instances (`name = "…"`), shared by
//! every function that names them, and the private instances the macros
//! create, listed under their default name (`module::function`).
//!
//! [`instances`] lists them all with their kind, name, policy in force and
//! a typed [`Snapshot`]; [`get`] hands out a named instance by name.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

/// An instance type that can be shared by name across functions.
pub trait Registrable: Send + Sync + 'static {
    /// The layer, as users write it: `"retry"`, `"circuit_breaker"`, ….
    const KIND: &'static str;

    /// Whether `other` was configured the same way. Two call sites naming
    /// one instance with different settings are a conflict: the first
    /// configuration wins, and the conflict is recorded and logged.
    fn same_settings(&self, other: &Self) -> bool;

    /// What [`instances`] lists for this instance: its layer, name, policy
    /// in force and counters now.
    fn describe(&self) -> Description;
}

/// The layer an instance belongs to.
///
/// ```
/// use resilience::registry::Kind;
/// assert_eq!(Kind::CircuitBreaker.as_str(), "circuit_breaker");
/// assert_eq!(Kind::CircuitBreaker.to_string(), "circuit_breaker");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Kind {
    /// `#[circuit_breaker]`.
    CircuitBreaker,
    /// `#[retry]`.
    Retry,
    /// `#[timeout("…")]`.
    Timeout,
    /// `#[timeout(adaptive, …)]`.
    AdaptiveTimeout,
    /// `#[bulkhead]`.
    Bulkhead,
    /// `#[rate_limiter]`.
    RateLimiter,
    /// `#[hedge]`.
    Hedge,
    /// `#[fallback]` (the levels of one function).
    Fallback,
    /// `stale_cache(…)` in `#[fallback]`.
    StaleCache,
    /// `#[chaos]`.
    Chaos,
    /// `#[adaptive_concurrency]`.
    AdaptiveConcurrency,
    /// A rate limiter shared by the fleet (`resilience::redis`).
    FleetRateLimiter,
}

impl Kind {
    /// The layer as users write it, and as metrics label it (`layer="retry"`).
    ///
    /// ```
    /// assert_eq!(resilience::registry::Kind::RateLimiter.as_str(), "rate_limiter");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::Retry => "retry",
            Kind::Timeout => "timeout",
            Kind::AdaptiveTimeout => "adaptive_timeout",
            Kind::Bulkhead => "bulkhead",
            Kind::RateLimiter => "rate_limiter",
            Kind::Hedge => "hedge",
            Kind::Fallback => "fallback",
            Kind::StaleCache => "stale_cache",
            Kind::Chaos => "chaos",
            Kind::AdaptiveConcurrency => "adaptive_concurrency",
            Kind::FleetRateLimiter => "fleet_rate_limiter",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A duration as the attributes write it: `"250ms"`, `"2s"`, `"1m30s"`.
pub(crate) fn duration_text(d: Duration) -> String {
    if d.is_zero() {
        return "0ms".to_owned();
    }
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}us", d.as_micros());
    }
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let (mut out, mut s) = (String::new(), d.as_secs());
    for (unit, len) in [("h", 3600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

/// One setting of a policy, as an attribute or a configuration file writes
/// it: `failure_threshold = 5`, `open_for = "60s"`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Setting {
    /// The option's key.
    pub key: &'static str,
    /// Its value, durations as `"2s"`.
    pub value: String,
}

/// The policy in force: every setting of the instance, keys and values as
/// the attributes write them.
///
/// ```
/// use resilience::registry::Policy;
/// let p = Policy::new().with("max_attempts", 3).with_duration("base", std::time::Duration::from_millis(100));
/// assert_eq!(p.get("base"), Some("100ms"));
/// assert_eq!(p.to_string(), "max_attempts = 3, base = 100ms");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Policy(pub Vec<Setting>);

impl Policy {
    /// No settings.
    ///
    /// ```
    /// assert!(resilience::registry::Policy::new().0.is_empty());
    /// ```
    pub fn new() -> Policy {
        Policy(Vec::new())
    }

    /// With one more setting, its value by `Display`.
    ///
    /// ```
    /// let p = resilience::registry::Policy::new().with("burst", 20);
    /// assert_eq!(p.get("burst"), Some("20"));
    /// ```
    pub fn with(mut self, key: &'static str, value: impl fmt::Display) -> Policy {
        self.0.push(Setting {
            key,
            value: value.to_string(),
        });
        self
    }

    /// With one more duration setting, written as `"2s"`.
    ///
    /// ```
    /// let p = resilience::registry::Policy::new().with_duration("open_for", std::time::Duration::from_secs(90));
    /// assert_eq!(p.get("open_for"), Some("1m30s"));
    /// ```
    pub fn with_duration(self, key: &'static str, value: Duration) -> Policy {
        self.with(key, duration_text(value))
    }

    /// The value of `key`, if set.
    ///
    /// ```
    /// assert_eq!(resilience::registry::Policy::new().get("rate"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.value.as_str())
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} = {}", s.key, s.value)?;
        }
        Ok(())
    }
}

/// The counters and state of one instance, by layer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
pub enum Snapshot {
    /// A circuit breaker.
    CircuitBreaker(crate::BreakerSnapshot),
    /// A retry.
    Retry(crate::RetrySnapshot),
    /// A fixed timeout.
    Timeout(crate::TimeoutSnapshot),
    /// An adaptive timeout.
    AdaptiveTimeout(crate::AdaptiveTimeoutSnapshot),
    /// A bulkhead.
    Bulkhead(crate::BulkheadSnapshot),
    /// A rate limiter.
    RateLimiter(crate::RateLimiterSnapshot),
    /// A hedge.
    Hedge(crate::HedgeSnapshot),
    /// The fallback levels of one function.
    Fallback(crate::FallbackSnapshot),
    /// A stale cache.
    #[cfg(feature = "stale-cache")]
    StaleCache(crate::StaleCacheSnapshot),
    /// A chaos instance (no counters).
    Chaos,
    /// An adaptive concurrency limit.
    AdaptiveConcurrency(crate::AdaptiveConcurrencySnapshot),
    /// A rate limiter shared by the fleet (feature `redis`).
    #[cfg(feature = "redis")]
    FleetRateLimiter(crate::redis::FleetRateLimiterSnapshot),
}

/// Where an instance lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Scope {
    /// `name = "…"`: shared by every function naming it; [`get`] finds it.
    Named,
    /// A macro's private `static`, listed under its default name
    /// `module::function`.
    Private,
}

/// What a [`Registrable`] instance says about itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Description {
    /// The layer.
    pub kind: Kind,
    /// The instance name.
    pub name: String,
    /// The policy in force.
    pub policy: Policy,
    /// The counters now.
    pub snapshot: Snapshot,
}

impl Description {
    /// A description, for a [`Registrable`] impl.
    ///
    /// ```
    /// use resilience::registry::{Description, Kind, Policy, Snapshot};
    /// let d = Description::new(Kind::Chaos, "x", Policy::new(), Snapshot::Chaos);
    /// assert_eq!(d.name, "x");
    /// ```
    pub fn new(kind: Kind, name: impl Into<String>, policy: Policy, snapshot: Snapshot) -> Self {
        Description {
            kind,
            name: name.into(),
            policy,
            snapshot,
        }
    }
}

/// One instance, as [`instances`] lists it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Instance {
    /// The layer.
    pub kind: Kind,
    /// The instance name (the default `module::function` of a private one).
    pub name: String,
    /// Named or private.
    pub scope: Scope,
    /// How many call sites asked for it with settings other than the first
    /// (always 0 for a private instance).
    pub conflicts: usize,
    /// The policy in force.
    pub policy: Policy,
    /// The counters now.
    pub snapshot: Snapshot,
}

/// Every instance of the process, named and private, sorted by kind, name
/// and scope: what a health or metrics endpoint reads. A private instance
/// is listed from its first call on.
///
/// ```
/// use resilience::registry::{self, Kind, Snapshot};
/// use resilience::Timeout;
/// use std::time::Duration;
///
/// registry::get_or_register("doc-instances", || Timeout::named("doc-instances", Duration::from_secs(1)));
/// let all = registry::instances();
/// let t = all.iter().find(|i| i.name == "doc-instances").unwrap();
/// assert_eq!(t.kind, Kind::Timeout);
/// assert_eq!(t.policy.get("duration"), Some("1s"));
/// assert!(matches!(t.snapshot, Snapshot::Timeout(_)));
/// ```
pub fn instances() -> Vec<Instance> {
    // Describe outside the locks: a snapshot may read a clock or a cache.
    let named: Vec<(Arc<dyn Describe>, usize)> = map()
        .values()
        .map(|slot| (Arc::clone(&slot.describe), slot.conflicts))
        .collect();
    let private: Vec<&'static dyn Describe> = privates().clone();
    let mut all: Vec<Instance> = named
        .iter()
        .map(|(d, conflicts)| instance(d.describe_dyn(), Scope::Named, *conflicts))
        .chain(
            private
                .iter()
                .map(|d| instance(d.describe_dyn(), Scope::Private, 0)),
        )
        .chain(
            crate::fallback::describe_all()
                .into_iter()
                .map(|d| instance(d, Scope::Private, 0)),
        )
        .collect();
    all.sort_by(|a, b| (a.kind, &a.name, a.scope).cmp(&(b.kind, &b.name, b.scope)));
    all
}

fn instance(d: Description, scope: Scope, conflicts: usize) -> Instance {
    Instance {
        kind: d.kind,
        name: d.name,
        scope,
        conflicts,
        policy: d.policy,
        snapshot: d.snapshot,
    }
}

/// The named instance of type `T` registered under `name`, without giving
/// its policy (for a dashboard's "force open" button, a test, an admin
/// endpoint). `None` when no function has registered it yet.
///
/// ```
/// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
/// use resilience::registry;
///
/// registry::get_or_register("doc-get-by-name", || CircuitBreaker::named("doc-get-by-name", BreakerPolicy::new()));
/// let breaker = registry::get::<CircuitBreaker>("doc-get-by-name").unwrap();
/// breaker.force_open();
/// assert!(registry::get::<CircuitBreaker>("nobody-registered-this").is_none());
/// ```
pub fn get<T: Registrable>(name: &str) -> Option<Arc<T>> {
    let key = (TypeId::of::<T>(), Cow::Owned(name.to_owned()));
    let instance = Arc::clone(&map().get(&key)?.instance);
    Some(
        instance
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("registry slots are keyed by TypeId")),
    )
}

/// The object-safe side of [`Registrable`] (which has an associated const).
pub(crate) trait Describe: Send + Sync {
    fn describe_dyn(&self) -> Description;
}

impl<T: Registrable> Describe for T {
    fn describe_dyn(&self) -> Description {
        self.describe()
    }
}

fn privates() -> MutexGuard<'static, Vec<&'static dyn Describe>> {
    static PRIVATE: Mutex<Vec<&'static dyn Describe>> = Mutex::new(Vec::new());
    PRIVATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A macro's private instance: the `static` of an annotated function,
/// listed by [`instances`] from its first call on.
///
/// ```
/// use resilience::registry::{self, PrivateSlot};
/// use resilience::Timeout;
/// use std::time::Duration;
///
/// static T: PrivateSlot<Timeout> = PrivateSlot::new(Timeout::new("doc::private", Duration::from_secs(3)));
/// assert_eq!(T.get().duration(), Duration::from_secs(3));
/// assert!(registry::instances().iter().any(|i| i.name == "doc::private"));
/// ```
#[derive(Debug)]
pub struct PrivateSlot<T> {
    instance: T,
    registered: AtomicBool,
}

impl<T: Registrable> PrivateSlot<T> {
    /// A slot holding `instance`, for a `static`.
    ///
    /// ```
    /// # use resilience::{registry::PrivateSlot, Timeout};
    /// static T: PrivateSlot<Timeout> = PrivateSlot::new(Timeout::new("doc::new", std::time::Duration::from_secs(1)));
    /// ```
    pub const fn new(instance: T) -> Self {
        PrivateSlot {
            instance,
            registered: AtomicBool::new(false),
        }
    }

    /// The instance, registering it on first use: one `Relaxed` load after.
    ///
    /// ```
    /// # use resilience::{registry::PrivateSlot, Timeout};
    /// static T: PrivateSlot<Timeout> = PrivateSlot::new(Timeout::new("doc::get", std::time::Duration::from_secs(1)));
    /// assert_eq!(T.get().name(), "doc::get");
    /// ```
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn get(&'static self) -> &'static T {
        if !self.registered.load(Ordering::Relaxed) {
            self.register();
        }
        &self.instance
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self) {
        if !self.registered.swap(true, Ordering::AcqRel) {
            register_private(&self.instance);
        }
    }
}

/// Lists a private instance (created once, by its site) from now on.
pub(crate) fn register_private(instance: &'static dyn Describe) {
    privates().push(instance);
}

/// Calls by outcome, the same for every layer.
///
/// `succeeded` and `failed` are calls that went through the layer and
/// returned `Ok` or `Err`; `rejected` are calls the layer turned away or
/// cut off (an open circuit, a full bulkhead, a rate limit, a timeout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Calls {
    /// Calls that returned `Ok`.
    pub succeeded: u64,
    /// Calls that returned `Err` (rejections of this layer excluded).
    pub failed: u64,
    /// Calls this layer rejected or cut off.
    pub rejected: u64,
}

impl Calls {
    /// Every call counted.
    ///
    /// ```
    /// assert_eq!(resilience::registry::Calls::default().total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.succeeded + self.failed + self.rejected
    }
}

/// The counters behind [`Calls`]: per thread, so a call's count is a plain
/// load and store, not a locked add (see [`crate::tally`]).
#[derive(Debug, Default)]
pub(crate) struct CallCounters(crate::tally::Tally<2>);

const SUCCEEDED: usize = 0;
const FAILED: usize = 1;

impl CallCounters {
    pub(crate) const fn new() -> Self {
        CallCounters(crate::tally::Tally::new())
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub(crate) fn record(&self, ok: bool) {
        self.0.add(if ok { SUCCEEDED } else { FAILED });
    }

    /// The counts, with `rejected` from the layer's own counter.
    pub(crate) fn read(&self, rejected: u64) -> Calls {
        Calls {
            succeeded: self.0.get(SUCCEEDED),
            failed: self.0.get(FAILED),
            rejected,
        }
    }
}

/// One named instance, as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The layer kind, e.g. `"retry"`.
    pub kind: &'static str,
    /// The instance name.
    pub name: String,
    /// How many call sites asked for it with settings other than the first.
    pub conflicts: usize,
}

struct Slot {
    kind: &'static str,
    instance: Arc<dyn Any + Send + Sync>,
    describe: Arc<dyn Describe>,
    conflicts: usize,
}

type Map = HashMap<(TypeId, Cow<'static, str>), Slot>;

fn map() -> MutexGuard<'static, Map> {
    static MAP: OnceLock<Mutex<Map>> = OnceLock::new();
    // A panic while holding the lock cannot leave the map half-written
    // (every write is a single insert or counter bump), so poison is ignored.
    MAP.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The instance of type `T` registered under `name`, created by `make` if
/// there is none yet.
///
/// If one exists with different settings than `make()` would give, the
/// existing one is returned, the conflict is counted in [`entries`], and a
/// `tracing` warning names the instance.
///
/// ```
/// use resilience::{registry, Timeout};
/// use std::time::Duration;
///
/// let a = registry::get_or_register("doc-search", || Timeout::named("doc-search", Duration::from_secs(1)));
/// let b = registry::get_or_register("doc-search", || Timeout::named("doc-search", Duration::from_secs(9)));
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// assert_eq!(b.duration(), Duration::from_secs(1)); // the first configuration wins
/// ```
pub fn get_or_register<T: Registrable>(
    name: impl Into<Cow<'static, str>>,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    let key = (TypeId::of::<T>(), name.into());
    // Issue 14 (config): the configuration in force governs the instance
    // from its creation (and the one built only to compare with it).
    #[cfg(feature = "config")]
    let make = || crate::config::govern(&key.1, make());
    let mut map = map();
    if let Some(slot) = map.get_mut(&key) {
        let existing = Arc::clone(&slot.instance)
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("registry slots are keyed by TypeId"));
        if !existing.same_settings(&make()) {
            slot.conflicts += 1;
            tracing::warn!(
                layer = T::KIND,
                name = %key.1,
                "resilience: two call sites configure this named instance differently; the first configuration wins"
            );
        }
        return existing;
    }
    let instance = Arc::new(make());
    map.insert(
        key,
        Slot {
            kind: T::KIND,
            instance: instance.clone(),
            describe: instance.clone(),
            conflicts: 0,
        },
    );
    instance
}

/// Every named instance, sorted by kind and name (for a health endpoint).
///
/// ```
/// use resilience::{registry, Timeout};
/// use std::time::Duration;
///
/// registry::get_or_register("doc-entries", || Timeout::named("doc-entries", Duration::from_secs(1)));
/// assert!(registry::entries().iter().any(|e| e.kind == "timeout" && e.name == "doc-entries"));
/// ```
pub fn entries() -> Vec<Entry> {
    let mut all: Vec<Entry> = map()
        .iter()
        .map(|((_, name), slot)| Entry {
            kind: slot.kind,
            name: name.to_string(),
            conflicts: slot.conflicts,
        })
        .collect();
    all.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    all
}

/// A call site's handle on a named instance: looks the registry up once,
/// then every call is a single atomic load.
///
/// ```
/// use resilience::{registry::NamedSlot, Timeout};
/// use std::time::Duration;
///
/// static SLOT: NamedSlot<Timeout> = NamedSlot::new();
/// let t = SLOT.get("doc-slot", || Timeout::named("doc-slot", Duration::from_secs(2)));
/// assert_eq!(t.duration(), Duration::from_secs(2));
/// ```
#[derive(Debug)]
pub struct NamedSlot<T>(OnceLock<Arc<T>>);

impl<T: Registrable> NamedSlot<T> {
    /// An empty slot, for a `static`.
    ///
    /// ```
    /// # use resilience::{registry::NamedSlot, Timeout};
    /// static SLOT: NamedSlot<Timeout> = NamedSlot::new();
    /// ```
    pub const fn new() -> Self {
        NamedSlot(OnceLock::new())
    }

    /// The registered instance, registering it on first use.
    ///
    /// ```
    /// # use resilience::{registry::NamedSlot, Timeout};
    /// # use std::time::Duration;
    /// static SLOT: NamedSlot<Timeout> = NamedSlot::new();
    /// let first = SLOT.get("doc-get", || Timeout::named("doc-get", Duration::from_secs(1)));
    /// assert_eq!(first.name(), "doc-get");
    /// ```
    pub fn get(&self, name: &'static str, make: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(|| get_or_register(name, make))
    }
}

impl<T: Registrable> Default for NamedSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timeout;
    use std::time::Duration;

    #[test]
    fn conflicting_settings_keep_the_first_and_are_counted() {
        let a = get_or_register("reg-test", || {
            Timeout::named("reg-test", Duration::from_secs(1))
        });
        let same = get_or_register("reg-test", || {
            Timeout::named("reg-test", Duration::from_secs(1))
        });
        assert!(Arc::ptr_eq(&a, &same));
        let entry = |e: &Entry| e.name == "reg-test";
        assert_eq!(
            entries().iter().find(|e| entry(e)).map(|e| e.conflicts),
            Some(0)
        );
        let other = get_or_register("reg-test", || {
            Timeout::named("reg-test", Duration::from_secs(5))
        });
        assert_eq!(other.duration(), Duration::from_secs(1));
        assert_eq!(
            entries().iter().find(|e| entry(e)).map(|e| e.conflicts),
            Some(1)
        );
    }
}
