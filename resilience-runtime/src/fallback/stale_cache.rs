//! The last good result per argument tuple, served when the call fails.

use crate::sync::{AtomicU64, Ordering};
use resilience_schema::{expect, stale_cache};
use std::borrow::Cow;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Remembers the last successful result for each key (the arguments of the
/// call) and serves it when a later call with the same key fails, as long
/// as it is younger than `ttl`.
///
/// Bounded to `capacity` entries (least recently used evicted first) and
/// concurrent without a global lock: a [moka](https://docs.rs/moka) cache
/// underneath. Ages use tokio's clock, so `tokio::time::pause()` drives
/// expiry in tests. Every stale answer emits a `tracing` event and is
/// counted in [`StaleCache::snapshot`].
///
/// `#[fallback(stale_cache(ttl = "10m", capacity = 10_000), …)]` creates one
/// per function; `stale_cache(with = <expr>)` uses one you own (`T`, `&T`,
/// `Arc<T>` or `&Arc<T>`, e.g. `with = self.cache` for one cache per
/// client).
///
/// # Keys
///
/// The macro keys results by the **tuple of the function's arguments**,
/// `self` excluded, each in its owned form (`&str` → `String`, `&[u8]` →
/// `Vec<u8>`, `&T` → `T`), in order. A cache you pass with `with = …` must
/// have that key type: `async fn stock(&self, sku: u32)` needs a
/// `StaleCache<(u32,), V>` (a one-element tuple), `async fn price(region: u8,
/// sku: &str)` a `StaleCache<(u8, String), V>`, where `V` is the `Ok` type.
/// With `stale_cache(key = <expr>)` the key is that expression's type
/// instead (`key = sku` → `StaleCache<u32, V>`). A key must be `Hash + Eq +
/// Clone + Send + Sync + 'static`.
///
/// On a method, `stale_cache` needs `with` or `key`: a cache of its own
/// would be shared by every `self`, and one client's results served to
/// another.
///
/// ```
/// use resilience::fallback::StaleCache;
/// use std::time::Duration;
///
/// // The cache of `async fn stock(&self, sku: u32) -> Result<u64, E>`
/// // under `#[fallback(stale_cache(with = self.cache))]`.
/// let cache: StaleCache<(u32,), u64> = StaleCache::new("stock", Duration::from_secs(60), 100);
/// # let _ = cache;
/// ```
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::fallback::StaleCache;
/// use std::time::Duration;
///
/// let cache: StaleCache<u64, String> = StaleCache::new("profiles", Duration::from_secs(600), 1_000);
/// cache.store(7, &"Ada".to_owned());
/// assert_eq!(cache.fresh(&7).as_deref(), Some("Ada"));
/// assert_eq!(cache.fresh(&8), None);
/// assert_eq!(cache.snapshot().served_stale, 1);
/// # }
/// ```
pub struct StaleCache<K, V> {
    name: Cow<'static, str>,
    ttl: Duration,
    entries: moka::sync::Cache<K, Arc<(V, Instant)>>,
    served_stale: AtomicU64,
    misses: AtomicU64,
}

/// Counters of a [`StaleCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StaleCacheSnapshot {
    /// Results remembered (approximate while writes are in flight).
    pub entries: u64,
    /// Failed calls answered from the cache.
    pub served_stale: u64,
    /// Failed calls with nothing fresh enough to serve.
    pub misses: u64,
}

impl<K, V> StaleCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache serving results younger than `ttl`, holding at most
    /// `capacity` keys.
    ///
    /// ```
    /// # use resilience::fallback::StaleCache;
    /// # use std::time::Duration;
    /// let cache: StaleCache<String, u32> = StaleCache::new("prices", Duration::from_secs(60), 100);
    /// # let _ = cache;
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>, ttl: Duration, capacity: u64) -> Self {
        expect(stale_cache::check_ttl(ttl));
        expect(stale_cache::check_capacity(capacity));
        StaleCache {
            name: name.into(),
            ttl,
            entries: moka::sync::Cache::new(capacity),
            served_stale: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Remembers `value` as the last good result for `key`.
    ///
    /// ```
    /// # use resilience::fallback::StaleCache;
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache: StaleCache<u8, u8> = StaleCache::new("c", Duration::from_secs(1), 10);
    /// cache.store(1, &10);
    /// assert_eq!(cache.fresh(&1), Some(10));
    /// # }
    /// ```
    pub fn store(&self, key: K, value: &V) {
        self.entries
            .insert(key, Arc::new((value.clone(), Instant::now())));
    }

    /// The last good result for `key` if it is younger than the ttl, counted
    /// as a stale answer; `None` (counted as a miss) otherwise.
    ///
    /// ```
    /// # use resilience::fallback::StaleCache;
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let cache: StaleCache<u8, u8> = StaleCache::new("c", Duration::from_secs(1), 10);
    /// cache.store(1, &10);
    /// tokio::time::advance(Duration::from_secs(2)).await;
    /// assert_eq!(cache.fresh(&1), None); // older than the ttl
    /// # }
    /// ```
    pub fn fresh(&self, key: &K) -> Option<V> {
        let hit = self
            .entries
            .get(key)
            .filter(|entry| entry.1.elapsed() <= self.ttl);
        match hit {
            Some(entry) => {
                self.served_stale.fetch_add(1, Ordering::Relaxed);
                let age = entry.1.elapsed();
                tracing::info!(
                    name = %self.name,
                    layer = "fallback",
                    ?age,
                    "resilience: serving a stale result from the cache"
                );
                crate::events::emit(|| crate::events::Event::StaleServed {
                    name: self.name.to_string(),
                    age,
                });
                Some(entry.0.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(name = %self.name, layer = "fallback", "resilience: nothing fresh enough in the stale cache");
                None
            }
        }
    }

    /// The counters.
    ///
    /// ```
    /// # use resilience::fallback::StaleCache;
    /// # use std::time::Duration;
    /// let cache: StaleCache<u8, u8> = StaleCache::new("c", Duration::from_secs(1), 10);
    /// assert_eq!(cache.snapshot().served_stale, 0);
    /// ```
    pub fn snapshot(&self) -> StaleCacheSnapshot {
        StaleCacheSnapshot {
            entries: self.entries.entry_count(),
            served_stale: self.served_stale.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// The instance name used in events.
    ///
    /// ```
    /// # use resilience::fallback::StaleCache;
    /// # use std::time::Duration;
    /// let cache: StaleCache<u8, u8> = StaleCache::new("c", Duration::from_secs(1), 10);
    /// assert_eq!(cache.name(), "c");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How old a remembered result may be and still be served.
    ///
    /// ```
    /// # use resilience::fallback::StaleCache;
    /// # use std::time::Duration;
    /// let cache: StaleCache<u8, u8> = StaleCache::new("c", Duration::from_secs(1), 10);
    /// assert_eq!(cache.ttl(), Duration::from_secs(1));
    /// ```
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl<K, V> std::fmt::Debug for StaleCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaleCache")
            .field("name", &self.name)
            .field("ttl", &self.ttl)
            .field("served_stale", &self.served_stale.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<K, V> crate::registry::Registrable for StaleCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    const KIND: &'static str = "stale_cache";

    fn same_settings(&self, other: &Self) -> bool {
        self.ttl == other.ttl
            && self.entries.policy().max_capacity() == other.entries.policy().max_capacity()
    }

    fn describe(&self) -> crate::registry::Description {
        let mut policy = crate::registry::Policy::new().with_duration("ttl", self.ttl);
        if let Some(capacity) = self.entries.policy().max_capacity() {
            policy = policy.with("capacity", capacity);
        }
        crate::registry::Description::new(
            crate::registry::Kind::StaleCache,
            self.name.as_ref(),
            policy,
            crate::registry::Snapshot::StaleCache(self.snapshot()),
        )
    }
}
