//! What the macro expansions name, through `resilience::__private`.
//! Not public API: no stability promise.

#![allow(missing_docs)]

use crate::{Classify, Outcome, Rejection};

pub use crate::breaker::{BreakerPolicy, WindowSize};
pub use crate::registry::{NamedSlot, PrivateSlot};
pub use crate::retry::{Attempts, Backoff, Jitter, RetryBudget, RetryPolicy};
pub use crate::{Bulkhead, RateLimiter};
pub use crate::{CircuitBreaker, Retry, Timeout};
pub use std::sync::LazyLock;

/// The wait between two attempts, boxed so that a retrying call's future
/// does not carry a timer inline (it allocates only after a failure).
pub async fn sleep_between_attempts(delay: core::time::Duration) {
    Box::pin(crate::time::sleep(delay, crate::time::RETRY)).await;
}

/// `with = <expr>`: the caller's instance as `&T`. The expansion passes
/// `&(<expr>)`, which deref-coerces from `&T`, `&&T`, `&Arc<T>` or
/// `&&Arc<T>`; through shared references only, so the `&'a T` returned
/// borrows the instance for `'a`, never the temporary reference around it.
#[inline(always)]
pub fn own_instance<T: ?Sized>(instance: &T) -> &T {
    instance
}

/// The `Ok` and `Err` types of an annotated function's return type, so the
/// expansion can name `E` even through aliases such as `io::Result<T>`.
#[diagnostic::on_unimplemented(
    message = "a function annotated with `resilience` attributes must return `Result<T, E>`; `{Self}` is not a `Result`",
    label = "this must be `Result<T, E>` (or an alias of it such as `io::Result<T>`)",
    note = "every layer reports failures through the `Err` side: wrap the value, e.g. `-> Result<{Self}, MyError>`"
)]
pub trait IsResult {
    type Ok;
    type Err;
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
    fn from_ok(value: Self::Ok) -> Self;
    fn from_err(error: Self::Err) -> Self;
}

impl<T, E> IsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline(always)]
    fn into_result(self) -> Result<T, E> {
        self
    }
    #[inline(always)]
    fn from_ok(value: T) -> Self {
        Ok(value)
    }
    #[inline(always)]
    fn from_err(error: E) -> Self {
        Err(error)
    }
}

/// The function's result, taken apart and rebuilt rather than returned
/// whole: returned whole, it was copied from the layers' output slot in
/// 16-byte chunks right after the `Ok` was written in 8-byte words, a
/// store-forwarding stall on every call.
#[inline(always)]
pub fn rebuild<R: IsResult>(result: R) -> R {
    match result.into_result() {
        Ok(value) => R::from_ok(value),
        Err(error) => R::from_err(error),
    }
}

/// Autoref specialisation: `(&&&Classifier(&e)).__resilience_outcome()`
/// uses, in this order, `E: Classify`; `E`'s target's `Classify` where `E`
/// derefs to a classified type (`anyhow::Error` and `eyre::Report` deref to
/// `dyn Error + Send + Sync`, classified by the error they wrap, the same
/// as `Classify for anyhow::Error` with the `anyhow` feature); and transient
/// where neither holds (or where generic code does not say).
pub struct Classifier<'a, E: ?Sized>(pub &'a E);

pub trait ViaClassify {
    fn __resilience_outcome(&self) -> Outcome;
}

impl<E: Classify + ?Sized> ViaClassify for &&Classifier<'_, E> {
    #[inline]
    fn __resilience_outcome(&self) -> Outcome {
        self.0.classify()
    }
}

pub trait ViaDeref {
    fn __resilience_outcome(&self) -> Outcome;
}

impl<E: core::ops::Deref + ?Sized> ViaDeref for &Classifier<'_, E>
where
    E::Target: Classify,
{
    #[inline]
    fn __resilience_outcome(&self) -> Outcome {
        (**self.0).classify()
    }
}

pub trait ViaDefault {
    fn __resilience_outcome(&self) -> Outcome;
}

impl<E: ?Sized> ViaDefault for Classifier<'_, E> {
    #[inline]
    fn __resilience_outcome(&self) -> Outcome {
        Outcome::TRANSIENT
    }
}

/// An error as events and logs show it: by `Display` where the type has
/// it, by `Debug` otherwise, else by its type's name.
pub enum ErrorDisplay<'a> {
    Display(&'a dyn core::fmt::Display),
    Debug(&'a dyn core::fmt::Debug),
    Type(&'static str),
}

impl core::fmt::Display for ErrorDisplay<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ErrorDisplay::Display(e) => e.fmt(f),
            ErrorDisplay::Debug(e) => write!(f, "{e:?}"),
            ErrorDisplay::Type(name) => write!(f, "an error of type {name}"),
        }
    }
}

/// Autoref specialisation, as [`Classifier`]:
/// `(&&&ErrorText(&e)).__resilience_error_text()`.
pub struct ErrorText<'a, E>(pub &'a E);

pub trait ViaDisplay<'a> {
    fn __resilience_error_text(&self) -> ErrorDisplay<'a>;
}

impl<'a, E: core::fmt::Display> ViaDisplay<'a> for &&ErrorText<'a, E> {
    #[inline]
    fn __resilience_error_text(&self) -> ErrorDisplay<'a> {
        ErrorDisplay::Display(self.0)
    }
}

pub trait ViaDebug<'a> {
    fn __resilience_error_text(&self) -> ErrorDisplay<'a>;
}

impl<'a, E: core::fmt::Debug> ViaDebug<'a> for &ErrorText<'a, E> {
    #[inline]
    fn __resilience_error_text(&self) -> ErrorDisplay<'a> {
        ErrorDisplay::Debug(self.0)
    }
}

pub trait ViaTypeName<'a> {
    fn __resilience_error_text(&self) -> ErrorDisplay<'a>;
}

impl<'a, E> ViaTypeName<'a> for ErrorText<'a, E> {
    #[inline]
    fn __resilience_error_text(&self) -> ErrorDisplay<'a> {
        ErrorDisplay::Type(core::any::type_name::<E>())
    }
}

macro_rules! carrier {
    ($($trait:ident: $message:literal, $label:literal;)*) => {$(
        #[diagnostic::on_unimplemented(
            message = $message,
            label = $label,
            note = "add `impl From<resilience::Rejection> for {Self}` (with thiserror: a `#[from] resilience::Rejection` variant), or return `anyhow::Error` or `Box<dyn Error + Send + Sync>`"
        )]
        pub trait $trait: From<Rejection> {}
        impl<E: From<Rejection>> $trait for E {}
    )*};
}

carrier! {
    TimeoutCarrier: "`#[timeout]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[timeout]`";
    CircuitBreakerCarrier: "`#[circuit_breaker]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[circuit_breaker]`";
    BulkheadCarrier: "`#[bulkhead]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[bulkhead]`";
    RateLimiterCarrier: "`#[rate_limiter]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[rate_limiter]`";
    AdaptiveConcurrencyCarrier: "`#[adaptive_concurrency]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[adaptive_concurrency]`";
    ChaosCarrier: "`#[chaos]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[chaos]`";
}

/// [`AdaptiveTimeout::call`](crate::AdaptiveTimeout::call) with the error bound phrased for `#[timeout]`.
#[inline(always)]
pub fn call_with_adaptive_timeout<F, T, E>(
    timeout: &crate::AdaptiveTimeout,
    call: F,
) -> crate::TimeoutFuture<'_, F, E>
where
    F: core::future::Future<Output = Result<T, E>>,
    E: TimeoutCarrier,
{
    timeout.call_with(call, E::from)
}

pub use crate::AdaptiveTimeout;
pub use crate::Hedge;

/// [`Timeout::call`] with the error bound phrased for `#[timeout]`.
#[inline(always)]
pub fn call_with_timeout<F, T, E>(timeout: &Timeout, call: F) -> crate::TimeoutFuture<'_, F, E>
where
    F: core::future::Future<Output = Result<T, E>>,
    E: TimeoutCarrier,
{
    timeout.call_with(call, E::from)
}

/// Clones a by-value argument for one attempt.
#[diagnostic::on_unimplemented(
    message = "`#[retry]` and `#[hedge]` call the function again with a copy of each by-value argument, but `{Self}` is not `Clone`",
    label = "this argument is passed by value and is not `Clone`",
    note = "take it by reference (`&{Self}`), share it with `Arc<{Self}>`, or implement `Clone` for it"
)]
pub trait AttemptArg: Clone {}
impl<T: Clone> AttemptArg for T {}

/// An argument of the annotated function, held by the layers.
///
/// Never `Copy`, so that an `async` block moving it out captures it by
/// value even when `T` is `Copy`: a hedge's attempts must own their
/// arguments, not borrow them from the closure that made them.
pub struct Arg<T>(T);

impl<T> Arg<T> {
    #[inline(always)]
    pub fn new(value: T) -> Self {
        Arg(value)
    }

    #[inline(always)]
    pub fn into_inner(self) -> T {
        self.0
    }

    #[inline(always)]
    pub fn get(&self) -> &T {
        &self.0
    }
}

#[inline(always)]
pub fn clone_for_attempt<T: AttemptArg>(arg: &Arg<T>) -> Arg<T> {
    Arg(arg.0.clone())
}

/// Reborrows a `&mut T` argument for one attempt of `#[retry]`: attempts
/// run one after another, so each borrows the caller's value in turn.
#[inline(always)]
pub fn reborrow_for_attempt<'a, T: ?Sized>(arg: &'a mut Arg<&mut T>) -> Arg<&'a mut T> {
    Arg(&mut *arg.0)
}

/// [`Bulkhead::call`] with the error bound phrased for `#[bulkhead]`.
#[inline(always)]
pub fn call_with_bulkhead<F, T, E>(bulkhead: &Bulkhead, call: F) -> crate::BulkheadFuture<'_, F, E>
where
    F: core::future::Future<Output = Result<T, E>>,
    E: BulkheadCarrier,
{
    bulkhead.call_with(call, E::from)
}

pub use crate::{AdaptiveConcurrency, LimitAlgorithm};

/// `priority = <expr>` of `#[adaptive_concurrency]`: the expression sees
/// the arguments borrowed, so `level` (a `u8` argument) is a `&u8` there.
#[diagnostic::on_unimplemented(
    message = "`priority` must be a `u8` (higher is more important), not `{Self}`",
    label = "not a `u8`",
    note = "convert it, e.g. `priority = req.tier as u8`"
)]
pub trait IntoPriority {
    /// The priority.
    fn into_priority(self) -> u8;
}

impl IntoPriority for u8 {
    #[inline(always)]
    fn into_priority(self) -> u8 {
        self
    }
}

impl IntoPriority for &u8 {
    #[inline(always)]
    fn into_priority(self) -> u8 {
        *self
    }
}

impl IntoPriority for &&u8 {
    #[inline(always)]
    fn into_priority(self) -> u8 {
        **self
    }
}

/// [`AdaptiveConcurrency::call_with`] with the error bound phrased for
/// `#[adaptive_concurrency]`; `classify` is the expansion's classification.
#[inline(always)]
pub fn call_with_adaptive_concurrency<F, T, E>(
    limiter: &AdaptiveConcurrency,
    priority: u8,
    call: F,
    classify: fn(&E) -> Outcome,
) -> crate::AdaptiveConcurrencyFuture<'_, F, E>
where
    F: core::future::Future<Output = Result<T, E>>,
    E: AdaptiveConcurrencyCarrier,
{
    limiter.call_with(priority, call, classify, E::from)
}

/// [`RateLimiter::call`] with the error bound phrased for `#[rate_limiter]`.
#[inline(always)]
pub fn call_with_rate_limiter<F, T, E>(
    limiter: &RateLimiter,
    call: F,
) -> crate::RateLimiterFuture<'_, F, E>
where
    F: core::future::Future<Output = Result<T, E>>,
    E: RateLimiterCarrier,
{
    limiter.call_with(call, E::from)
}

/// What `#[rate_limiter(with = …)]` accepts: the in-process
/// [`RateLimiter`] and, with the `redis` feature, the fleet's
/// `FleetRateLimiter` and `FleetSlot`. The expansion reaches it by a
/// method call, `(&with).__resilience_with_must_be_a_RateLimiter_or_FleetRateLimiter()`,
/// so auto-deref finds
/// the limiter through `&T`, `Arc<T>` or `LazyLock<T>` as deref coercion
/// did when `with` had to be a `RateLimiter`; then
/// [`call_with_own_rate_limiter`] wraps the call. For a `RateLimiter` the
/// future is its own [`RateLimiterFuture`](crate::RateLimiterFuture): the
/// in-process path is the one `call_with_rate_limiter` takes.
#[diagnostic::on_unimplemented(
    message = "`#[rate_limiter(with = …)]` needs a rate limiter, but `{Self}` is not one",
    label = "not a `RateLimiter`, `FleetRateLimiter` or `FleetSlot`",
    note = "pass a `resilience::RateLimiter` (or `&`, `Arc` of one), or, with the `redis` feature, a `resilience::redis::FleetRateLimiter` or `FleetSlot`"
)]
pub trait RateLimiterInstance {
    type Future<'a, F, E>
    where
        Self: 'a;

    /// Itself: the method the expansion calls to find the limiter
    /// through references and smart pointers. Its name is the error a
    /// `with = <not a limiter>` gets ("no method named … found"), since a
    /// method that is not found shows no `on_unimplemented` note.
    #[allow(non_snake_case)]
    #[inline(always)]
    fn __resilience_with_must_be_a_RateLimiter_or_FleetRateLimiter(&self) -> &Self {
        self
    }

    fn call_with<F, T, E>(&self, call: F, reject: fn(Rejection) -> E) -> Self::Future<'_, F, E>
    where
        F: core::future::Future<Output = Result<T, E>>;
}

impl RateLimiterInstance for RateLimiter {
    type Future<'a, F, E> = crate::RateLimiterFuture<'a, F, E>;

    #[inline(always)]
    fn call_with<F, T, E>(&self, call: F, reject: fn(Rejection) -> E) -> Self::Future<'_, F, E>
    where
        F: core::future::Future<Output = Result<T, E>>,
    {
        RateLimiter::call_with(self, call, reject)
    }
}

#[cfg(feature = "redis")]
impl RateLimiterInstance for crate::redis::FleetRateLimiter {
    type Future<'a, F, E> = crate::redis::FleetRateLimiterFuture<'a, F, E>;

    #[inline(always)]
    fn call_with<F, T, E>(&self, call: F, reject: fn(Rejection) -> E) -> Self::Future<'_, F, E>
    where
        F: core::future::Future<Output = Result<T, E>>,
    {
        crate::redis::FleetRateLimiter::call_with(self, call, reject)
    }
}

#[cfg(feature = "redis")]
impl RateLimiterInstance for crate::redis::FleetSlot {
    type Future<'a, F, E> = crate::redis::FleetRateLimiterFuture<'a, F, E>;

    #[inline(always)]
    fn call_with<F, T, E>(&self, call: F, reject: fn(Rejection) -> E) -> Self::Future<'_, F, E>
    where
        F: core::future::Future<Output = Result<T, E>>,
    {
        crate::redis::FleetSlot::call_with(self, call, reject)
    }
}

/// `#[rate_limiter(with = …)]`: the caller's limiter of any kind, with the
/// error bound phrased for `#[rate_limiter]`.
#[inline(always)]
pub fn call_with_own_rate_limiter<L, F, T, E>(limiter: &L, call: F) -> L::Future<'_, F, E>
where
    L: RateLimiterInstance + ?Sized,
    F: core::future::Future<Output = Result<T, E>>,
    E: RateLimiterCarrier,
{
    limiter.call_with(call, E::from)
}

/// [`CircuitBreaker::call_with`] with the error bound phrased for
/// `#[circuit_breaker]`; `classify` is the expansion's classification
/// (the error's `Classify` impl, transient by default, or `failure_if`).
#[inline(always)]
pub fn call_with_circuit_breaker<F, T, E, C>(
    breaker: &CircuitBreaker,
    call: F,
    classify: C,
) -> crate::breaker::BreakerFuture<'_, F, C, E>
where
    F: core::future::Future<Output = Result<T, E>>,
    E: CircuitBreakerCarrier,
    C: Fn(&E) -> Outcome,
{
    breaker.call_with(call, classify, E::from)
}

/// [`call_with_circuit_breaker`] with `failure_on_ok`: an `Ok` value it
/// rejects counts as a failure and is returned as it is.
#[inline(always)]
pub fn call_with_circuit_breaker_on_ok<'a, F, T, E, C, P>(
    breaker: &'a CircuitBreaker,
    call: F,
    classify: C,
    failure_on_ok: P,
) -> impl core::future::Future<Output = Result<T, E>> + 'a
where
    F: core::future::Future<Output = Result<T, E>> + 'a,
    T: 'a,
    E: CircuitBreakerCarrier + 'a,
    C: Fn(&E) -> Outcome + 'a,
    P: Fn(&T) -> bool + 'a,
{
    breaker.call_judging_ok(call, classify, failure_on_ok, E::from)
}

// The predicates, each as a `fn(&T) -> bool` of the function's `Ok` type
// (`fn(&E) -> bool` of its error type for `fallback_if`): a path of
// another type is an error at the path that names the type to write, with
// a note showing this signature (hence the names).

/// `retry_on_ok = path`.
#[inline(always)]
pub fn retry_on_ok<T>(should_retry: fn(&T) -> bool) -> fn(&T) -> bool {
    should_retry
}

/// `failure_on_ok = path`.
#[inline(always)]
pub fn failure_on_ok<T>(is_failure: fn(&T) -> bool) -> fn(&T) -> bool {
    is_failure
}

/// `fallback_if = path`.
#[inline(always)]
pub fn fallback_if<E>(should_fall_back: fn(&E) -> bool) -> fn(&E) -> bool {
    should_fall_back
}

// ---- #[fallback] ----

#[cfg(feature = "stale-cache")]
pub use crate::fallback::StaleCache;
/// Records that a call failed and fallback level `level` (1 for the first)
/// is being tried; emits a `tracing` event with the instance name.
#[cold]
pub fn fallback_entering(name: &'static str, level: usize) {
    crate::fallback::entering(name, level, &"an error");
}

/// [`fallback_entering`] with the error that sent the call there.
#[cold]
pub fn fallback_entered(name: &'static str, level: usize, error: ErrorDisplay<'_>) {
    crate::fallback::entering(name, level, &error);
}
/// Records that `fallback_if` refused the call's error: it is returned
/// as it is, no level tried.
#[cold]
pub fn fallback_passed_over(name: &str) {
    tracing::debug!(
        name,
        "resilience: call failed, and fallback_if leaves this error alone"
    );
}
pub use std::borrow::ToOwned;

/// A fallback level: an expression of the function's return type `R`.
#[diagnostic::on_unimplemented(
    message = "a `#[fallback]` level must be a `{R}`, like the function it stands in for, but this one is `{Self}`",
    label = "expected `{R}` here",
    note = "wrap a value in `Ok(…)`, or an error in `Err(…)`; a level may `.await` and may use `err`, the error so far"
)]
pub trait FallbackLevel<R> {
    fn into_level(self) -> R;
}

impl<R> FallbackLevel<R> for R {
    #[inline(always)]
    fn into_level(self) -> R {
        self
    }
}

#[inline(always)]
pub fn fallback_level<R, L: FallbackLevel<R>>(level: L) -> R {
    level.into_level()
}

/// An argument a fallback level uses, copied before the body may consume it.
#[diagnostic::on_unimplemented(
    message = "a `#[fallback]` level uses this argument after the call has consumed it, so a copy is kept, but `{Self}` is not `Clone`",
    label = "used by a fallback level, and not `Clone`",
    note = "take it by reference (`&{Self}`), share it with `Arc<{Self}>`, or implement `Clone` for it"
)]
pub trait FallbackArg: Clone {}
impl<T: Clone> FallbackArg for T {}

#[inline(always)]
pub fn keep_for_fallback<T: FallbackArg>(arg: &Arg<T>) -> Arg<T> {
    Arg(arg.0.clone())
}

/// One argument of a `stale_cache` key (the owned form of the argument).
#[diagnostic::on_unimplemented(
    message = "`stale_cache` keys its results by the function's arguments, but this argument's owned type `{Self}` is not `Hash + Eq + Clone + Send + Sync + 'static`",
    label = "cannot be part of a `stale_cache` key",
    note = "derive `Hash, PartialEq, Eq, Clone` for it, or remove `stale_cache` from this function"
)]
pub trait CacheKeyPart {
    /// `Self`; naming the key through this projection makes a missing
    /// bound one error at the argument instead of one per cache operation.
    type Key;
}
impl<T> CacheKeyPart for T
where
    T: core::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    type Key = T;
}

#[inline(always)]
pub fn cache_key_part<T: CacheKeyPart<Key = T>>(part: T) -> T::Key {
    part
}

/// A `stale_cache(key = …)` key.
#[diagnostic::on_unimplemented(
    message = "a `stale_cache` key must be `Hash + Eq + Clone + Send + Sync + 'static`, and `{Self}` is not",
    label = "cannot key a `stale_cache`",
    note = "key by owned values that derive `Hash, PartialEq, Eq, Clone`, e.g. `key = (self.host.clone(), id)`; a borrowed `&str` becomes `.to_owned()`"
)]
pub trait CacheKey: core::hash::Hash + Eq + Clone + Send + Sync + 'static {}
impl<T: core::hash::Hash + Eq + Clone + Send + Sync + 'static> CacheKey for T {}

#[inline(always)]
pub fn cache_key<K: CacheKey>(key: K) -> K {
    key
}

/// `stale_cache(with = …, key = …)`: the caller's cache, its key type
/// inferred from the key (see [`own_instance`] for the forms of `with`).
#[cfg(feature = "stale-cache")]
#[inline(always)]
pub fn own_stale_cache<'a, K, V>(_key: &K, cache: &'a StaleCache<K, V>) -> &'a StaleCache<K, V> {
    cache
}

/// The private cache of `stale_cache(key = …)` without `with`: a `static`
/// cannot name the key expression's type, so the cache is kept type-erased
/// and handed back typed. One site has one key type (the macro rejects
/// generic functions and `impl Trait` arguments here), so the downcast
/// cannot fail.
#[cfg(feature = "stale-cache")]
pub struct StaleCacheSlot(std::sync::OnceLock<Box<dyn core::any::Any + Send + Sync>>);

#[cfg(feature = "stale-cache")]
impl StaleCacheSlot {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        StaleCacheSlot(std::sync::OnceLock::new())
    }

    pub fn get<K, V>(
        &'static self,
        _key: &K,
        make: impl FnOnce() -> StaleCache<K, V>,
    ) -> &'static StaleCache<K, V>
    where
        K: core::hash::Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.get_typed(make)
    }

    /// The cache, of a type the site names (`stale_cache` keyed by the
    /// arguments); listed by `registry::instances()` from its creation.
    pub fn get_typed<K, V>(
        &'static self,
        make: impl FnOnce() -> StaleCache<K, V>,
    ) -> &'static StaleCache<K, V>
    where
        K: core::hash::Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let mut created = false;
        let cache: &'static StaleCache<K, V> = self
            .0
            .get_or_init(|| {
                created = true;
                Box::new(make())
            })
            .downcast_ref()
            .expect("resilience: one `stale_cache` site has one key type");
        if created {
            crate::registry::register_private(cache);
        }
        cache
    }
}

/// The success value a `stale_cache` keeps.
#[diagnostic::on_unimplemented(
    message = "`stale_cache` keeps a copy of each successful result, but `{Self}` is not `Clone + Send + Sync + 'static`",
    label = "the `Ok` type must be `Clone + Send + Sync + 'static` for `stale_cache`",
    note = "derive `Clone` for it, or wrap it in `Arc<…>`"
)]
pub trait CacheValue: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> CacheValue for T {}

#[inline(always)]
pub const fn assert_cache_value<T: CacheValue>() {}

// ---- #[chaos] ----

#[cfg(feature = "chaos")]
pub use crate::chaos::Chaos;

/// [`Chaos::call`](crate::chaos::Chaos::call) with the error bound phrased for `#[chaos]`.
#[cfg(feature = "chaos")]
#[inline(always)]
pub fn call_with_chaos<'a, F, T, E>(
    chaos: &'a Chaos,
    call: F,
) -> impl core::future::Future<Output = Result<T, E>> + 'a
where
    F: core::future::Future<Output = Result<T, E>> + 'a,
    T: 'a,
    E: ChaosCarrier + 'static,
{
    chaos.call(call)
}
