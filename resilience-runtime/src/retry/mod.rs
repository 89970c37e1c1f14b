//! `#[retry]`: call again after transient failures, with backoff and jitter.

mod budget;

pub use budget::RetryBudget;

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::live::{LiveDuration, LiveOption, LiveU32};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::registry::{Calls, Description, Kind, Policy, Snapshot};
use crate::{Classify, Outcome, rng};

/// How the delay grows, and how each delay is randomised: the options'
/// own types, defined once in the schema (`#[retry(backoff = …, jitter =
/// …)]` and a configuration file name the same variants).
///
/// ```
/// use resilience::{Backoff, Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// let p = RetryPolicy::new()
///     .backoff(Backoff::Exponential)
///     .base(Duration::from_millis(100))
///     .max_delay(Duration::from_millis(300))
///     .jitter(Jitter::None);
/// let delays: Vec<_> = (1..=4).map(|n| p.delay(n, Duration::ZERO)).collect();
/// assert_eq!(delays, [100, 200, 300, 300].map(Duration::from_millis));
/// ```
pub use resilience_schema::retry::{Backoff, Jitter};

use resilience_schema::{self as schema, expect};

/// What a [`Retry`] does: how many calls, how long between them.
///
/// Built with `const` methods, so a policy can live in a `static`.
/// Defaults (`resilience_schema::retry`, the same as `#[retry]`'s): 3
/// attempts, exponential backoff from 100 ms capped at 30 s (never below
/// `base`), no jitter, no overall deadline, not idempotent.
///
/// ```
/// use resilience::{Backoff, RetryPolicy};
/// use std::time::Duration;
///
/// const POLICY: RetryPolicy = RetryPolicy::new()
///     .max_attempts(5)
///     .backoff(Backoff::Linear)
///     .base(Duration::from_millis(20));
/// assert_eq!(POLICY.get_max_attempts(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
    base: Duration,
    /// As set; the cap is [`schema::retry::max_delay`] of it and `base`.
    max_delay: Option<Duration>,
    jitter: Jitter,
    max_elapsed: Option<Duration>,
    idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicy {
    /// The default policy (see the type's docs).
    ///
    /// ```
    /// # use resilience::RetryPolicy;
    /// assert_eq!(RetryPolicy::new().get_max_attempts(), 3);
    /// ```
    pub const fn new() -> Self {
        RetryPolicy {
            max_attempts: schema::retry::MAX_ATTEMPTS,
            backoff: Backoff::DEFAULT,
            base: schema::retry::BASE,
            max_delay: None,
            jitter: Jitter::DEFAULT,
            max_elapsed: None,
            idempotent: false,
        }
    }

    /// Total calls, the first included (1: no retry).
    ///
    /// # Panics
    ///
    /// If `attempts` is 0, as `#[retry]` refuses it; in a `static`, at
    /// compile time.
    ///
    /// ```
    /// # use resilience::RetryPolicy;
    /// assert_eq!(RetryPolicy::new().max_attempts(1).get_max_attempts(), 1);
    /// ```
    ///
    /// ```compile_fail
    /// # use resilience::RetryPolicy;
    /// static NEVER: RetryPolicy = RetryPolicy::new().max_attempts(0); // `max_attempts` counts every call…
    /// ```
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        expect(schema::retry::check_max_attempts(attempts));
        self.max_attempts = attempts;
        self
    }

    /// The growth of delays.
    ///
    /// ```
    /// # use resilience::{Backoff, RetryPolicy};
    /// let p = RetryPolicy::new().backoff(Backoff::Fixed);
    /// # let _ = p;
    /// ```
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The first delay (and the unit of growth).
    ///
    /// ```
    /// # use resilience::RetryPolicy;
    /// # use std::time::Duration;
    /// let p = RetryPolicy::new().base(Duration::from_millis(10));
    /// assert_eq!(p.delay(1, Duration::ZERO), Duration::from_millis(10));
    /// ```
    pub const fn base(mut self, base: Duration) -> Self {
        self.base = base;
        self
    }

    /// The longest delay between two attempts, and the longest `retry_after`
    /// hint honoured: a longer hint ends the retries.
    ///
    /// ```
    /// # use resilience::RetryPolicy;
    /// # use std::time::Duration;
    /// let p = RetryPolicy::new().max_delay(Duration::from_millis(150));
    /// assert_eq!(p.delay(10, Duration::ZERO), Duration::from_millis(150));
    /// ```
    pub const fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = Some(max_delay);
        self
    }

    /// The randomisation of each delay.
    ///
    /// ```
    /// # use resilience::{Jitter, RetryPolicy};
    /// let p = RetryPolicy::new().jitter(Jitter::Full);
    /// # let _ = p;
    /// ```
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// An overall deadline, from the first call: no attempt starts after it.
    ///
    /// ```
    /// # use resilience::RetryPolicy;
    /// # use std::time::Duration;
    /// let p = RetryPolicy::new().max_elapsed(Duration::from_secs(10));
    /// # let _ = p;
    /// ```
    pub const fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        expect(schema::retry::check_max_elapsed(max_elapsed));
        self.max_elapsed = Some(max_elapsed);
        self
    }

    /// Whether [`Outcome::Fault`] errors are retried too (safe only when the
    /// call can run twice without harm).
    ///
    /// ```
    /// # use resilience::RetryPolicy;
    /// let p = RetryPolicy::new().idempotent(true);
    /// # let _ = p;
    /// ```
    pub const fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Total calls allowed, the first included.
    ///
    /// ```
    /// # use resilience::RetryPolicy;
    /// assert_eq!(RetryPolicy::new().max_attempts(4).get_max_attempts(), 4);
    /// ```
    pub const fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The longest delay: `max_delay` as set, or 30 s but never below
    /// `base` (a long `base` alone is honoured, as `#[retry(base = …)]`).
    ///
    /// ```
    /// # use resilience::RetryPolicy;
    /// # use std::time::Duration;
    /// let long = RetryPolicy::new().base(Duration::from_secs(60));
    /// assert_eq!(long.cap(), Duration::from_secs(60));
    /// assert_eq!(RetryPolicy::new().cap(), Duration::from_secs(30));
    /// ```
    pub const fn cap(&self) -> Duration {
        schema::retry::max_delay(self.max_delay, self.base)
    }

    /// The rules on the settings together (`max_delay` not below `base`,
    /// no jitter on decorrelated backoff), run where a [`Retry`] is built.
    const fn checked(self) -> Self {
        if let Some(max_delay) = self.max_delay {
            expect(schema::retry::check_max_delay(self.base, max_delay));
        }
        expect(schema::retry::check_jitter(self.backoff, Some(self.jitter)));
        self
    }

    /// The delay before retry number `n` (1 for the first retry), jitter
    /// applied. `previous` is the delay before the previous retry (used by
    /// [`Backoff::Decorrelated`]; `Duration::ZERO` before the first).
    ///
    /// ```
    /// # use resilience::{Backoff, RetryPolicy};
    /// # use std::time::Duration;
    /// let p = RetryPolicy::new().backoff(Backoff::Linear).base(Duration::from_millis(5));
    /// assert_eq!(p.delay(3, Duration::ZERO), Duration::from_millis(15));
    /// ```
    pub fn delay(&self, n: u32, previous: Duration) -> Duration {
        let n = n.max(1);
        let raw = match self.backoff {
            Backoff::Fixed => self.base,
            Backoff::Linear => self.base.saturating_mul(n),
            Backoff::Exponential => 1u32
                .checked_shl(n - 1)
                .map_or(Duration::MAX, |factor| self.base.saturating_mul(factor)),
            Backoff::Decorrelated => {
                let previous = if previous.is_zero() {
                    self.base
                } else {
                    previous
                };
                rng::uniform(self.base, previous.saturating_mul(3))
            }
        };
        let capped = raw.min(self.cap());
        match self.jitter {
            Jitter::None => capped,
            Jitter::Full => rng::uniform(Duration::ZERO, capped),
            Jitter::Equal => rng::uniform(capped / 2, capped),
        }
    }
}

/// A retry policy with a name: the instance behind `#[retry]`.
///
/// # Examples
///
/// Without macros, wrap a closure that makes a fresh call each time:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::Retry;
/// use resilience::{Backoff, RetryPolicy};
/// use std::io;
/// use std::time::Duration;
///
/// static FETCH: Retry = Retry::new(
///     "fetch",
///     RetryPolicy::new().backoff(Backoff::Fixed).base(Duration::from_millis(1)),
/// );
///
/// let mut calls = 0;
/// let answer = FETCH
///     .call(|| {
///         calls += 1;
///         let n = calls;
///         async move {
///             if n < 3 {
///                 Err(io::Error::from(io::ErrorKind::ConnectionReset))
///             } else {
///                 Ok(n)
///             }
///         }
///     })
///     .await;
/// assert_eq!(answer.unwrap(), 3);
/// # }
/// ```
#[derive(Debug)]
pub struct Retry {
    name: Cow<'static, str>,
    policy: LivePolicy,
    budget: Option<RetryBudget>,
    counts: Counts,
}

/// resilience4j's four kinds of call, and the retries made.
#[derive(Debug, Default)]
struct Counts {
    /// Successes without a retry (0) and with one (1): per thread, a plain
    /// load and store on the hot path instead of a locked add.
    successful: crate::tally::Tally<2>,
    failed_without_retry: AtomicU64,
    failed_with_retry: AtomicU64,
    retries: AtomicU64,
}

impl Counts {
    const fn new() -> Counts {
        Counts {
            successful: crate::tally::Tally::new(),
            failed_without_retry: AtomicU64::new(0),
            failed_with_retry: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }
}

/// A [`Retry`]'s counters (see [`Retry::snapshot`]): resilience4j's four
/// kinds of call, and the retries made.
///
/// ```
/// use resilience::{Retry, RetryPolicy};
/// let s = Retry::new("doc-retry-snapshot", RetryPolicy::new()).snapshot();
/// assert_eq!((s.successful_without_retry, s.failed_with_retry, s.retries), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RetrySnapshot {
    /// Calls that succeeded at the first attempt.
    pub successful_without_retry: u64,
    /// Calls that succeeded after one retry or more.
    pub successful_with_retry: u64,
    /// Calls that failed at the first attempt and were not retried (the
    /// error was not retryable, or `max_attempts = 1`).
    pub failed_without_retry: u64,
    /// Calls that failed after one retry or more.
    pub failed_with_retry: u64,
    /// Retries made (attempts after the first), over every call.
    pub retries: u64,
    /// Calls by outcome (`rejected` is always 0: a retry rejects nothing).
    pub calls: Calls,
}

impl Retry {
    /// A retry instance usable in a `static`.
    ///
    /// ```
    /// # use resilience::{RetryPolicy, Retry};
    /// static R: Retry = Retry::new("r", RetryPolicy::new());
    /// assert_eq!(R.name(), "r");
    /// ```
    pub const fn new(name: &'static str, policy: RetryPolicy) -> Self {
        Retry {
            name: Cow::Borrowed(name),
            policy: LivePolicy::new(policy.checked()),
            budget: None,
            counts: Counts::new(),
        }
    }

    /// A retry instance with a [`RetryBudget`], usable in a `static`:
    /// retries beyond the budget are refused and the last error is returned.
    ///
    /// ```
    /// # use resilience::{RetryBudget, RetryPolicy, Retry};
    /// static R: Retry = Retry::with_budget("r", RetryPolicy::new(), RetryBudget::new(0.2, 10));
    /// assert_eq!(R.budget().map(|b| b.ratio()), Some(0.2));
    /// ```
    pub const fn with_budget(name: &'static str, policy: RetryPolicy, budget: RetryBudget) -> Self {
        Retry {
            name: Cow::Borrowed(name),
            policy: LivePolicy::new(policy.checked()),
            budget: Some(budget),
            counts: Counts::new(),
        }
    }

    /// Adds a [`RetryBudget`] to an instance built at run time.
    ///
    /// ```
    /// # use resilience::{RetryBudget, RetryPolicy, Retry};
    /// let r = Retry::named("api", RetryPolicy::new()).budgeted(RetryBudget::new(0.1, 5));
    /// assert_eq!(r.budget().map(|b| b.min_per_sec()), Some(5));
    /// ```
    pub fn budgeted(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The budget, if any.
    ///
    /// ```
    /// # use resilience::{RetryPolicy, Retry};
    /// assert!(Retry::new("r", RetryPolicy::new()).budget().is_none());
    /// ```
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// A retry instance with a name built at run time.
    ///
    /// ```
    /// # use resilience::{RetryPolicy, Retry};
    /// let r = Retry::named(format!("api-{}", 1), RetryPolicy::new());
    /// assert_eq!(r.name(), "api-1");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, policy: RetryPolicy) -> Self {
        Retry {
            name: name.into(),
            policy: LivePolicy::new(policy.checked()),
            budget: None,
            counts: Counts::new(),
        }
    }

    /// The instance name used in events.
    ///
    /// ```
    /// # use resilience::{RetryPolicy, Retry};
    /// assert_eq!(Retry::new("x", RetryPolicy::new()).name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy.
    ///
    /// ```
    /// # use resilience::{RetryPolicy, Retry};
    /// assert_eq!(Retry::new("x", RetryPolicy::new()).policy(), RetryPolicy::new());
    /// ```
    pub fn policy(&self) -> RetryPolicy {
        self.policy.get()
    }

    /// The counts of calls and retries so far.
    ///
    /// ```
    /// # use resilience::{Retry, RetryPolicy};
    /// let r = Retry::new("x", RetryPolicy::new());
    /// r.start().succeeded();
    /// assert_eq!(r.snapshot().successful_without_retry, 1);
    /// assert_eq!(r.snapshot().calls.succeeded, 1);
    /// ```
    pub fn snapshot(&self) -> RetrySnapshot {
        let c = &self.counts;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (sw, sr) = (c.successful.get(0), c.successful.get(1));
        let (fw, fr) = (load(&c.failed_without_retry), load(&c.failed_with_retry));
        RetrySnapshot {
            successful_without_retry: sw,
            successful_with_retry: sr,
            failed_without_retry: fw,
            failed_with_retry: fr,
            retries: load(&c.retries),
            calls: Calls {
                succeeded: sw + sr,
                failed: fw + fr,
                rejected: 0,
            },
        }
    }

    /// The policy as settings, for the registry.
    fn settings(&self) -> Policy {
        let p = self.policy();
        let mut out = Policy::new()
            .with("max_attempts", p.max_attempts)
            .with(
                "backoff",
                // As the attribute writes it.
                match p.backoff {
                    Backoff::Fixed => "fixed",
                    Backoff::Linear => "linear",
                    Backoff::Exponential => "exp",
                    Backoff::Decorrelated => "decorrelated",
                },
            )
            .with_duration("base", p.base)
            .with_duration("max_delay", p.cap())
            .with("jitter", format!("{:?}", p.jitter).to_lowercase());
        if let Some(max_elapsed) = p.max_elapsed {
            out = out.with_duration("max_elapsed", max_elapsed);
        }
        out = out.with("idempotent", p.idempotent);
        if let Some(budget) = &self.budget {
            out = out.with("budget", budget.ratio());
        }
        out
    }

    /// Starts the bookkeeping of one logical call (used by the macro, which
    /// inlines the loop so that each attempt can borrow the arguments anew).
    ///
    /// ```
    /// # use resilience::{RetryPolicy, Outcome, Retry};
    /// let r = Retry::new("x", RetryPolicy::new().max_attempts(2));
    /// let mut attempts = r.start();
    /// assert!(attempts.after_failure(Outcome::TRANSIENT).is_some());
    /// assert!(attempts.after_failure(Outcome::TRANSIENT).is_none());
    /// ```
    #[inline]
    pub fn start(&self) -> Attempts<'_> {
        if let Some(budget) = &self.budget {
            budget.record_call();
        }
        Attempts {
            retry: self,
            made: 0,
            previous: Duration::ZERO,
            started: self.policy.max_elapsed.is_some().then(Instant::now),
        }
    }

    /// Calls `make_call()` until it succeeds or the policy gives up; errors
    /// are classified by [`Classify`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the attempt in flight, or the wait between
    /// two attempts; no further attempt starts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{RetryPolicy, Retry};
    /// # use std::io;
    /// let r = Retry::new("x", RetryPolicy::new());
    /// let out: io::Result<u8> = r.call(|| async { Ok(1) }).await;
    /// assert_eq!(out.unwrap(), 1);
    /// # }
    /// ```
    pub async fn call<F, Fut, T, E>(&self, mut make_call: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify,
    {
        let mut attempts = self.start();
        loop {
            let error = match make_call().await {
                Ok(value) => {
                    attempts.succeeded();
                    return Ok(value);
                }
                Err(error) => error,
            };
            // Generic code cannot tell whether `E` is `Display`: events
            // name its type. (Not held across the wait: it is not `Send`.)
            let next = attempts.after_error(
                error.classify(),
                &crate::macro_support::ErrorDisplay::Type(std::any::type_name::<E>()),
            );
            match next {
                // Boxed: the timer lives only between two attempts.
                Some(delay) => Box::pin(crate::time::sleep(delay, crate::time::RETRY)).await,
                None => return Err(error),
            }
        }
    }

    /// Like [`call`](Self::call), and an `Ok` value for which
    /// `retry_on_ok` returns `true` is retried too (an HTTP client's
    /// `Ok(response)` with a 503, a job still "pending"), as a transient
    /// failure: with the same backoff, attempts, deadline and budget.
    /// When the retries are used up on such a value, that last `Ok` is
    /// returned (the caller sees what the service answered, not an error
    /// the service never sent).
    ///
    /// What `#[retry(retry_on_ok = path)]` does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use resilience::{Retry, RetryPolicy};
    /// use std::io;
    ///
    /// static STATUS: Retry = Retry::new("status", RetryPolicy::new().max_attempts(3));
    ///
    /// let mut statuses = [503u16, 503, 200].into_iter();
    /// let status: io::Result<u16> = STATUS
    ///     .call_with_retry_on_ok(|| {
    ///         let next = statuses.next().unwrap_or(500);
    ///         async move { Ok(next) }
    ///     }, |status| *status == 503)
    ///     .await;
    /// assert_eq!(status.unwrap(), 200);
    ///
    /// // Used up: the last `Ok` comes back as it is.
    /// let status: io::Result<u16> =
    ///     STATUS.call_with_retry_on_ok(|| async { Ok(503) }, |status| *status == 503).await;
    /// assert_eq!(status.unwrap(), 503);
    /// # }
    /// ```
    pub async fn call_with_retry_on_ok<F, Fut, T, E, P>(
        &self,
        mut make_call: F,
        retry_on_ok: P,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify,
        P: Fn(&T) -> bool,
    {
        let mut attempts = self.start();
        loop {
            let next = match make_call().await {
                Ok(value) if retry_on_ok(&value) => match attempts.after_rejected_ok() {
                    Some(delay) => delay,
                    None => return Ok(value),
                },
                Ok(value) => {
                    attempts.succeeded();
                    return Ok(value);
                }
                Err(error) => match attempts.after_failure(error.classify()) {
                    Some(delay) => delay,
                    None => return Err(error),
                },
            };
            Box::pin(crate::time::sleep(next, crate::time::RETRY)).await;
        }
    }
}

/// The attempts of one logical call: decides whether and when to try again.
///
/// Returned by [`Retry::start`]; call [`Attempts::after_failure`] after each
/// failed attempt.
#[derive(Debug)]
pub struct Attempts<'a> {
    retry: &'a Retry,
    made: u32,
    previous: Duration,
    started: Option<Instant>,
}

impl Attempts<'_> {
    /// Records a failed attempt with its `outcome` and returns the delay
    /// before the next attempt, or `None` to stop and return the error:
    /// the outcome is not retryable, the attempts are used up, the service's
    /// `retry_after` hint exceeds `max_delay`, the next attempt would
    /// start after `max_elapsed`, or the wait would end at or past the
    /// deadline of a timeout around the call ([`crate::deadline`]: the
    /// last error is returned at once rather than cut mid-sleep).
    ///
    /// A `retry_after` hint longer than the computed delay replaces it.
    /// Events and logs do not name the error: [`after_error`](Self::after_error) does.
    ///
    /// ```
    /// # use resilience::{Backoff, Outcome, Retry, RetryPolicy};
    /// # use std::time::Duration;
    /// let r = Retry::new("x", RetryPolicy::new().backoff(Backoff::Fixed).base(Duration::from_millis(10)));
    /// let mut a = r.start();
    /// assert_eq!(a.after_failure(Outcome::TRANSIENT), Some(Duration::from_millis(10)));
    /// ```
    pub fn after_failure(&mut self, outcome: Outcome) -> Option<Duration> {
        self.after_error(outcome, &"an error")
    }

    /// [`after_failure`](Self::after_failure) with the error itself, named
    /// (by `Display`) in the `tracing` events and the
    /// [`Event::Retry`](crate::events::Event::Retry) /
    /// [`Event::RetriesExhausted`](crate::events::Event::RetriesExhausted) events.
    ///
    /// ```
    /// # use resilience::{Outcome, Retry, RetryPolicy};
    /// let r = Retry::new("x", RetryPolicy::new().max_attempts(1));
    /// let mut a = r.start();
    /// assert_eq!(a.after_error(Outcome::TRANSIENT, &"connection reset"), None);
    /// assert_eq!(r.snapshot().failed_without_retry, 1);
    /// ```
    pub fn after_error(&mut self, outcome: Outcome, error: &dyn fmt::Display) -> Option<Duration> {
        // The policy in force now: a reload applies from the next decision.
        let policy = self.retry.policy();
        self.made += 1;
        if !outcome.is_retryable(policy.idempotent) {
            return self.give_up("error not retryable", error);
        }
        if self.made >= policy.max_attempts {
            return self.give_up("retries exhausted", error);
        }
        let mut delay = policy.delay(self.made, self.previous);
        self.previous = delay;
        if let Some(hint) = outcome.retry_after() {
            if hint > policy.cap() {
                return self.give_up("retry_after beyond max_delay", error);
            }
            delay = delay.max(hint);
        }
        if let (Some(started), Some(max_elapsed)) = (self.started, policy.max_elapsed)
            && started.elapsed().saturating_add(delay) > max_elapsed
        {
            return self.give_up("next attempt would start past max_elapsed", error);
        }
        if let Some(left) = crate::deadline::would_pass(delay) {
            tracing::debug!(
                name = &*self.retry.name,
                layer = "retry",
                ?delay,
                ?left,
                "resilience: the next attempt would start past the deadline of an outer timeout, returning the last outcome"
            );
            return None;
        }
        if let Some(budget) = &self.retry.budget
            && !budget.try_retry()
        {
            return self.give_up("retry budget exhausted", error);
        }
        self.retrying(delay, error);
        Some(delay)
    }

    /// Records an attempt that answered `Ok` with a value `retry_on_ok`
    /// rejected (`#[retry(retry_on_ok = …)]`): retried as a transient
    /// failure, by the same rules as [`after_failure`](Self::after_failure).
    /// `None`: stop, and return that `Ok`.
    ///
    /// ```
    /// # use resilience::{Retry, RetryPolicy};
    /// let r = Retry::new("x", RetryPolicy::new().max_attempts(2));
    /// let mut a = r.start();
    /// assert!(a.after_rejected_ok().is_some());
    /// assert!(a.after_rejected_ok().is_none()); // used up: the last `Ok` is returned
    /// ```
    pub fn after_rejected_ok(&mut self) -> Option<Duration> {
        tracing::debug!(
            name = &*self.retry.name,
            attempt = self.made + 1,
            "resilience: `Ok` rejected by retry_on_ok"
        );
        self.after_error(Outcome::TRANSIENT, &"an `Ok` rejected by retry_on_ok")
    }

    #[cold]
    #[inline(never)]
    fn retrying(&self, delay: Duration, error: &dyn fmt::Display) {
        let name = &*self.retry.name;
        self.retry.counts.retries.fetch_add(1, Ordering::Relaxed);
        let attempt = self.made + 1;
        tracing::debug!(name, layer = "retry", attempt, ?delay, error = %error, "resilience: retrying");
        crate::events::emit(|| crate::events::Event::Retry {
            name: name.to_owned(),
            attempt,
            delay,
            error: error.to_string(),
        });
    }

    #[cold]
    #[inline(never)]
    fn give_up(&self, reason: &'static str, error: &dyn fmt::Display) -> Option<Duration> {
        let counts = &self.retry.counts;
        let counter = if self.made > 1 {
            &counts.failed_with_retry
        } else {
            &counts.failed_without_retry
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let name = &*self.retry.name;
        let attempt = self.made;
        tracing::debug!(name, layer = "retry", attempt, error = %error, reason, "resilience: giving up");
        crate::events::emit(|| crate::events::Event::RetriesExhausted {
            name: name.to_owned(),
            attempts: attempt,
            reason,
            error: error.to_string(),
        });
        None
    }

    /// Records that the call succeeded (at attempt `failed() + 1`), for
    /// [`Retry::snapshot`]'s counts: one load and store on this thread's row.
    ///
    /// ```
    /// # use resilience::{Outcome, Retry, RetryPolicy};
    /// let r = Retry::new("x", RetryPolicy::new());
    /// let mut a = r.start();
    /// a.after_failure(Outcome::TRANSIENT);
    /// a.succeeded();
    /// assert_eq!(r.snapshot().successful_with_retry, 1);
    /// ```
    #[inline]
    pub fn succeeded(&self) {
        self.retry
            .counts
            .successful
            .add(usize::from(self.made != 0));
    }

    /// How many attempts have failed so far.
    ///
    /// ```
    /// # use resilience::{RetryPolicy, Outcome, Retry};
    /// let r = Retry::new("x", RetryPolicy::new());
    /// let mut a = r.start();
    /// a.after_failure(Outcome::TRANSIENT);
    /// assert_eq!(a.failed(), 1);
    /// ```
    pub fn failed(&self) -> u32 {
        self.made
    }
}

/// A [`RetryPolicy`] a reload can change in place (issue 14): each field
/// one atomic word.
#[derive(Debug)]
struct LivePolicy {
    max_attempts: LiveU32,
    /// `Backoff` in the low byte, `Jitter` in the next, `idempotent` above.
    choices: LiveU32,
    base: LiveDuration,
    max_delay: LiveOption,
    max_elapsed: LiveOption,
}

impl LivePolicy {
    const fn new(p: RetryPolicy) -> Self {
        LivePolicy {
            max_attempts: LiveU32::new(p.max_attempts),
            choices: LiveU32::new(Self::choices(&p)),
            base: LiveDuration::new(p.base),
            max_delay: LiveOption::new(p.max_delay),
            max_elapsed: LiveOption::new(p.max_elapsed),
        }
    }

    const fn choices(p: &RetryPolicy) -> u32 {
        let backoff = match p.backoff {
            Backoff::Fixed => 0,
            Backoff::Linear => 1,
            Backoff::Exponential => 2,
            Backoff::Decorrelated => 3,
        };
        let jitter = match p.jitter {
            Jitter::None => 0,
            Jitter::Full => 1,
            Jitter::Equal => 2,
        };
        backoff | (jitter << 8) | ((p.idempotent as u32) << 16)
    }

    fn get(&self) -> RetryPolicy {
        let choices = self.choices.get();
        RetryPolicy {
            max_attempts: self.max_attempts.get(),
            backoff: match choices & 0xff {
                0 => Backoff::Fixed,
                1 => Backoff::Linear,
                2 => Backoff::Exponential,
                _ => Backoff::Decorrelated,
            },
            base: self.base.get(),
            max_delay: self.max_delay.get(),
            jitter: match (choices >> 8) & 0xff {
                0 => Jitter::None,
                1 => Jitter::Full,
                _ => Jitter::Equal,
            },
            max_elapsed: self.max_elapsed.get(),
            idempotent: choices >> 16 != 0,
        }
    }

    fn set(&self, p: RetryPolicy) {
        self.max_attempts.set(p.max_attempts);
        self.choices.set(Self::choices(&p));
        self.base.set(p.base);
        self.max_delay.set(p.max_delay);
        self.max_elapsed.set(p.max_elapsed);
    }
}

/// Reload (issue 14): a new policy, in place.
impl Retry {
    /// Changes the policy. A call already retrying decides each next
    /// attempt by the policy in force when its attempt fails: with a lower
    /// `max_attempts` it stops sooner, with a higher one it goes on. The
    /// budget, if any, is reconfigured apart
    /// ([`RetryBudget::reconfigure`]). What `resilience::config` does on a
    /// reload (feature `config`).
    ///
    /// # Panics
    ///
    /// On the combinations [`Retry::new`] refuses (`max_delay` below
    /// `base`, jitter on decorrelated backoff).
    ///
    /// ```
    /// use resilience::{Retry, RetryPolicy};
    ///
    /// static SEARCH: Retry = Retry::new("search", RetryPolicy::new());
    /// SEARCH.reconfigure(RetryPolicy::new().max_attempts(5));
    /// assert_eq!(SEARCH.policy().get_max_attempts(), 5);
    /// ```
    pub fn reconfigure(&self, policy: RetryPolicy) {
        self.policy.set(policy.checked());
    }
}

/// The schema's settings of a policy, both ways (issue 14: what a
/// configuration overlays).
#[cfg(feature = "config")]
impl RetryPolicy {
    /// The settings `#[retry]` would write for this policy (those of the
    /// policy part; the budget is the instance's).
    pub(crate) fn to_settings(self) -> schema::retry::Settings {
        schema::retry::Settings {
            max_attempts: Some(self.max_attempts),
            backoff: Some(self.backoff),
            base: Some(self.base),
            max_delay: self.max_delay,
            jitter: Some(self.jitter),
            max_elapsed: self.max_elapsed,
            idempotent: Some(self.idempotent),
            budget: None,
            min_retries_per_sec: None,
        }
    }

    /// The policy of `settings`, defaults for what they leave out.
    pub(crate) fn from_settings(s: &schema::retry::Settings) -> RetryPolicy {
        let d = RetryPolicy::new();
        RetryPolicy {
            max_attempts: s.max_attempts.unwrap_or(d.max_attempts),
            backoff: s.backoff.unwrap_or(d.backoff),
            base: s.base.unwrap_or(d.base),
            max_delay: s.max_delay,
            jitter: s.jitter.unwrap_or(d.jitter),
            max_elapsed: s.max_elapsed,
            idempotent: s.idempotent.unwrap_or(d.idempotent),
        }
    }
}

// For the tower layer (`crate::tower`), whose futures own their handle to
// the retry instance (an `Arc` or a `&'static`) and so cannot keep
// `Attempts` that borrow it.
#[cfg(feature = "tower")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeldAttempts {
    made: u32,
    previous: Duration,
    started: Option<Instant>,
}

#[cfg(feature = "tower")]
impl Retry {
    /// The bookkeeping of `attempts`, without the borrow.
    pub(crate) fn hold(attempts: Attempts<'_>) -> HeldAttempts {
        HeldAttempts {
            made: attempts.made,
            previous: attempts.previous,
            started: attempts.started,
        }
    }

    /// The attempts `hold` took apart.
    pub(crate) fn resume(&self, held: HeldAttempts) -> Attempts<'_> {
        Attempts {
            retry: self,
            made: held.made,
            previous: held.previous,
            started: held.started,
        }
    }
}

impl crate::registry::Registrable for Retry {
    const KIND: &'static str = "retry";
    fn same_settings(&self, other: &Self) -> bool {
        self.policy() == other.policy()
            && self.budget().map(|b| (b.ratio(), b.min_per_sec()))
                == other.budget().map(|b| (b.ratio(), b.min_per_sec()))
    }

    fn describe(&self) -> Description {
        Description::new(
            Kind::Retry,
            self.name(),
            self.settings(),
            Snapshot::Retry(self.snapshot()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sequence(p: RetryPolicy, n: u32) -> Vec<Duration> {
        let mut prev = Duration::ZERO;
        (1..=n)
            .map(|i| {
                prev = p.delay(i, prev);
                prev
            })
            .collect()
    }

    #[test]
    fn deterministic_sequences() {
        let p = RetryPolicy::new().base(ms(100)).max_delay(ms(1000));
        assert_eq!(
            sequence(p.backoff(Backoff::Fixed), 4),
            [100, 100, 100, 100].map(ms)
        );
        assert_eq!(
            sequence(p.backoff(Backoff::Linear), 4),
            [100, 200, 300, 400].map(ms)
        );
        assert_eq!(
            sequence(p.backoff(Backoff::Exponential), 6),
            [100, 200, 400, 800, 1000, 1000].map(ms)
        );
    }

    #[test]
    fn exponential_does_not_overflow() {
        let p = RetryPolicy::new().base(ms(100)).max_delay(ms(5000));
        assert_eq!(p.delay(200, Duration::ZERO), ms(5000));
    }

    proptest! {
        #[test]
        fn jitter_stays_within_bounds(
            base in 1u64..2_000,
            extra in 0u64..10_000,
            n in 1u32..40,
            backoff in prop_oneof![Just(Backoff::Fixed), Just(Backoff::Linear), Just(Backoff::Exponential), Just(Backoff::Decorrelated)],
            jitter in prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)],
            previous in 0u64..20_000,
        ) {
            let p = RetryPolicy::new().base(ms(base)).max_delay(ms(base + extra)).backoff(backoff).jitter(jitter);
            let d = p.delay(n, ms(previous));
            prop_assert!(d <= ms(base + extra), "{d:?} above max_delay");
            if jitter == Jitter::None {
                prop_assert!(d >= ms(base).min(ms(base + extra)));
            }
        }
    }

    #[test]
    fn stops_on_permanent_and_fault_unless_idempotent() {
        let r = Retry::new("x", RetryPolicy::new().max_attempts(5));
        assert_eq!(r.start().after_failure(Outcome::Permanent), None);
        assert_eq!(r.start().after_failure(Outcome::Fault), None);
        let idem = Retry::new("x", RetryPolicy::new().max_attempts(5).idempotent(true));
        assert!(idem.start().after_failure(Outcome::Fault).is_some());
        assert_eq!(idem.start().after_failure(Outcome::Permanent), None);
    }

    #[test]
    fn hint_longer_than_max_delay_stops() {
        let r = Retry::new("x", RetryPolicy::new().max_delay(ms(500)));
        let hint = Outcome::Transient {
            retry_after: Some(ms(501)),
        };
        assert_eq!(r.start().after_failure(hint), None);
    }
}
