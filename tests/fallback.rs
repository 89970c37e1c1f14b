//! `#[fallback]`: the degradation ladder primary → stale cache → default data
//! → graceful error, on tokio's paused clock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use resilience::fallback::StaleCache;
use resilience::{Rejection, fallback, retry, timeout};

#[derive(Debug, Clone, PartialEq)]
struct Item(u32);

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    Down,
    Rejected(Rejection),
    /// The graceful error: what the user sees when every level failed.
    Unavailable(String),
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejected(r)
    }
}

struct Recommender {
    healthy: AtomicBool,
    hanging: AtomicBool,
    popular_healthy: AtomicBool,
    calls: AtomicU32,
    cache: StaleCache<(u32,), Vec<Item>>,
}

impl Recommender {
    fn new() -> Self {
        Recommender {
            healthy: AtomicBool::new(true),
            hanging: AtomicBool::new(false),
            popular_healthy: AtomicBool::new(true),
            calls: AtomicU32::new(0),
            cache: StaleCache::new("recommendations", Duration::from_secs(600), 100),
        }
    }

    async fn popular_items(&self) -> Result<Vec<Item>, ApiError> {
        if self.popular_healthy.load(Ordering::SeqCst) {
            Ok(vec![Item(0)])
        } else {
            Err(ApiError::Down)
        }
    }

    #[fallback(
        stale_cache(with = self.cache),
        self.popular_items().await,
        Err(ApiError::Unavailable(format!("no recommendations for user {user}: {err:?}")))
    )]
    #[timeout("800ms")]
    async fn recommendations(&self, user: u32) -> Result<Vec<Item>, ApiError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.healthy.load(Ordering::SeqCst) {
            Ok(vec![Item(user), Item(user + 1)])
        } else {
            Err(ApiError::Down)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn fresh_result_when_healthy() {
    let r = Recommender::new();
    assert_eq!(r.recommendations(1).await, Ok(vec![Item(1), Item(2)]));
    assert_eq!(r.calls.load(Ordering::SeqCst), 1);
    assert_eq!(r.cache.snapshot().served_stale, 0);
}

#[tokio::test(start_paused = true)]
async fn stale_result_during_an_outage() {
    let r = Recommender::new();
    r.recommendations(1).await.unwrap();
    r.healthy.store(false, Ordering::SeqCst);
    assert_eq!(r.recommendations(1).await, Ok(vec![Item(1), Item(2)]));
    assert_eq!(
        r.calls.load(Ordering::SeqCst),
        2,
        "the primary was tried first"
    );
    assert_eq!(r.cache.snapshot().served_stale, 1);
}

#[tokio::test(start_paused = true)]
async fn default_data_when_the_cache_is_cold() {
    let r = Recommender::new();
    r.recommendations(1).await.unwrap();
    r.healthy.store(false, Ordering::SeqCst);
    assert_eq!(
        r.recommendations(2).await,
        Ok(vec![Item(0)]),
        "user 2 was never cached"
    );
    assert_eq!(r.cache.snapshot().misses, 1);
}

#[tokio::test(start_paused = true)]
async fn graceful_error_when_every_level_fails() {
    let r = Recommender::new();
    r.healthy.store(false, Ordering::SeqCst);
    r.popular_healthy.store(false, Ordering::SeqCst);
    assert_eq!(
        r.recommendations(3).await,
        Err(ApiError::Unavailable(
            "no recommendations for user 3: Down".to_owned()
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn stale_entries_expire_after_the_ttl() {
    let r = Recommender::new();
    r.recommendations(4).await.unwrap();
    r.healthy.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(600)).await;
    assert_eq!(
        r.recommendations(4).await,
        Ok(vec![Item(4), Item(5)]),
        "exactly ttl old is still served"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        r.recommendations(4).await,
        Ok(vec![Item(0)]),
        "older than ttl falls through"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_underneath_is_answered_by_the_ladder() {
    let r = Recommender::new();
    r.recommendations(5).await.unwrap();
    r.hanging.store(true, Ordering::SeqCst);
    let start = tokio::time::Instant::now();
    assert_eq!(r.recommendations(5).await, Ok(vec![Item(5), Item(6)]));
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(800),
        "answered when the timeout fired"
    );
    assert_eq!(r.cache.snapshot().served_stale, 1);
}

/// The error each level saw, in order.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn saw(level: &str, err: &ApiError) -> Result<u32, ApiError> {
    SEEN.lock().unwrap().push(format!("{level}: {err:?}"));
    Err(ApiError::Unavailable(level.to_owned()))
}

#[fallback(saw("first", &err), saw("second", &err))]
#[timeout("50ms")]
async fn hangs() -> Result<u32, ApiError> {
    std::future::pending().await
}

#[tokio::test(start_paused = true)]
async fn each_level_sees_the_error_so_far() {
    let out = hangs().await;
    assert_eq!(
        out,
        Err(ApiError::Unavailable("second".to_owned())),
        "the last error is returned"
    );
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].starts_with("first: Rejected(Timeout"), "{seen:?}");
    assert_eq!(seen[1], "second: Unavailable(\"first\")");
}

/// `name` is consumed by the body; the level still gets it.
#[fallback(Ok(format!("default for {name}")))]
async fn consumes(name: String, fail: bool) -> Result<String, ApiError> {
    let owned: String = name;
    if fail { Err(ApiError::Down) } else { Ok(owned) }
}

#[tokio::test(start_paused = true)]
async fn levels_use_arguments_the_body_consumed() {
    assert_eq!(
        consumes("ada".to_owned(), false).await,
        Ok("ada".to_owned())
    );
    assert_eq!(
        consumes("ada".to_owned(), true).await,
        Ok("default for ada".to_owned())
    );
}

static PRIMARY_CALLS: AtomicU32 = AtomicU32::new(0);

/// The default placement: a private cache keyed by `(region, &str → String)`.
#[fallback(stale_cache(ttl = "1m", capacity = 10), Err(err))]
#[retry(max_attempts = 2, backoff = "fixed", base = "10ms")]
async fn price(region: u8, sku: &str, up: bool) -> Result<u64, ApiError> {
    PRIMARY_CALLS.fetch_add(1, Ordering::SeqCst);
    if up {
        Ok(u64::from(region) * 100 + sku.len() as u64)
    } else {
        Err(ApiError::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn private_stale_cache_keys_by_every_argument() {
    assert_eq!(price(1, "abc", true).await, Ok(103));
    // `up` is part of the key, so a failing call with `up = false` has its
    // own (empty) entry: the error comes through after both attempts.
    assert_eq!(price(1, "abc", false).await, Err(ApiError::Down));
    assert_eq!(
        PRIMARY_CALLS.load(Ordering::SeqCst),
        3,
        "retry ran under the fallback"
    );
}

mod sees_every_rejection {
    use super::*;
    use resilience::{
        BreakerPolicy, Bulkhead, CircuitBreaker, RateLimiter, bulkhead, circuit_breaker,
        rate_limiter,
    };
    use std::sync::LazyLock;

    /// The kind of the error the fallback saw, or "ok".
    fn kind(err: &ApiError) -> &'static str {
        match err {
            ApiError::Rejected(Rejection::Timeout { .. }) => "timeout",
            ApiError::Rejected(Rejection::CircuitOpen { .. }) => "circuit open",
            ApiError::Rejected(Rejection::BulkheadFull { .. }) => "bulkhead full",
            ApiError::Rejected(Rejection::RateLimited { .. }) => "rate limited",
            ApiError::Rejected(_) => "other rejection",
            ApiError::Down => "body error",
            ApiError::Unavailable(_) => "unavailable",
        }
    }

    fn answer(err: &ApiError) -> Result<&'static str, ApiError> {
        Ok(kind(err))
    }

    static BREAKER: LazyLock<CircuitBreaker> = LazyLock::new(|| {
        CircuitBreaker::named(
            "fallback-sees-open",
            BreakerPolicy::new().failure_threshold(1),
        )
    });
    static BODY_CALLS: AtomicU32 = AtomicU32::new(0);

    #[fallback(answer(&err))]
    #[circuit_breaker(with = *BREAKER)]
    async fn behind_breaker(fail: bool) -> Result<&'static str, ApiError> {
        BODY_CALLS.fetch_add(1, Ordering::SeqCst);
        if fail {
            Err(ApiError::Down)
        } else {
            Ok("fresh")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_body_error_then_an_open_circuit_without_calling_the_body() {
        assert_eq!(
            behind_breaker(true).await,
            Ok("body error"),
            "one failure opens it"
        );
        assert_eq!(BODY_CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(behind_breaker(false).await, Ok("circuit open"));
        assert_eq!(behind_breaker(false).await, Ok("circuit open"));
        assert_eq!(
            BODY_CALLS.load(Ordering::SeqCst),
            1,
            "the open circuit never called the body"
        );
    }

    static BULKHEAD: LazyLock<Bulkhead> =
        LazyLock::new(|| Bulkhead::named("fallback-sees-full", 1));

    #[fallback(answer(&err))]
    #[bulkhead(with = *BULKHEAD)]
    async fn behind_bulkhead(hold: Duration) -> Result<&'static str, ApiError> {
        tokio::time::sleep(hold).await;
        Ok("fresh")
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bulkhead() {
        let holder = tokio::spawn(behind_bulkhead(Duration::from_secs(1)));
        tokio::task::yield_now().await;
        assert_eq!(behind_bulkhead(Duration::ZERO).await, Ok("bulkhead full"));
        assert_eq!(holder.await.unwrap(), Ok("fresh"));
    }

    static LIMITER: LazyLock<RateLimiter> = LazyLock::new(|| {
        RateLimiter::named("fallback-sees-limit", 1, Duration::from_secs(1)).burst(1)
    });

    #[fallback(answer(&err))]
    #[rate_limiter(with = *LIMITER)]
    async fn behind_limiter() -> Result<&'static str, ApiError> {
        Ok("fresh")
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit() {
        assert_eq!(behind_limiter().await, Ok("fresh"));
        assert_eq!(behind_limiter().await, Ok("rate limited"));
    }

    #[fallback(answer(&err))]
    #[timeout("10ms")]
    async fn behind_timeout() -> Result<&'static str, ApiError> {
        std::future::pending().await
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout() {
        assert_eq!(behind_timeout().await, Ok("timeout"));
    }
}

/// A method's stale cache must tell `self`s apart (issue 12, item 11).
mod stale_cache_and_self {
    use super::*;

    /// Two clients pointing at two hosts: each keeps its own cache.
    struct InventoryClient {
        host: &'static str,
        up: AtomicBool,
        cache: StaleCache<(u32,), String>,
    }

    impl InventoryClient {
        fn new(host: &'static str) -> Self {
            InventoryClient {
                host,
                up: AtomicBool::new(true),
                cache: StaleCache::new(host, Duration::from_secs(600), 100),
            }
        }

        #[fallback(stale_cache(with = self.cache), Err(err))]
        async fn stock_level(&self, sku: u32) -> Result<String, ApiError> {
            if self.up.load(Ordering::SeqCst) {
                Ok(format!("{sku} on {}", self.host))
            } else {
                Err(ApiError::Down)
            }
        }

        /// The private cache, keyed by the host and the argument.
        #[fallback(stale_cache(key = (self.host, sku)), Err(err))]
        async fn price(&self, sku: u32) -> Result<String, ApiError> {
            if self.up.load(Ordering::SeqCst) {
                Ok(format!("price of {sku} on {}", self.host))
            } else {
                Err(ApiError::Down)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn two_clients_with_their_own_caches_never_see_each_others_data() {
        let a = InventoryClient::new("a.example");
        let b = InventoryClient::new("b.example");
        assert_eq!(a.stock_level(7).await, Ok("7 on a.example".to_owned()));
        b.up.store(false, Ordering::SeqCst);
        assert_eq!(
            b.stock_level(7).await,
            Err(ApiError::Down),
            "b never stored sku 7: a's data is not served for it"
        );
        a.up.store(false, Ordering::SeqCst);
        assert_eq!(a.stock_level(7).await, Ok("7 on a.example".to_owned()));
        assert_eq!(a.cache.snapshot().served_stale, 1);
        assert_eq!(b.cache.snapshot().misses, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_naming_self_keeps_clients_apart_in_the_private_cache() {
        let a = InventoryClient::new("price-a.example");
        let b = InventoryClient::new("price-b.example");
        let a_again = InventoryClient::new("price-a.example");
        assert_eq!(
            a.price(3).await,
            Ok("price of 3 on price-a.example".to_owned())
        );
        b.up.store(false, Ordering::SeqCst);
        assert_eq!(b.price(3).await, Err(ApiError::Down), "another host");
        a_again.up.store(false, Ordering::SeqCst);
        assert_eq!(
            a_again.price(3).await,
            Ok("price of 3 on price-a.example".to_owned()),
            "the same host, so the same key"
        );
    }

    static QUOTES: AtomicU32 = AtomicU32::new(0);

    /// `request_id` differs on every call; the key leaves it out.
    #[fallback(stale_cache(ttl = "1m", key = sku), Err(err))]
    async fn quote(sku: u32, request_id: u64, up: bool) -> Result<u64, ApiError> {
        QUOTES.fetch_add(1, Ordering::SeqCst);
        if up {
            Ok(u64::from(sku) * 1000 + request_id)
        } else {
            Err(ApiError::Down)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_that_ignores_an_argument_serves_across_it() {
        assert_eq!(quote(5, 1, true).await, Ok(5001));
        assert_eq!(
            quote(5, 2, false).await,
            Ok(5001),
            "another request id (and `up`), the same key: the stale value"
        );
        assert_eq!(quote(6, 3, false).await, Err(ApiError::Down), "another sku");
        assert_eq!(
            QUOTES.load(Ordering::SeqCst),
            3,
            "the primary was always tried first"
        );
    }

    /// A key may use an argument the body consumes, and a cache it owns.
    #[fallback(stale_cache(with = *LOOKUPS, key = name.to_lowercase()), Err(err))]
    async fn lookup(name: String, up: bool) -> Result<usize, ApiError> {
        let owned: String = name;
        if up {
            Ok(owned.len())
        } else {
            Err(ApiError::Down)
        }
    }

    static LOOKUPS: std::sync::LazyLock<StaleCache<String, usize>> =
        std::sync::LazyLock::new(|| StaleCache::new("lookups", Duration::from_secs(60), 10));

    #[test]
    fn futures_with_a_key_stay_send() {
        fn assert_send<T: Send>(_: T) {}
        let client = InventoryClient::new("send.example");
        assert_send(client.price(1));
        assert_send(client.stock_level(1));
        assert_send(quote(1, 2, true));
        assert_send(lookup(String::new(), true));
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_with_a_cache_of_its_own() {
        assert_eq!(lookup("Ada".to_owned(), true).await, Ok(3));
        assert_eq!(lookup("ADA".to_owned(), false).await, Ok(3));
        assert_eq!(LOOKUPS.snapshot().served_stale, 1);
    }
}
