//! Fault injection (feature `chaos`): the `#[chaos]` layer's instance, and
//! scoped, run-time injection of errors, latency, hangs and panics into
//! named instances, for tests.
//!
//! Injections live in a [`Scope`]: faults injected in one scope are not
//! seen by calls running in another, so tests running in parallel in one
//! process cannot disturb each other (unlike a process-wide fail-point
//! registry). [`scope`] runs a future in a fresh scope; [`Scope::enter`]
//! carries a scope into spawned tasks. An injection ends when its
//! [`InjectionGuard`] drops, after a number of calls, or after a duration
//! of tokio's clock, whichever comes first.
//!
//! Random draws (`error_rate`, `latency_rate`) come from
//! [`rng`](crate::rng), so [`rng::with_seed`](crate::rng::with_seed) makes a
//! run deterministic.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use resilience::chaos::{self, Chaos, Fault};
//! use resilience::Rejection;
//!
//! static PAYMENTS: Chaos = Chaos::new("payments");
//!
//! chaos::scope(async {
//!     let _fault = chaos::inject("payments", Fault::error()).unwrap().for_calls(1);
//!     let first = PAYMENTS.call(async { Ok::<_, Rejection>(1) }).await;
//!     assert!(matches!(first, Err(Rejection::Injected { .. })));
//!     let second = PAYMENTS.call(async { Ok::<_, Rejection>(2) }).await;
//!     assert_eq!(second, Ok(2));
//! })
//! .await;
//! # }
//! ```

use resilience_schema::{chaos as schema, expect};
use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::{Rejection, rng};

type MakeError = Arc<dyn Fn() -> Box<dyn Any + Send> + Send + Sync>;

/// What to inject into a call.
#[derive(Clone)]
pub struct Fault(FaultKind);

#[derive(Clone)]
enum FaultKind {
    Error,
    ErrorWith(MakeError),
    Latency(Duration),
    Hang,
    Panic,
}

impl Fault {
    /// Fail the call with [`Rejection::Injected`], without running it.
    ///
    /// ```
    /// let fault = resilience::chaos::Fault::error();
    /// # let _ = fault;
    /// ```
    pub fn error() -> Fault {
        Fault(FaultKind::Error)
    }

    /// Fail the call with an error of your own type, without running it.
    /// Calls whose error type is not `E` get [`Rejection::Injected`].
    ///
    /// ```
    /// use resilience::chaos::Fault;
    /// let fault = Fault::error_with(|| std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    /// # let _ = fault;
    /// ```
    pub fn error_with<E: Send + 'static>(make: impl Fn() -> E + Send + Sync + 'static) -> Fault {
        Fault(FaultKind::ErrorWith(Arc::new(move || Box::new(make()))))
    }

    /// Delay the call by `delay`, then run it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let fault = resilience::chaos::Fault::latency(Duration::from_millis(200));
    /// # let _ = fault;
    /// ```
    pub fn latency(delay: Duration) -> Fault {
        Fault(FaultKind::Latency(delay))
    }

    /// Never answer (exercises timeouts). The call is not run.
    ///
    /// ```
    /// let fault = resilience::chaos::Fault::hang();
    /// # let _ = fault;
    /// ```
    pub fn hang() -> Fault {
        Fault(FaultKind::Hang)
    }

    /// Panic where the call would run (exercises panic safety).
    ///
    /// ```
    /// let fault = resilience::chaos::Fault::panic();
    /// # let _ = fault;
    /// ```
    pub fn panic() -> Fault {
        Fault(FaultKind::Panic)
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            FaultKind::Error => f.write_str("Fault::Error"),
            FaultKind::ErrorWith(_) => f.write_str("Fault::ErrorWith(..)"),
            FaultKind::Latency(d) => write!(f, "Fault::Latency({d:?})"),
            FaultKind::Hang => f.write_str("Fault::Hang"),
            FaultKind::Panic => f.write_str("Fault::Panic"),
        }
    }
}

struct Injection {
    id: u64,
    target: Cow<'static, str>,
    fault: Fault,
    calls_left: Option<u64>,
    until: Option<Instant>,
}

#[derive(Default)]
struct ScopeState {
    injections: Mutex<Vec<Injection>>,
}

impl ScopeState {
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Injection>) -> R) -> R {
        // Each critical section is a few Vec operations that cannot panic
        // half-way, so a poisoned lock holds consistent data.
        f(&mut self
            .injections
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// The newest live injection for `target`, counting this call.
    fn take(&self, target: &str) -> Option<Fault> {
        let now = Instant::now();
        self.with(|injections| {
            injections
                .retain(|i| i.until.is_none_or(|until| now < until) && i.calls_left != Some(0));
            let injection = injections.iter_mut().rev().find(|i| i.target == target)?;
            if let Some(left) = &mut injection.calls_left {
                *left -= 1;
            }
            Some(injection.fault.clone())
        })
    }
}

tokio::task_local! {
    static CURRENT: Arc<ScopeState>;
}

/// A set of injections, isolated from every other scope.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::chaos::{Chaos, Fault, Scope};
/// use resilience::Rejection;
///
/// static DB: Chaos = Chaos::new("db");
/// let scope = Scope::new();
/// let _fault = scope.inject("db", Fault::error());
/// // A spawned task sees the scope's faults only when it enters the scope.
/// let task = tokio::spawn(scope.enter(async { DB.call(async { Ok::<_, Rejection>(()) }).await }));
/// assert!(task.await.unwrap().is_err());
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Scope(Arc<ScopeState>);

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Scope {
    /// An empty scope.
    ///
    /// ```
    /// let scope = resilience::chaos::Scope::new();
    /// # let _ = scope;
    /// ```
    pub fn new() -> Scope {
        Scope::default()
    }

    /// Injects `fault` into every call of the instance named `target` made
    /// inside this scope, until the guard drops (or a limit set on it).
    ///
    /// ```
    /// use resilience::chaos::{Fault, Scope};
    /// let scope = Scope::new();
    /// let guard = scope.inject("search", Fault::hang()).for_calls(2);
    /// drop(guard); // removed
    /// ```
    pub fn inject(&self, target: impl Into<Cow<'static, str>>, fault: Fault) -> InjectionGuard {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let target = target.into();
        tracing::info!(name = %target, layer = "chaos", ?fault, "resilience: chaos fault injected");
        self.0.with(|injections| {
            injections.push(Injection {
                id,
                target,
                fault,
                calls_left: None,
                until: None,
            })
        });
        InjectionGuard {
            scope: self.0.clone(),
            id,
        }
    }

    /// Runs `future` inside this scope.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = resilience::chaos::Scope::new();
    /// assert_eq!(scope.enter(async { 1 }).await, 1);
    /// # }
    /// ```
    pub fn enter<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        CURRENT.scope(self.0.clone(), future)
    }
}

/// Runs `future` in a fresh, empty [`Scope`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::chaos;
/// chaos::scope(async {
///     assert!(chaos::inject("x", chaos::Fault::hang()).is_ok());
/// })
/// .await;
/// assert!(chaos::inject("x", chaos::Fault::hang()).is_err());
/// # }
/// ```
pub async fn scope<F: Future>(future: F) -> F::Output {
    Scope::new().enter(future).await
}

/// Injects into the current [`Scope`]; see [`Scope::inject`].
///
/// # Errors
///
/// [`NotInScope`] outside [`scope`] / [`Scope::enter`]: there a fault could
/// leak into unrelated tests, so none is set.
///
/// ```
/// let outside = resilience::chaos::inject("x", resilience::chaos::Fault::error());
/// assert!(outside.is_err());
/// ```
pub fn inject(
    target: impl Into<Cow<'static, str>>,
    fault: Fault,
) -> Result<InjectionGuard, NotInScope> {
    let state = CURRENT.try_with(Arc::clone).map_err(|_| NotInScope)?;
    Ok(Scope(state).inject(target, fault))
}

/// [`inject`] was called outside a chaos [`Scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInScope;

impl fmt::Display for NotInScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("chaos faults can only be injected inside `chaos::scope` or `Scope::enter`")
    }
}

impl std::error::Error for NotInScope {}

/// Keeps an injection alive; dropping it removes the fault.
#[must_use = "the fault is removed when the guard drops"]
pub struct InjectionGuard {
    scope: Arc<ScopeState>,
    id: u64,
}

impl fmt::Debug for InjectionGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InjectionGuard")
            .field("id", &self.id)
            .finish()
    }
}

impl InjectionGuard {
    fn update(&self, f: impl FnOnce(&mut Injection)) {
        self.scope.with(|injections| {
            if let Some(injection) = injections.iter_mut().find(|i| i.id == self.id) {
                f(injection);
            }
        });
    }

    /// Ends the injection after `calls` calls.
    ///
    /// ```
    /// use resilience::chaos::{Fault, Scope};
    /// let _guard = Scope::new().inject("x", Fault::error()).for_calls(3);
    /// ```
    pub fn for_calls(self, calls: u64) -> Self {
        self.update(|i| i.calls_left = Some(calls));
        self
    }

    /// Ends the injection after `duration` of tokio's clock.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::chaos::{Fault, Scope};
    /// use std::time::Duration;
    /// let _guard = Scope::new().inject("x", Fault::error()).for_duration(Duration::from_secs(5));
    /// # }
    /// ```
    pub fn for_duration(self, duration: Duration) -> Self {
        let until = crate::time::deadline(Instant::now(), duration);
        self.update(|i| i.until = Some(until));
        self
    }
}

impl Drop for InjectionGuard {
    fn drop(&mut self) {
        let id = self.id;
        self.scope
            .with(|injections| injections.retain(|i| i.id != id));
    }
}

/// The instance behind `#[chaos(...)]`: random faults at fixed rates, plus
/// whatever a [`Scope`] injects into its name.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::chaos::Chaos;
/// use resilience::Rejection;
///
/// static ALWAYS: Chaos = Chaos::new("always").error_rate(1.0);
/// let out = ALWAYS.call(async { Ok::<_, Rejection>(1) }).await;
/// assert!(out.is_err());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Chaos {
    name: Cow<'static, str>,
    error_rate: f64,
    latency: Duration,
    latency_rate: f64,
}

impl Chaos {
    /// An instance with no random faults (only injected ones).
    ///
    /// ```
    /// static C: resilience::chaos::Chaos = resilience::chaos::Chaos::new("c");
    /// ```
    pub const fn new(name: &'static str) -> Chaos {
        Chaos {
            name: Cow::Borrowed(name),
            error_rate: schema::ERROR_RATE,
            latency: Duration::ZERO,
            // No latency until `latency` sets one (and its rate).
            latency_rate: 0.0,
        }
    }

    /// An instance with a run-time name.
    ///
    /// ```
    /// let c = resilience::chaos::Chaos::named(format!("host-{}", 1));
    /// assert_eq!(c.name(), "host-1");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>) -> Chaos {
        Chaos {
            name: name.into(),
            ..Chaos::new("")
        }
    }

    /// Fails this fraction of calls with [`Rejection::Injected`], 0 to 1 (outside it panics, as `#[chaos]` refuses it).
    ///
    /// ```
    /// let c = resilience::chaos::Chaos::new("c").error_rate(0.1);
    /// # let _ = c;
    /// ```
    pub const fn error_rate(mut self, rate: f64) -> Chaos {
        expect(schema::check_rate("error_rate", rate));
        self.error_rate = rate;
        self
    }

    /// Delays this fraction of calls by `latency`, 0 to 1 (outside it panics, as `#[chaos]` refuses it).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = resilience::chaos::Chaos::new("c").latency(Duration::from_millis(200), 0.2);
    /// # let _ = c;
    /// ```
    pub const fn latency(mut self, latency: Duration, rate: f64) -> Chaos {
        expect(schema::check_rate("latency_rate", rate));
        self.latency = latency;
        self.latency_rate = rate;
        self
    }

    /// The name injections target.
    ///
    /// ```
    /// assert_eq!(resilience::chaos::Chaos::new("c").name(), "c");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    fn decide(&self) -> Option<Fault> {
        if let Some(fault) = CURRENT
            .try_with(|scope| scope.take(&self.name))
            .ok()
            .flatten()
        {
            return Some(fault);
        }
        if self.error_rate > 0.0 && rng::chance(self.error_rate) {
            return Some(Fault::error());
        }
        if self.latency_rate > 0.0 && rng::chance(self.latency_rate) {
            return Some(Fault::latency(self.latency));
        }
        None
    }

    /// Runs `call`, unless a fault says otherwise.
    ///
    /// # Panics
    ///
    /// Only when a [`Fault::panic`] is injected: that is its purpose.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::chaos::Chaos;
    /// let c = Chaos::new("quiet");
    /// assert_eq!(c.call(async { Ok::<_, resilience::Rejection>(5) }).await, Ok(5));
    /// # }
    /// ```
    pub async fn call<F, T, E>(&self, call: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejection> + 'static,
    {
        let Some(Fault(fault)) = self.decide() else {
            return call.await;
        };
        let name = &*self.name;
        match fault {
            FaultKind::Error => {
                crate::events::fault_injected(name, "error");
                tracing::debug!(name, layer = "chaos", "resilience: chaos error");
                Err(E::from(Rejection::injected(self.name.clone())))
            }
            FaultKind::ErrorWith(make) => {
                crate::events::fault_injected(name, "error");
                tracing::debug!(name, layer = "chaos", "resilience: chaos error (user type)");
                match make().downcast::<E>() {
                    Ok(error) => Err(*error),
                    Err(_) => Err(E::from(Rejection::injected(self.name.clone()))),
                }
            }
            FaultKind::Latency(delay) => {
                crate::events::fault_injected(name, "latency");
                tracing::debug!(name, layer = "chaos", ?delay, "resilience: chaos latency");
                crate::time::sleep(delay, crate::time::CHAOS).await;
                call.await
            }
            FaultKind::Hang => {
                crate::events::fault_injected(name, "hang");
                tracing::debug!(name, layer = "chaos", "resilience: chaos hang");
                std::future::pending().await
            }
            FaultKind::Panic => {
                crate::events::fault_injected(name, "panic");
                panic!("resilience chaos: panic injected into `{name}`")
            }
        }
    }
}

impl crate::registry::Registrable for Chaos {
    const KIND: &'static str = "chaos";
    fn same_settings(&self, other: &Self) -> bool {
        self.error_rate == other.error_rate
            && self.latency == other.latency
            && self.latency_rate == other.latency_rate
    }

    fn describe(&self) -> crate::registry::Description {
        let policy = crate::registry::Policy::new()
            .with("error_rate", self.error_rate)
            .with_duration("latency", self.latency)
            .with("latency_rate", self.latency_rate);
        crate::registry::Description::new(
            crate::registry::Kind::Chaos,
            self.name(),
            policy,
            crate::registry::Snapshot::Chaos,
        )
    }
}

pub mod experiment;
pub mod proxy;
