//! Fault tolerance for async functions, by annotation: write the policy on
//! the function; the attributes check it at compile time and expand into
//! calls against a small runtime of lock-free state machines and timers.
//!
//! ```
//! use resilience::{retry, timeout, Rejection};
//! use std::io;
//!
//! #[retry(max_attempts = 3, backoff = "exp", base = "100ms", jitter)]
//! #[timeout("800ms")]
//! async fn fetch_price(sku: &str) -> io::Result<u64> {
//!     # let _ = sku;
//!     Ok(42)
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { assert_eq!(fetch_price("A-1").await.unwrap(), 42); }
//! ```
//!
//! The caller sees the same signature. A misconfiguration is a compile error
//! that points at the offending token and says how to fix it.
//!
//! # The attributes
//!
//! Each attribute's page lists every option with its default, the errors it
//! returns, and runnable examples.
//!
//! | attribute | what it does | refuses a call with |
//! |---|---|---|
//! | [`#[timeout]`](macro@timeout) | drops the call after a fixed or adaptive duration | [`Rejection::Timeout`] |
//! | [`#[retry]`](macro@retry) | calls again after transient failures: backoff, jitter, retry budget | — (the last error) |
//! | [`#[circuit_breaker]`](macro@circuit_breaker) | stops calling a service that keeps failing | [`Rejection::CircuitOpen`] |
//! | [`#[bulkhead]`](macro@bulkhead) | bounds the calls running at once | [`Rejection::BulkheadFull`] |
//! | [`#[rate_limiter]`](macro@rate_limiter) | admits `rate` calls per `per` (GCRA) | [`Rejection::RateLimited`] |
//! | [`#[fallback]`](macro@fallback) | stand-in levels when the call fails, with a stale cache | — (the last level's error) |
//! | [`#[hedge]`](macro@hedge) | a second attempt when the first is slow | — (the last error) |
//! | [`#[chaos]`](macro@chaos) | fault injection for tests (feature `chaos`) | [`Rejection::Injected`] |
//! | [`#[adaptive_concurrency]`](macro@adaptive_concurrency) | a limit on calls in flight that follows latency; sheds low priorities first | [`Rejection::ConcurrencyLimited`] |
//!
//! Every runtime type works without macros too, e.g.
//! `Timeout::new("lookup", Duration::from_secs(1)).call(fut).await` or
//! `retry.call(|| fetch()).await`: [`Timeout`], [`AdaptiveTimeout`],
//! [`Retry`], [`CircuitBreaker`], [`Bulkhead`], [`RateLimiter`], [`Hedge`],
//! [`StaleCache`].
//!
//! # Use it in your crate
//!
//! ```toml
//! [dependencies]
//! resilience = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "time"] }
//!
//! [dev-dependencies]
//! resilience = { version = "0.1", features = ["chaos"] }  # fault injection in tests only
//! tokio = { version = "1", features = ["test-util"] }      # paused clock: #[tokio::test(start_paused = true)]
//! ```
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `stale-cache` | on | `stale_cache(…)` levels in `#[fallback]` and [`StaleCache`] (pulls in moka) |
//! | `reqwest` | off | `Classify` for `http::StatusCode` and `reqwest::Error`; `resilience::http` (`check`, `HttpError`, `RequestError`) |
//! | `anyhow` | off | `Classify` for `anyhow::Error`, by the error it wraps (the macros need no feature for it) |
//! | `chaos` | off | `#[chaos]` and `resilience::chaos`; without it `#[chaos]` expands to nothing, so enable it in `[dev-dependencies]` only |
//! | `config` | off | `resilience::config`: named instances configured from a TOML file and the environment, reloaded live (`config::watch`) keeping their state (pulls in toml, notify) |
//! | `redis` | off | `resilience::redis`: a rate limit shared by every replica (GCRA in Redis, with leases), a fleet view of circuit breakers (pulls in the `redis` crate) |
//! | `tower` | off | `resilience::tower`: every instance as a `tower::Layer` (from a `static`, an `Arc` or the registry), in any order |
//! | `axum` | off | `resilience::axum`: a load-shedding layer answering rejections with 429, 503 or 504 and `Retry-After` (implies `tower`) |
//! | `reqwest-middleware` | off | `resilience::reqwest_middleware`: a `Middleware` running requests through our instances, honouring `Retry-After` |
//! | `serde` | off | `serde::Serialize` for snapshots, `registry::instances()`, `resilience::health()` and events |
//! | `metrics` | off | `resilience::metrics`: the pinned counters and gauges through the `metrics` 0.24 facade (no exporter chosen for you) |
//! | `dashboard` | off | `resilience::dashboard::router()`: an axum router with a live page of every instance (implies `serde`) |
//!
//! What your crate needs from tokio:
//!
//! - `rt` (or `rt-multi-thread`, which the default `#[tokio::main]` uses): a
//!   runtime to run the annotated functions on. The layers spawn no tasks.
//! - `macros`: `#[tokio::main]` and `#[tokio::test]`.
//! - `time`: every layer that waits (a timeout, the backoff between retries,
//!   `open_for`, `max_wait`, a hedge's `delay`) waits on tokio's timer, so
//!   the runtime needs its time driver. `#[tokio::main]` and
//!   `#[tokio::test]` enable it; a `runtime::Builder` needs `enable_time()`
//!   (or `enable_all()`). Outside one, the first call that waits panics
//!   saying so.
//! - `test-util` (tests only): `start_paused = true` and
//!   `tokio::time::advance`, so backoffs and open circuits take no real time.
//!
//! A complete program (`src/main.rs`):
//!
//! ```
//! use std::io;
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! use resilience::{circuit_breaker, retry, timeout};
//!
//! static CALLS: AtomicU32 = AtomicU32::new(0);
//!
//! /// Three attempts at most, up to 100 ms then 200 ms apart (full jitter),
//! /// each cut at 500 ms, behind a breaker that opens after 5 failed calls
//! /// in a row.
//! #[circuit_breaker(name = "inventory", failure_threshold = 5, open_for = "30s")]
//! #[retry(max_attempts = 3, backoff = "exp", base = "100ms", jitter)]
//! #[timeout("500ms")]
//! async fn stock_level(sku: &str) -> io::Result<u32> {
//!     // A flaky service: the first call is reset, the next one answers.
//!     if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
//!         return Err(io::ErrorKind::ConnectionReset.into());
//!     }
//!     Ok(sku.len() as u32)
//! }
//!
//! #[tokio::main]
//! async fn main() -> io::Result<()> {
//!     let level = stock_level("A-1234").await?;
//!     println!("{level} in stock after {} calls", CALLS.load(Ordering::SeqCst));
//!     Ok(())
//! }
//! ```
//!
//! # Stacking
//!
//! The attributes stack, and **the order they are written in is the order
//! of the layers, outermost first**: `#[retry] #[timeout("100ms")]` gives
//! each attempt 100 ms; `#[timeout("1s")] #[retry]` is one deadline over all
//! attempts and the waits between them. [`#[fallback]`](macro@fallback) goes
//! above `#[retry]` and `#[circuit_breaker]`. The same layer twice on one
//! function is a compile error.
//!
//! Every annotated function is an `async fn` returning `Result<T, E>`
//! (aliases such as `io::Result<T>` included); methods, generics, `where`
//! clauses, lifetimes, `?` and `return` keep working, and the returned future
//! is `Send` whenever the body is. Durations are string literals checked at
//! compile time (`"250ms"`, `"2s"`, `"1m30s"`); for settings chosen at run
//! time, build the instance yourself and pass it with `with = …`.
//!
//! # Errors and classification
//!
//! A layer that refuses or abandons a call (a timeout, an open circuit, a
//! full bulkhead, a rate limit, an injected fault) returns a [`Rejection`],
//! converted into the function's error type: that type needs
//! `From<Rejection>` (`std::io::Error`, `anyhow::Error` and `Box<dyn Error +
//! Send + Sync>` have it).
//!
//! Which errors are retried, and which count against a circuit breaker, is
//! decided by [`Classify`] (`fn classify(&self) -> Outcome`):
//!
//! | [`Outcome`] | retried | counts against the service |
//! |---|---|---|
//! | `Transient { retry_after }` | yes | yes |
//! | `Fault` | only with `idempotent = true` | yes |
//! | `Permanent` | never | no |
//!
//! [`Rejection`] (transient) and `std::io::Error` (by kind) implement it;
//! with the `reqwest` feature, `reqwest::Error`, `http::StatusCode` and
//! `resilience::http::HttpError` (a 4xx/5xx status with the server's
//! `Retry-After`) do too. **An error type without an impl is treated as
//! transient.** An error enum classifies each error it wraps as that error:
//!
//! ```
//! use resilience::{retry, timeout, Classify, Outcome, Rejection};
//! use std::io;
//!
//! #[derive(Debug)]
//! enum ApiError {
//!     Io(io::Error),
//!     Rejected(Rejection),
//!     NotFound,
//! }
//!
//! impl Classify for ApiError {
//!     fn classify(&self) -> Outcome {
//!         match self {
//!             ApiError::Io(e) => e.classify(),
//!             ApiError::Rejected(e) => e.classify(),
//!             ApiError::NotFound => Outcome::Permanent, // never retried
//!         }
//!     }
//! }
//!
//! impl From<Rejection> for ApiError {
//!     fn from(e: Rejection) -> Self {
//!         ApiError::Rejected(e)
//!     }
//! }
//!
//! #[retry(max_attempts = 3, base = "10ms")]
//! #[timeout("1s")]
//! async fn user(id: u32) -> Result<String, ApiError> {
//!     if id == 0 { Err(ApiError::NotFound) } else { Ok(format!("user {id}")) }
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! assert!(matches!(user(0).await, Err(ApiError::NotFound)));
//! # let _ = ApiError::Io(io::ErrorKind::TimedOut.into());
//! # }
//! ```
//!
//! The README (in the repository) has the same example for an error enum
//! that wraps `reqwest::Error`, `HttpError` and `Rejection`.
//!
//! # Instances
//!
//! Each layer's state lives in a `static` private to the function by
//! default; `name = "payments"` makes it a process-wide [`registry`] entry
//! shared by every function naming it; `with = <expr>` uses an instance you
//! own (`T`, `&T`, `Arc<T>` or `&Arc<T>`, e.g. `with = self.breaker` for one
//! per host).
//!
//! # Testing
//!
//! Run tests on tokio's paused clock (`#[tokio::test(start_paused = true)]`)
//! so backoffs and open circuits cost no real time; [`rng::with_seed`] makes
//! jitter deterministic; with the `chaos` feature, `resilience::chaos`
//! injects faults into a named `#[chaos]` instance for the duration of a
//! scope. A macro's instance is a `static`, shared by every test in a
//! binary that calls the function: call `reset()` on a breaker or a rate
//! limiter you can reach, or pass each test its own with `with = …`.

#![deny(unsafe_code)]
#![warn(missing_docs)]

/// Lets at most `max_concurrent` calls run at once; others wait up to
/// `max_wait` or get [`Rejection::BulkheadFull`].
///
/// A caller that finds every permit taken waits up to `max_wait` for one,
/// behind at most `max_queue` other callers. One slow dependency fills only
/// its own bulkhead. Waiters are admitted first in, first out; permits are
/// released when the body finishes, is cancelled, or panics. `#[timeout]
/// #[bulkhead]` counts the wait for a permit in the timeout; `#[bulkhead]
/// #[timeout]` times only the body.
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `max_concurrent = N` | required (1 ≤ N ≤ 2³¹−1) | calls allowed inside the body at once |
/// | `max_wait = "…"` | `"0ms"`: refuse at once | how long a caller may wait for a permit |
/// | `max_queue = M` | unbounded (each waiter still bounded by `max_wait`) | callers allowed to wait at once; one more is refused at once. Needs a non-zero `max_wait`; M ≥ 1 |
/// | `name = "…"` | a private `static` per function | one bulkhead shared by every function naming it (a registry entry) |
/// | `with = <expr>` | — | a [`Bulkhead`] you own (`T`, `&T`, `Arc<T>` or `&Arc<T>`); set its options where you build it |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// # Errors
///
/// [`Rejection::BulkheadFull`] `{ name }` when no permit frees up in time
/// (or the queue is full), converted with `From<Rejection>`: the function's
/// error type must implement `From<resilience::Rejection>`. It classifies
/// as transient, so a `#[retry]` above retries it.
///
/// # Examples
///
/// ```
/// use resilience::{bulkhead, Rejection};
/// use std::time::Duration;
///
/// #[bulkhead(max_concurrent = 1)]
/// async fn query(ms: u64) -> Result<u64, Rejection> {
///     tokio::time::sleep(Duration::from_millis(ms)).await;
///     Ok(ms)
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // The first call holds the only permit; the second is refused at once.
/// let (first, second) = tokio::join!(query(100), query(1));
/// assert_eq!(first, Ok(100));
/// assert!(matches!(second, Err(Rejection::BulkheadFull { .. })));
/// # }
/// ```
///
/// Waiting for a permit:
///
/// ```
/// use resilience::{bulkhead, Rejection};
/// use std::time::Duration;
///
/// #[bulkhead(max_concurrent = 1, max_wait = "200ms", max_queue = 8)]
/// async fn query(ms: u64) -> Result<u64, Rejection> {
///     tokio::time::sleep(Duration::from_millis(ms)).await;
///     Ok(ms)
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let (first, second) = tokio::join!(query(100), query(1));
/// assert_eq!((first, second), (Ok(100), Ok(1))); // the second waited 100 ms
/// # }
/// ```
pub use resilience_macros::bulkhead;
/// Injects faults (errors, latency) for chaos testing; with the `chaos`
/// feature off it expands to nothing.
///
/// Random faults at fixed rates, plus faults a test injects at run time
/// into the instance's name through `resilience::chaos::inject` (feature
/// `chaos`). **Without the `chaos` feature the attribute expands to
/// nothing**: the function is left exactly as written, so production builds
/// pay neither a branch nor a byte for it, and `resilience::chaos` does not
/// exist.
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `error_rate = 0.1` | `0.0` | fraction of calls failed with [`Rejection::Injected`], between 0 and 1 |
/// | `latency = "200ms"` | none | latency added to the affected calls |
/// | `latency_rate = 0.2` | `1.0` with `latency`, else `0.0` | fraction of calls delayed by `latency`, between 0 and 1; needs `latency` |
/// | `name = "…"` | the function's path, e.g. `my_crate::payments::charge` | the name injections target; one instance shared by every function naming it |
/// | `with = <expr>` | — | a `resilience::chaos::Chaos` you own (`T`, `&T`, `Arc<T>` or `&Arc<T>`); it carries the rates, so no other option goes beside it |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// Injected faults (`chaos::inject("payments", Fault::hang())`) are
/// `Fault::error()`, `Fault::error_with(|| MyError)`, `Fault::latency(d)`,
/// `Fault::hang()` and `Fault::panic()`; each lasts until its guard drops,
/// `.for_calls(n)` or `.for_duration(d)`. Injections belong to a scope
/// (`chaos::scope(fut)`, or `Scope::enter` for spawned tasks), so tests
/// running in parallel never see each other's faults. Random draws follow
/// [`rng::with_seed`].
///
/// # Errors
///
/// An injected error is [`Rejection::Injected`] `{ name }`, converted with
/// `From<Rejection>`, so the function's error type must implement
/// `From<resilience::Rejection>`; `Fault::error_with` returns your own error
/// instead.
///
/// # Examples
///
/// ```
/// use resilience::{chaos, Rejection};
///
/// #[chaos(error_rate = 0.0, latency = "10ms", latency_rate = 0.0, name = "inventory")]
/// async fn inventory() -> Result<u32, Rejection> {
///     Ok(3)
/// }
/// # #[cfg(feature = "chaos")]
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::chaos::{self, Fault};
///
/// assert_eq!(inventory().await, Ok(3));
/// chaos::scope(async {
///     let _fault = chaos::inject("inventory", Fault::error()).unwrap().for_calls(1);
///     assert!(matches!(inventory().await, Err(Rejection::Injected { .. })));
///     assert_eq!(inventory().await, Ok(3)); // the fault lasted one call
/// })
/// .await;
/// # }
/// # #[cfg(not(feature = "chaos"))]
/// # fn main() {}
/// ```
pub use resilience_macros::chaos;
/// Stops calling a service that keeps failing: after `failure_threshold`
/// failures in a row (or above a `failure_rate`) calls get
/// [`Rejection::CircuitOpen`] at once for `open_for`, then trial calls
/// decide whether it closes again.
///
/// While **closed**, failures are counted; once the trip rule fires the
/// circuit **opens** and calls return `Rejection::CircuitOpen { name,
/// retry_after }` without running the body. After `open_for` it is
/// **half-open**: a few trial calls run; `success_threshold` successes close
/// it, one failed trial re-opens it for another `open_for`.
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `failure_threshold = N` | `5` | consecutive mode (the default): open after N failures in a row; a success resets the count |
/// | `failure_rate = R` | `0.5` in rate mode | rate mode: open when at least R (in (0, 1]) of the calls in the window failed |
/// | `window = N` / `window = "10s"` | `100` (calls) in rate mode | the last N calls, or the calls of the last duration (in tenths) |
/// | `min_calls = N` | `20` (at most the count window) | rate mode: calls the window must hold before its rates count |
/// | `slow_call = "2s"` | none | calls this long are slow: a failure in consecutive mode and in half-open; counted separately in rate mode |
/// | `slow_call_rate = R` | `1.0` | rate mode: also open when at least R of the calls were slow (needs `slow_call`) |
/// | `open_for = "60s"` | `"60s"` | how long the circuit stays open |
/// | `success_threshold = N` | `1` | successful trials that close it (1–255) |
/// | `half_open_max_calls = N` | `1` | trial calls admitted at once (1–255); others are rejected |
/// | `half_open_max_wait = "10s"` | none | if every permit is taken and no trial has reported for this long, the next caller re-opens it |
/// | `failure_if = path` | the error's [`Classify`] | `fn(&E) -> bool` deciding what counts as a failure |
/// | `failure_on_ok = path` | every `Ok` is a success | `fn(&T) -> bool`: an `Ok` it returns `true` for (an `Ok(response)` with a 503) counts as a failure, and is still returned as it is |
/// | `name = "…"` | a private `static` per function | one breaker shared by every function naming it (a registry entry) |
/// | `with = <expr>` | — | a [`CircuitBreaker`] you own (`T`, `&T`, `Arc<T>` or `&Arc<T>`); it carries its [`BreakerPolicy`], so no other option goes beside it |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// Any of `failure_rate`, `window`, `min_calls` or `slow_call_rate` selects
/// rate mode; it cannot be combined with `failure_threshold`. `Transient`
/// and `Fault` errors count as failures; `Permanent` errors never do (see
/// [`Classify`]). A half-open trial that is cancelled gives its permit back
/// and counts for nothing; one that panics counts as a failure. At run time:
/// `breaker.state()`, `snapshot()`, `force_open()`, `disable()`, `reset()`.
///
/// Write [`#[fallback]`](macro@fallback) above `#[circuit_breaker]`, never
/// below: below, it would answer every failure before the breaker sees it.
///
/// # Errors
///
/// While open (or half-open with every trial permit taken), the call
/// returns [`Rejection::CircuitOpen`] `{ name, retry_after }`, converted
/// with `From<Rejection>`: the function's error type must implement
/// `From<resilience::Rejection>`. It classifies as transient with its
/// `retry_after`, so a `#[retry]` above waits for the circuit to half-open.
/// Otherwise the body's own error is returned as it is.
///
/// # Examples
///
/// ```
/// use resilience::{circuit_breaker, Rejection};
/// use std::time::Duration;
///
/// #[circuit_breaker(failure_threshold = 2, open_for = "30s")]
/// async fn charge(up: bool) -> Result<u32, Rejection> {
///     if up { Ok(7) } else { Err(Rejection::bulkhead_full("payments")) }
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert!(charge(false).await.is_err());
/// assert!(charge(false).await.is_err()); // the second failure in a row opens it
/// // Open: refused at once, the body does not run.
/// assert!(matches!(charge(true).await, Err(Rejection::CircuitOpen { .. })));
/// tokio::time::advance(Duration::from_secs(30)).await;
/// assert_eq!(charge(true).await, Ok(7)); // a successful trial closes it
/// # }
/// ```
///
/// One breaker per host, owned by the client:
///
/// ```
/// use resilience::{circuit_breaker, BreakerPolicy, CircuitBreaker, Rejection};
///
/// struct Client {
///     breaker: CircuitBreaker,
/// }
///
/// impl Client {
///     #[circuit_breaker(with = self.breaker)]
///     async fn get(&self, id: u32) -> Result<u32, Rejection> {
///         Ok(id)
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = Client {
///     breaker: CircuitBreaker::new("host-a", BreakerPolicy::new().failure_threshold(3)),
/// };
/// assert_eq!(client.get(1).await, Ok(1));
/// # }
/// ```
pub use resilience_macros::circuit_breaker;
/// Tries stand-in levels in order when the call fails.
///
/// The degradation ladder: when the call fails, the levels are tried in
/// order until one gives `Ok`; if all fail, the last error is returned. A
/// level is an expression of the function's return type; it may `.await`,
/// use the function's parameters (copied before the call when the body
/// consumes them) and `err`, the error so far (the call's own for the first
/// level, the previous level's after that). The fallback sees every failure
/// of the stack below it: the body's errors, timeouts, an open circuit, a
/// full bulkhead, a rate limit. A `?` inside a level ends the ladder with
/// that error.
///
/// **Permanent errors and stale data:** without `fallback_if`, a
/// `stale_cache` level passes over an error that classifies as
/// [`Outcome::Permanent`] (a 404, a 400: the resource is gone or the
/// request is wrong), since a stale copy of something that no longer
/// exists is a wrong answer, not a degraded one; later expression levels
/// still see it. `fallback_if = path` decides instead, for every level.
///
/// `#[fallback]` must be written **above** `#[retry]` and
/// `#[circuit_breaker]`: below them it would answer every failure before
/// they see it (a compile error says so).
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `<expr>` (a level) | at least one level | an expression of the function's return type, e.g. `Ok(Vec::new())`, `popular_items().await`, `Err(ApiError::from(err))` |
/// | `stale_cache(…)` (a level) | none | the last successful result for the same arguments, while younger than `ttl`; its options follow |
/// | `stale_cache(ttl = "10m")` | `"10m"` | how long a result may be served; zero is an error |
/// | `stale_cache(capacity = 10_000)` | `10_000` | results remembered (least recently used evicted first) |
/// | `stale_cache(with = <cache>)` | a private `static` cache per function | a [`StaleCache`] you own (`T`, `&T`, `Arc<T>` or `&Arc<T>`), e.g. `with = self.cache` for one cache per client |
/// | `stale_cache(key = <expr>)` | the tuple of the arguments, `self` excluded | what results are keyed by instead: any `Hash + Eq + Clone + Send + Sync + 'static` expression over the parameters and `self` |
/// | `fallback_if = path` | every error, but `stale_cache` passes over [`Outcome::Permanent`] ones | `fn(&E) -> bool`: which errors the levels answer; `false` returns the error as it is, no level tried; written, it decides for `stale_cache` too |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// The stale cache (feature `stale-cache`, on by default) is a
/// [moka](https://docs.rs/moka) cache: bounded, concurrent, no global lock.
/// Its arguments must be `Hash + Eq + Clone` and `T: Clone`; `&str` is
/// keyed as `String`. A stale answer emits a `tracing` event and is counted
/// in `StaleCache::snapshot()`.
///
/// **The key of a cache you pass with `with`** is the tuple of the
/// arguments' owned types, `self` excluded: `async fn stock(&self, sku:
/// u32)` takes a `StaleCache<(u32,), V>` (a one-element tuple), `async fn
/// price(region: u8, sku: &str)` a `StaleCache<(u8, String), V>`, `V` being
/// the `Ok` type. With `key = …` it is the expression's type instead
/// (`key = sku` → `StaleCache<u32, V>`).
///
/// **On a method, `stale_cache` needs `with` or `key`**: a cache of the
/// function's own is one per method, and keyed by the arguments alone it
/// would serve one client's results to another. Without `with`, it is not
/// available on generic functions or with `impl Trait` arguments (its
/// `static` cannot name their types).
///
/// # Errors
///
/// The last level's error when every level fails (the call's own error if
/// the only level is a `stale_cache` with nothing fresh). `#[fallback]`
/// refuses no call itself and needs no `From<Rejection>`.
///
/// # Examples
///
/// ```
/// use resilience::{fallback, timeout, Rejection};
///
/// #[fallback(stale_cache(ttl = "10m"), Ok(Vec::new()))]
/// #[timeout("50ms")]
/// async fn recommendations(user: u64) -> Result<Vec<u64>, Rejection> {
///     # let _ = user;
///     std::future::pending().await // the dependency hangs
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() { assert_eq!(recommendations(1).await, Ok(Vec::new())); }
/// ```
///
/// A level may use the error so far, `err`:
///
/// ```
/// use resilience::fallback;
/// use std::io;
///
/// #[fallback(Err(io::Error::other(format!("price service down: {err}"))))]
/// async fn price(sku: u32) -> io::Result<u64> {
///     # let _ = sku;
///     Err(io::ErrorKind::ConnectionRefused.into())
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(price(1).await.unwrap_err().to_string().starts_with("price service down"));
/// # }
/// ```
///
/// On a method: a cache per instance (`with`), or a key that tells
/// instances apart (`key`); `key = …` also drops an argument from the key.
///
/// ```
/// use resilience::fallback;
/// use resilience::fallback::StaleCache;
/// use std::time::Duration;
///
/// struct Inventory {
///     host: String,
///     up: bool,
///     cache: StaleCache<(u32,), u64>, // keyed by the arguments but `self`: `(sku,)`
/// }
///
/// impl Inventory {
///     #[fallback(stale_cache(with = self.cache))]
///     async fn stock(&self, sku: u32) -> Result<u64, std::io::Error> {
///         if self.up { Ok(u64::from(sku) * 10) } else { Err(std::io::ErrorKind::TimedOut.into()) }
///     }
///
///     // The function's own cache, keyed by host and sku; `request_id` is left out.
///     #[fallback(stale_cache(key = (self.host.clone(), sku)))]
///     async fn price(&self, sku: u32, request_id: u64) -> Result<u64, std::io::Error> {
///         let _ = request_id;
///         if self.up { Ok(u64::from(sku)) } else { Err(std::io::ErrorKind::TimedOut.into()) }
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = StaleCache::new("inventory-a", Duration::from_secs(60), 100);
/// let mut a = Inventory { host: "a.example".into(), up: true, cache };
/// assert_eq!(a.stock(1).await.unwrap(), 10);
/// assert_eq!(a.price(1, 100).await.unwrap(), 1);
/// a.up = false;
/// assert_eq!(a.stock(1).await.unwrap(), 10); // stale
/// assert_eq!(a.price(1, 101).await.unwrap(), 1); // another request id, the same key
/// # }
/// ```
pub use resilience_macros::fallback;
/// Starts another attempt when the first is slow; the first `Ok` wins.
///
/// If the call has not answered after `delay`, another attempt starts
/// concurrently (up to `max_hedges` more, `delay` apart); the first `Ok`
/// wins and the others are dropped (cancelled). An attempt that fails while
/// others run does not end the call. `delay = adaptive` waits for the
/// observed P95 of successful attempts (no hedging until 20 have been
/// seen). By-value arguments are cloned for each attempt; `&mut self` and
/// `&mut T` arguments are compile errors (attempts run at the same time:
/// take `&T`, `&Mutex<T>`, or an owned `T`).
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `delay = "50ms"` / `delay = adaptive` | required (unless `with`) | how long to wait before each extra attempt: a fixed duration (not zero), or the observed P95 latency |
/// | `max_hedges = N` | `1` | extra attempts at most, at least 1 |
/// | `retry_on_ok = path` | the first `Ok` wins | `fn(&T) -> bool`: an `Ok` it returns `true` for does not win; the other attempts go on, and if none wins the last answer is returned |
/// | `name = "…"` | a private `static` per function | one instance shared by every function naming it (a registry entry) |
/// | `with = <expr>` | — | a [`Hedge`] you own (`T`, `&T`, `Arc<T>` or `&Arc<T>`); it carries the delay, so no other option goes beside it |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// # Errors
///
/// The last attempt's error when every attempt fails. `#[hedge]` refuses no
/// call itself and needs no `From<Rejection>`.
///
/// # Examples
///
/// ```
/// use resilience::hedge;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// #[hedge(delay = "50ms", max_hedges = 1)]
/// async fn lookup(key: u32) -> Result<u32, std::io::Error> {
///     if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
///         std::future::pending::<()>().await; // the first attempt is stuck
///     }
///     Ok(key)
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(lookup(4).await.unwrap(), 4); // answered by the hedge, 50 ms in
/// assert_eq!(CALLS.load(Ordering::SeqCst), 2);
/// # }
/// ```
pub use resilience_macros::hedge;
/// Admits `rate` calls per `per` (GCRA, bursts up to `burst`); others wait
/// up to `max_wait` or get [`Rejection::RateLimited`].
///
/// A generic cell rate algorithm (as `governor` implements it): `rate`
/// calls per `per` on average, at most `burst` at once after a quiet spell.
/// One compare-and-swap per admission; time is tokio's clock, so
/// `tokio::time::pause()` drives it.
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `rate = R` | required (≥ 1) | calls per `per`, on average |
/// | `per = "…"` | `"1s"` | the period; `per / rate` must be at least 1 ns, `per` at most 100 years |
/// | `burst = B` | `rate` | calls admitted at once after a quiet spell (≥ 1; `burst × per / rate` at most 100 years) |
/// | `max_wait = "…"` | `"0ms"`: refuse at once | a call whose turn is at most this far away waits for it instead of being refused; if cancelled while waiting it gives its turn back, unless a later call has taken one since |
/// | `name = "…"` | a private `static` per function | one limiter (and quota) shared by every function naming it (a registry entry) |
/// | `with = <expr>` | — | a [`RateLimiter`] you own (`T`, `&T`, `Arc<T>` or `&Arc<T>`); set its options where you build it |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// With the `redis` feature, `with` also takes a limit shared by every
/// replica of a service: a `resilience::redis::FleetRateLimiter` (GCRA in
/// Redis, spent locally through leases) or a `resilience::redis::FleetSlot`
/// bound to one at start-up, in the same forms.
///
/// # Errors
///
/// [`Rejection::RateLimited`] `{ name, retry_after }` for a call over the
/// limit, where `retry_after` is the exact time until a call would be
/// admitted; converted with `From<Rejection>`, so the function's error type
/// must implement `From<resilience::Rejection>`. It classifies as transient
/// with its `retry_after`, so a `#[retry]` above waits that long.
///
/// # Examples
///
/// ```
/// use resilience::{rate_limiter, Rejection};
/// use std::time::Duration;
///
/// #[rate_limiter(rate = 2, per = "1s")]
/// async fn call_api() -> Result<(), Rejection> {
///     Ok(())
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert!(call_api().await.is_ok());
/// assert!(call_api().await.is_ok()); // the burst (= rate) is spent
/// let Err(Rejection::RateLimited { retry_after, .. }) = call_api().await else { panic!() };
/// assert_eq!(retry_after, Duration::from_millis(500));
/// tokio::time::advance(retry_after).await;
/// assert!(call_api().await.is_ok());
/// # }
/// ```
pub use resilience_macros::rate_limiter;
/// Calls again after transient failures, with backoff and jitter.
///
/// Which errors are retried is decided by the error type's [`Classify`]
/// (an error type without an impl is transient): `Transient` errors are
/// retried, `Fault` errors only with `idempotent = true`, `Permanent` errors
/// never. A `retry_after` hint from the error (a 429, an open circuit)
/// longer than the computed delay replaces it; a hint longer than
/// `max_delay`, or than the time left under `max_elapsed`, stops retrying.
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `max_attempts = 3` | `3` | total calls, the first included; `0` is an error |
/// | `backoff = "exp"` | `"exp"` | `"fixed"` (`base`), `"linear"` (`base·n`), `"exp"` (`base·2^(n−1)`), `"decorrelated"` (uniform in `[base, 3·previous]`) |
/// | `base = "100ms"` | `"100ms"` | first delay and unit of growth |
/// | `max_delay = "30s"` | `"30s"` (or `base` if larger) | cap on every delay, and on an honoured `retry_after`; below `base` is an error |
/// | `jitter = "full"` | `"none"` | `"full"`: uniform in `[0, d]`; `"equal"`: uniform in `[d/2, d]`; bare `jitter` means `"full"`. Applied after the cap, so never above `max_delay`. Not allowed with `"decorrelated"`, which is already random |
/// | `max_elapsed = "10s"` | none | no attempt starts after this long since the first |
/// | `retry_if = path` | [`Classify`] | path to `fn(&E) -> bool`, replaces the classification entirely |
/// | `retry_on_ok = path` | every `Ok` is final | path to `fn(&T) -> bool`: an `Ok` it returns `true` for (an `Ok(response)` with a 503) is retried as a transient failure; when the retries are used up, **the last `Ok` is returned** (what the service answered, not an error it never sent) |
/// | `idempotent = true` | `false` | also retry [`Outcome::Fault`] errors (e.g. HTTP 500) |
/// | `budget = 0.2` | none | retry budget: the retries of the instance are capped to this fraction of its calls (in (0, 1]) over a sliding 10 s window |
/// | `min_retries_per_sec = 10` | `10` with `budget` | retries per second allowed on top of the budget's fraction; needs `budget` |
/// | `name = "…"` | a private `static` per function | one instance (and budget) shared by every function naming it (a registry entry) |
/// | `with = <expr>` | — | a [`Retry`] you own (`T`, `&T`, `Arc<T>` or `&Arc<T>`); it carries its [`RetryPolicy`], so no other option goes beside it |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// Arguments taken by value are cloned for each attempt (a by-value
/// argument that is not `Clone` is a compile error on that argument; take
/// `&T` or `Arc<T>`). With `&mut self` or a `&mut T` argument, each attempt
/// borrows anew: attempts run one after another, so what one attempt
/// writes, the next and the caller see.
///
/// Jitter draws from the thread's generator; [`rng::with_seed`] makes every
/// draw inside a future deterministic.
///
/// # Errors
///
/// The last attempt's error, when the attempts run out, the error is not
/// retryable, `max_elapsed` is reached or the budget refuses a retry.
/// `#[retry]` refuses no call itself and needs no `From<Rejection>`.
///
/// # Examples
///
/// ```
/// use resilience::retry;
/// use std::io;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// #[retry(max_attempts = 3, backoff = "exp", base = "100ms", jitter)]
/// async fn fetch() -> io::Result<u32> {
///     if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
///         return Err(io::ErrorKind::ConnectionReset.into()); // transient
///     }
///     Ok(1)
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(fetch().await.unwrap(), 1); // the third call answers
/// assert_eq!(CALLS.load(Ordering::SeqCst), 3);
/// # }
/// ```
///
/// Deciding what to retry with `retry_if`:
///
/// ```
/// use resilience::retry;
///
/// #[derive(Debug)]
/// enum ApiError {
///     Busy,
///     NotFound,
/// }
///
/// fn is_busy(e: &ApiError) -> bool {
///     matches!(e, ApiError::Busy)
/// }
///
/// #[retry(max_attempts = 5, base = "10ms", retry_if = is_busy)]
/// async fn get(id: u32) -> Result<u32, ApiError> {
///     if id == 0 { Err(ApiError::NotFound) } else { Ok(id) }
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert!(matches!(get(0).await, Err(ApiError::NotFound))); // not retried
/// # let _ = ApiError::Busy;
/// # }
/// ```
pub use resilience_macros::retry;
/// Drops the call after a duration, fixed or adaptive, and returns
/// [`Rejection::Timeout`].
///
/// The call is dropped (cancelled) at the deadline. The clock starts when
/// the call first waits; a call that finishes on its first poll never arms
/// a timer. Written above `#[retry]` it is one deadline over every attempt
/// and the waits between them; below, each attempt gets its own.
///
/// **The deadline flows down** ([`deadline`]): everything polled under the
/// timeout, in the task, sees it. A `#[retry]` below does not sleep or
/// start an attempt past it (it returns the last error at once, with a
/// `tracing` event saying why), a `#[hedge]` sends no hedge past it, an
/// annotated function called from the body runs under the sooner of its
/// own timeout and the time left, and the body reads that time with
/// [`deadline::remaining`] (to send on as `grpc-timeout` or a header).
///
/// **Adaptive:** `#[timeout(adaptive)]` times out at `quantile ×
/// multiplier` of the latencies seen in about the last 10 s (P99 × 2 by
/// default), kept within `[min, max]`, and at `max` until 20 calls have
/// been seen. A timed-out call counts as the timeout it hit. The value in
/// force is in [`AdaptiveTimeout::snapshot`].
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `"2s"` or `duration = "2s"` | required (unless `adaptive` or `with`) | how long a call may run; zero is an error |
/// | `adaptive` | off | set the timeout from observed latency; not with a fixed duration |
/// | `quantile = 0.99` | `0.99` | with `adaptive`: which latency to track, in (0, 1] |
/// | `multiplier = 2.0` | `2.0` | with `adaptive`: how far above it to cut, at least 1 |
/// | `min = "50ms"`, `max = "5s"` | `"50ms"`, `"5s"` | with `adaptive`: the bounds; `min` below `max` |
/// | `name = "…"` | a private `static` per function | one instance shared by every function naming it (a registry entry) |
/// | `with = <expr>` | — | a [`Timeout`] you own (`T`, `&T`, `Arc<T>` or `&Arc<T>`), which carries the duration; with `adaptive`, an [`AdaptiveTimeout`] |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// # Errors
///
/// [`Rejection::Timeout`] `{ name, elapsed }` at the deadline, converted
/// with `From<Rejection>`: the function's error type must implement
/// `From<resilience::Rejection>` (`std::io::Error`, `anyhow::Error` and
/// `Box<dyn Error + Send + Sync>` do; otherwise a compile error names the
/// layer). It classifies as transient, so a `#[retry]` above retries it.
///
/// # Examples
///
/// ```
/// use resilience::{timeout, Rejection};
///
/// #[timeout("20ms")]
/// async fn hangs() -> Result<(), Rejection> {
///     std::future::pending().await
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() { assert!(matches!(hangs().await, Err(Rejection::Timeout { .. }))); }
/// ```
///
/// Adaptive, and a timeout you own:
///
/// ```
/// use resilience::{timeout, Timeout};
/// use std::io;
/// use std::time::Duration;
///
/// #[timeout(adaptive, quantile = 0.99, multiplier = 2.0, min = "50ms", max = "5s")]
/// async fn search(q: &str) -> io::Result<usize> {
///     Ok(q.len())
/// }
///
/// static LOOKUP: Timeout = Timeout::new("lookup", Duration::from_millis(300));
///
/// #[timeout(with = LOOKUP)]
/// async fn lookup(id: u32) -> io::Result<u32> {
///     Ok(id)
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(search("rust").await.unwrap(), 4);
/// assert_eq!(lookup(2).await.unwrap(), 2);
/// # }
/// ```
pub use resilience_macros::timeout;
#[cfg(feature = "axum")]
pub use resilience_runtime::axum;

/// A limit on calls in flight that follows the dependency's latency
/// (Gradient2, Vegas or AIMD, from Netflix's concurrency-limits), with
/// priority load shedding; at the limit a call waits up to `max_wait`, then
/// gets [`Rejection::ConcurrencyLimited`].
///
/// A fixed `#[bulkhead(max_concurrent = 32)]` is a guess; this measures.
/// Once a `window` the limit is updated from the calls that ended in it
/// (their mean latency, how many were in flight, whether one failed); the
/// update rules, each with its source, are on [`AdaptiveConcurrency`]. A
/// failure is an error that does not classify as `Permanent`
/// ([`Classify`]); a cancelled call is not measured.
///
/// With `priority = <expr>` (a `u8` over the arguments, higher is more
/// important) calls at the limit are admitted highest priority first; a
/// full queue sheds its lowest waiter for a higher newcomer; and while a
/// call waits, calls of lower priority are held to `priority_share` of the
/// limit, so a high-priority call is not refused while lower ones hold
/// more than that share.
///
/// # Options
///
/// | option | default | meaning |
/// |---|---|---|
/// | `algorithm = "…"` | `"gradient2"` | `"gradient2"`, `"vegas"` or `"aimd"` (rules on [`AdaptiveConcurrency`]) |
/// | `min = N` | 1 | the smallest limit (1 ≤ N ≤ `max`) |
/// | `max = N` | 1000 | the largest limit (at most 2³¹−1) |
/// | `initial = N` | 20 | the limit before the first measurement, within `min..=max` |
/// | `max_wait = "…"` | `"0ms"`: refuse at once | how long a call at the limit may wait |
/// | `max_queue = M` | unbounded | calls allowed to wait at once; a higher priority displaces the lowest. Needs a non-zero `max_wait` |
/// | `window = "…"` | `"100ms"` | how often the limit is updated (from at least 10 calls) |
/// | `backoff_ratio = x` | 0.9 | `aimd` only: the factor a failure multiplies the limit by, 0 < x < 1 |
/// | `slow_call = "…"` | `"5s"` | `aimd` only: a window slower than this on average counts as failed, whatever the no-load latency |
/// | `tolerance = x` | 1.5 | `gradient2` and `aimd`: how much slower than the no-load latency (measured by a probe) calls may get before the limit shrinks, x ≥ 1; the limit settles near `tolerance` × the knee |
/// | `smoothing = x` | 0.2 | `gradient2` only: the weight of each new estimate, 0 < x ≤ 1 |
/// | `priority_share = x` | 0.5 | while a call waits, the share of the limit calls of lower priority may hold, 0 < x ≤ 1 |
/// | `priority = <expr>` | 0 | the call's priority, a `u8` expression over the arguments (`priority = req.priority`) |
/// | `name = "…"` | a private `static` per function | one limiter shared by every function naming it (a registry entry) |
/// | `with = <expr>` | — | an [`AdaptiveConcurrency`] you own; set its options where you build it (`priority` stays) |
/// | `crate = "…"` | `"::resilience"` | path of the crate when the dependency is renamed |
///
/// # Errors
///
/// [`Rejection::ConcurrencyLimited`] `{ name, retry_after }` when no place
/// frees within `max_wait`, the queue is full, or a call of higher priority
/// took this one's place; `retry_after` is about one call's latency. It
/// classifies as transient, so a `#[retry]` above retries it (after
/// `retry_after`). The error type needs `From<resilience::Rejection>`.
///
/// # Examples
///
/// ```
/// use resilience::{adaptive_concurrency, Rejection};
///
/// struct Request { priority: u8, id: u32 }
///
/// #[adaptive_concurrency(algorithm = "vegas", min = 2, max = 64, max_wait = "20ms", priority = req.priority)]
/// async fn handle(req: Request) -> Result<u32, Rejection> {
///     Ok(req.id)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(handle(Request { priority: 3, id: 7 }).await, Ok(7));
/// # }
/// ```
///
/// A misuse is a compile error that says the fix:
///
/// ```compile_fail
/// use resilience::{adaptive_concurrency, Rejection};
///
/// #[adaptive_concurrency(algorithm = "vegas", tolerance = 1.2)] // `tolerance` tunes gradient2 and aimd only
/// async fn handle() -> Result<(), Rejection> { Ok(()) }
/// ```
pub use resilience_macros::adaptive_concurrency;
pub use resilience_runtime::breaker;
#[cfg(feature = "chaos")]
pub use resilience_runtime::chaos;
#[cfg(feature = "config")]
pub use resilience_runtime::config;
#[cfg(feature = "dashboard")]
pub use resilience_runtime::dashboard;
pub use resilience_runtime::deadline;
pub use resilience_runtime::fallback;
#[cfg(any(feature = "reqwest", feature = "tower"))]
pub use resilience_runtime::http;
#[cfg(feature = "metrics")]
pub use resilience_runtime::metrics;
#[cfg(feature = "redis")]
pub use resilience_runtime::redis;
#[cfg(feature = "reqwest-middleware")]
pub use resilience_runtime::reqwest_middleware;
#[cfg(feature = "tower")]
pub use resilience_runtime::tower;
pub use resilience_runtime::{Classify, Outcome, Rejection, latency, registry, rng};
pub use resilience_runtime::{FallbackSnapshot, HedgeSnapshot, RetrySnapshot, TimeoutSnapshot};
pub use resilience_runtime::{events, health};
// Every layer's `<Layer>`, `<Layer>Policy`, `<Layer>Permit`,
// `<Layer>Future` and `<Layer>Snapshot`, and the types their constructors
// take: the runtime root's list as it is (see resilience-runtime/src/lib.rs).
#[doc(hidden)]
pub use resilience_runtime::RateLimitedFuture;
pub use resilience_runtime::{
    AdaptiveConcurrency, AdaptiveConcurrencyAcquire, AdaptiveConcurrencyFuture,
    AdaptiveConcurrencyPermit, AdaptiveConcurrencySnapshot, LimitAlgorithm,
};
pub use resilience_runtime::{
    AdaptiveTimeout, AdaptiveTimeoutSnapshot, Backoff, BreakerFuture, BreakerPermit, BreakerPolicy,
    BreakerSnapshot, Bulkhead, BulkheadAcquire, BulkheadFuture, BulkheadPermit, BulkheadSnapshot,
    CircuitBreaker, Hedge, Jitter, RateLimiter, RateLimiterFuture, RateLimiterSnapshot, Retry,
    RetryBudget, RetryPolicy, Timeout, TimeoutFuture, WindowSize,
};
#[cfg(feature = "stale-cache")]
pub use resilience_runtime::{StaleCache, StaleCacheSnapshot};

/// What the macro expansions name. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use resilience_runtime::Outcome;
    pub use resilience_runtime::macro_support::*;
}

/// The README's examples, compiled and run as doctests so that it cannot
/// drift from the code. They use every feature, so they run under
/// `--all-features` (as `.ci/run` does).
#[cfg(all(
    doctest,
    feature = "stale-cache",
    feature = "chaos",
    feature = "reqwest",
    feature = "anyhow",
    feature = "config",
    feature = "tower",
    feature = "axum",
    feature = "reqwest-middleware",
    feature = "serde",
    feature = "metrics",
    feature = "dashboard",
    feature = "redis"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
