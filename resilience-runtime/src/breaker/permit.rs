//! The permit of one call, and the token it carries.

use std::fmt;
use std::time::Duration;

use super::engine::{Token, Verdict};
use super::{CircuitBreaker, now_us};
use crate::Outcome;

/// Leave to make one call through a [`CircuitBreaker`]; report how it
/// went with [`success`](Self::success), [`failure`](Self::failure),
/// [`record`](Self::record) or [`ignore`](Self::ignore).
///
/// Dropping a permit without reporting (the call was cancelled) counts as
/// neither success nor failure and gives a half-open trial permit back;
/// dropping it while the thread panics counts as a failure. A permit
/// cannot tell whose panic that is: keep it in the code that makes the
/// call, or use [`CircuitBreaker::call`], whose future counts only the
/// call's own panic (a call dropped while another future panics, e.g. a
/// sibling in a `join!`, is a cancellation).
///
/// ```
/// # use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
/// let b = CircuitBreaker::new("a", BreakerPolicy::new().failure_threshold(1));
/// let permit = b.try_acquire().unwrap();
/// drop(permit); // cancelled: not counted
/// assert_eq!(b.state(), State::Closed);
/// b.try_acquire().unwrap().failure();
/// assert_eq!(b.state(), State::Open);
/// ```
#[must_use = "a permit reports nothing unless you call `success`, `failure` or `record` on it"]
pub struct Permit<'a> {
    pub(super) breaker: &'a CircuitBreaker,
    pub(super) token: Token,
    /// When the call started, on the breaker clock (0 without a slow-call
    /// rule, which is the only reader).
    pub(super) started: u64,
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("trial", &self.token.is_trial())
            .finish()
    }
}

impl Permit<'_> {
    /// Whether this permit is a half-open trial.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// assert!(!b.try_acquire().unwrap().is_trial());
    /// ```
    #[inline]
    pub fn is_trial(&self) -> bool {
        self.token.is_trial()
    }

    /// The call succeeded (a slow success may still count as slow).
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().success();
    /// ```
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn success(self) {
        self.breaker.calls.record(true);
        if self.breaker.engine.closed_success(self.token, now_us) {
            // Recorded, and nothing to release.
            std::mem::forget(self);
            return;
        }
        self.settle(Verdict::Success);
    }

    /// The call failed in a way that counts against the service.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.snapshot().consecutive_failures, 1);
    /// ```
    pub fn failure(self) {
        self.settle(Verdict::Failure);
    }

    /// The call failed with `outcome`: a failure unless it is
    /// [`Outcome::Permanent`], which is ignored.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience::Outcome;
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().record(Outcome::Permanent);
    /// assert_eq!(b.snapshot().consecutive_failures, 0);
    /// ```
    pub fn record(self, outcome: Outcome) {
        self.settle(if outcome.counts_as_failure() {
            Verdict::Failure
        } else {
            Verdict::Ignored
        });
    }

    /// The call tells nothing about the service: not counted, and a trial
    /// permit is given back.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().ignore();
    /// ```
    pub fn ignore(self) {
        self.settle(Verdict::Ignored);
    }

    /// Reports `verdict`; the permit is consumed without running its
    /// `Drop`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn settle(self, verdict: Verdict) {
        if !matches!(verdict, Verdict::Success) {
            self.breaker.calls.record(false);
        }
        let permit = std::mem::ManuallyDrop::new(self);
        settle(permit.breaker, permit.token, permit.started, verdict);
    }
}

/// Reports a permit's verdict. Takes the permit's words by value, so
/// they stay in registers: a `&mut Permit` here made the caller spill the
/// permit to the stack on every call, fast path included, and the slot was
/// then read back as part of the call's result, a store-forwarding stall
/// that cost more than the breaker itself.
#[inline(never)]
fn settle(breaker: &CircuitBreaker, token: Token, started: u64, verdict: Verdict) {
    let engine = &breaker.engine;
    let slow = match engine.policy.slow_call.get() {
        Some(slow_call) => {
            // A clock that moved back since the start reads as no time.
            Duration::from_micros(now_us().saturating_sub(started)) >= slow_call
        }
        None => false,
    };
    engine.finish(token.ticket(), verdict, slow, now_us);
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        abandon(self.breaker, self.token, self.started);
    }
}

/// A permit dropped without a verdict: the thread is panicking (a
/// failure), or the call was cancelled (not counted; a trial gives its
/// place back).
#[cold]
#[inline(never)]
fn abandon(breaker: &CircuitBreaker, token: Token, started: u64) {
    if std::thread::panicking() {
        settle(breaker, token, started, Verdict::Failure);
    } else {
        cancelled(breaker, token);
    }
}

/// A call dropped before it finished: not counted; a trial gives its
/// place back. This is how a [`BreakerFuture`](super::BreakerFuture) holding a pending call's
/// permit ends, whatever the thread is doing: the call's own panic can
/// only come from its `poll`, during which the permit is not held by the
/// future but by a local of `poll` (dropped by that unwinding, a failure).
/// A drop of the future while the thread panics is someone else's panic
/// (a sibling in a `join!`, a task torn down), so a cancellation.
#[cold]
#[inline(never)]
pub(super) fn cancelled(breaker: &CircuitBreaker, token: Token) {
    if token.is_trial() {
        settle(breaker, token, 0, Verdict::Ignored);
    }
}
