//! Typed events of every layer, for any number of subscribers.
//!
//! Every instance reports what it does (a state transition, a rejected
//! call, a retry, a timeout, a fallback, …) as an [`Event`]. A
//! [`Subscription`] from [`subscribe`] receives every event emitted after
//! it was made, in order, through a bounded queue of its own; [`listen`]
//! runs a function on each event instead.
//!
//! # Cost
//!
//! With nobody subscribed, an instance pays one atomic load (`Relaxed`) at
//! the places where it would emit, all of them off the success path (a
//! failure, a rejection, a transition): the event is not even built. With
//! subscribers, an event is built once and cloned into each queue under a
//! short lock.
//!
//! A slow subscriber never blocks or slows a call: its queue is bounded
//! ([`subscribe_with_capacity`]); when it is full the oldest event is
//! dropped and counted ([`Subscription::lagged`]). A [`listen`] function
//! that panics is caught: the call that emitted goes on, and the panic is
//! counted ([`Listener::panics`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
//! use resilience::events::{self, Event};
//!
//! let mut events = events::subscribe();
//! let breaker = CircuitBreaker::new("doc-events", BreakerPolicy::new());
//! breaker.force_open();
//! match events.recv().await {
//!     Event::StateTransition { name, from, to } => {
//!         assert_eq!((name.as_str(), from, to), ("doc-events", State::Closed, State::ForcedOpen));
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::breaker::State;
use crate::registry::Kind;

/// What an instance did. Built only when someone subscribes.
///
/// Every variant names the instance (`name`: the registry name, or the
/// default name `module::function` of a private instance).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "event", rename_all = "snake_case"))]
pub enum Event {
    /// A circuit breaker changed state. Open → HalfOpen is reported when
    /// `open_for` ends, not at the next call.
    StateTransition {
        /// The breaker.
        name: String,
        /// The state it left.
        from: State,
        /// The state it entered.
        to: State,
    },
    /// A layer turned a call away without running it (open circuit, full
    /// bulkhead, rate limit) or cut it off (timeout: see
    /// [`Event::Timeout`]).
    CallRejected {
        /// The layer that rejected it.
        layer: Kind,
        /// The instance.
        name: String,
        /// Why, in a few words (`"circuit open"`, `"bulkhead full"`, …).
        reason: &'static str,
        /// When a call could be admitted, where the layer knows.
        retry_after: Option<Duration>,
    },
    /// A call failed with a transient error and is tried again.
    Retry {
        /// The retry instance.
        name: String,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// The error of the attempt that failed (`Display`).
        error: String,
    },
    /// A retried call gives up: attempts used up, error not retryable,
    /// `max_elapsed` reached, or the retry budget spent.
    RetriesExhausted {
        /// The retry instance.
        name: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// Why it stopped, in a few words.
        reason: &'static str,
        /// The last error (`Display`).
        error: String,
    },
    /// A call ran past its timeout and was dropped.
    Timeout {
        /// The timeout instance.
        name: String,
        /// How long it ran.
        after: Duration,
    },
    /// A hedge (a second attempt of a slow call) was started.
    HedgeStarted {
        /// The hedge instance.
        name: String,
        /// Which hedge (1 for the first).
        hedge: u32,
    },
    /// A fallback level is being tried after the error so far.
    FallbackUsed {
        /// The annotated function (its instance name).
        name: String,
        /// The level (1 for the first).
        level: usize,
        /// The error that sent the call to this level (`Display`).
        error: String,
    },
    /// A `stale_cache` fallback served a stored answer.
    StaleServed {
        /// The cache.
        name: String,
        /// How old the answer is.
        age: Duration,
    },
    /// Configuration was applied to running instances (see
    /// [`config_reloaded`]).
    ConfigReloaded {
        /// Where it came from (a file path, `"env"`, …).
        source: String,
        /// The instances whose settings changed, as `kind.name`.
        changed: Vec<String>,
    },
    /// A chaos fault was injected into a call.
    FaultInjected {
        /// The instance.
        name: String,
        /// The fault (`"error"`, `"latency"`, `"hang"`, …).
        fault: String,
    },
}

/// How many subscribers and listeners there are: the one load paid by an
/// instance when nobody listens.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether anyone listens: one `Relaxed` load.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) fn enabled() -> bool {
    ACTIVE.load(Ordering::Relaxed) != 0
}

/// Emits the event `make` builds, if anyone listens.
#[inline]
pub(crate) fn emit(make: impl FnOnce() -> Event) {
    if enabled() {
        deliver(make());
    }
}

struct Queue {
    events: Mutex<VecDeque<Event>>,
    capacity: usize,
    lagged: AtomicU64,
    notify: Notify,
}

struct Callback {
    f: Box<dyn Fn(&Event) + Send + Sync>,
    panics: AtomicU64,
}

enum Sink {
    Queue(Arc<Queue>),
    Callback(Arc<Callback>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every write under these locks is one push, pop or retain: a panic
    // cannot leave them half-done.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sinks() -> &'static Mutex<Vec<(u64, Sink)>> {
    static SINKS: Mutex<Vec<(u64, Sink)>> = Mutex::new(Vec::new());
    &SINKS
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

#[cold]
#[inline(never)]
fn deliver(event: Event) {
    // Listeners run outside the lock, so one that subscribes or panics
    // cannot deadlock or poison the list.
    let mut callbacks: Vec<Arc<Callback>> = Vec::new();
    for (_, sink) in lock(sinks()).iter() {
        match sink {
            Sink::Queue(queue) => {
                let mut events = lock(&queue.events);
                if events.len() >= queue.capacity {
                    events.pop_front();
                    queue.lagged.fetch_add(1, Ordering::Relaxed);
                }
                events.push_back(event.clone());
                drop(events);
                queue.notify.notify_one();
            }
            Sink::Callback(callback) => callbacks.push(Arc::clone(callback)),
        }
    }
    for callback in callbacks {
        if catch_unwind(AssertUnwindSafe(|| (callback.f)(&event))).is_err() {
            callback.panics.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn add(sink: Sink) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut sinks = lock(sinks());
    sinks.push((id, sink));
    ACTIVE.store(sinks.len(), Ordering::Relaxed);
    id
}

fn remove(id: u64) {
    let mut sinks = lock(sinks());
    sinks.retain(|(other, _)| *other != id);
    ACTIVE.store(sinks.len(), Ordering::Relaxed);
}

/// How many events a [`subscribe`]d queue holds before it drops the oldest.
pub const DEFAULT_CAPACITY: usize = 1024;

/// A new subscription to every event from now on, holding up to
/// [`DEFAULT_CAPACITY`] events not yet received.
///
/// ```
/// let events = resilience::events::subscribe();
/// assert_eq!(events.lagged(), 0);
/// ```
pub fn subscribe() -> Subscription {
    subscribe_with_capacity(DEFAULT_CAPACITY)
}

/// A new subscription whose queue holds up to `capacity` events (at least
/// one); when full, the oldest is dropped and counted in
/// [`Subscription::lagged`].
///
/// ```
/// use resilience::breaker::{BreakerPolicy, CircuitBreaker};
///
/// let mut events = resilience::events::subscribe_with_capacity(1);
/// let b = CircuitBreaker::new("doc-capacity", BreakerPolicy::new());
/// b.force_open();
/// b.reset();
/// assert_eq!(events.lagged(), 1); // the first transition was dropped
/// assert!(events.try_recv().is_some());
/// ```
pub fn subscribe_with_capacity(capacity: usize) -> Subscription {
    let queue = Arc::new(Queue {
        events: Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        lagged: AtomicU64::new(0),
        notify: Notify::new(),
    });
    let id = add(Sink::Queue(Arc::clone(&queue)));
    Subscription { id, queue }
}

/// A receiver of events; unsubscribes when dropped.
pub struct Subscription {
    id: u64,
    queue: Arc<Queue>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("pending", &lock(&self.queue.events).len())
            .field("lagged", &self.lagged())
            .finish()
    }
}

impl Subscription {
    /// The next event, waiting for one.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is taken from the queue only when returned.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::events::{self, Event};
    /// let mut events = events::subscribe();
    /// events::config_reloaded("doc-recv", Vec::new());
    /// assert!(matches!(events.recv().await, Event::ConfigReloaded { .. }));
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Event {
        let queue = Arc::clone(&self.queue);
        loop {
            let notified = queue.notify.notified();
            if let Some(event) = lock(&queue.events).pop_front() {
                return event;
            }
            notified.await;
        }
    }

    /// The next event if one is waiting.
    ///
    /// ```
    /// let mut events = resilience::events::subscribe();
    /// assert_eq!(events.try_recv(), None);
    /// ```
    pub fn try_recv(&mut self) -> Option<Event> {
        lock(&self.queue.events).pop_front()
    }

    /// Every event waiting now, oldest first.
    ///
    /// ```
    /// use resilience::events;
    /// let mut sub = events::subscribe();
    /// events::config_reloaded("doc-drain", Vec::new());
    /// assert_eq!(sub.drain().len(), 1);
    /// ```
    pub fn drain(&mut self) -> Vec<Event> {
        lock(&self.queue.events).drain(..).collect()
    }

    /// How many events were dropped because the queue was full.
    ///
    /// ```
    /// assert_eq!(resilience::events::subscribe().lagged(), 0);
    /// ```
    pub fn lagged(&self) -> u64 {
        self.queue.lagged.load(Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        remove(self.id);
    }
}

/// Runs `f` on every event from now on, on the thread that emits it, until
/// the returned [`Listener`] is dropped. Keep `f` short (it runs inside
/// the call that emitted); a panic in it is caught and counted.
///
/// ```
/// use resilience::events::{self, Event};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&seen);
/// let listener = events::listen(move |event| {
///     if matches!(event, Event::ConfigReloaded { .. }) {
///         counter.fetch_add(1, Ordering::Relaxed);
///     }
/// });
/// events::config_reloaded("doc-listen", Vec::new());
/// assert_eq!(seen.load(Ordering::Relaxed), 1);
/// drop(listener);
/// ```
pub fn listen(f: impl Fn(&Event) + Send + Sync + 'static) -> Listener {
    let callback = Arc::new(Callback {
        f: Box::new(f),
        panics: AtomicU64::new(0),
    });
    let id = add(Sink::Callback(Arc::clone(&callback)));
    Listener { id, callback }
}

/// A function run on every event; stops when dropped.
pub struct Listener {
    id: u64,
    callback: Arc<Callback>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("panics", &self.panics())
            .finish()
    }
}

impl Listener {
    /// How many times the function panicked (each caught).
    ///
    /// ```
    /// let listener = resilience::events::listen(|_| panic!("a bad listener"));
    /// resilience::events::config_reloaded("doc-panics", Vec::new());
    /// assert!(listener.panics() >= 1);
    /// ```
    pub fn panics(&self) -> u64 {
        self.callback.panics.load(Ordering::Relaxed)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        remove(self.id);
    }
}

/// Reports that configuration from `source` was applied; `changed` lists
/// the instances whose settings changed, as `kind.name`
/// (`"circuit_breaker.payments"`). Called by the configuration loader
/// after a (re)load; a loader of your own can call it too. Also logged
/// through `tracing`.
///
/// ```
/// use resilience::events::{self, Event};
/// let mut sub = events::subscribe();
/// events::config_reloaded("resilience.toml", vec!["retry.search".to_owned()]);
/// assert_eq!(
///     sub.try_recv(),
///     Some(Event::ConfigReloaded { source: "resilience.toml".into(), changed: vec!["retry.search".into()] }),
/// );
/// ```
pub fn config_reloaded(source: impl Into<String>, changed: Vec<String>) {
    let source = source.into();
    tracing::info!(source = %source, changed = ?changed, "resilience: configuration reloaded");
    emit(|| Event::ConfigReloaded { source, changed });
}

/// Reports a chaos fault injected into a call of `name`.
#[cfg_attr(not(feature = "chaos"), allow(dead_code))]
#[cold]
pub(crate) fn fault_injected(name: &str, fault: &str) {
    emit(|| Event::FaultInjected {
        name: name.to_owned(),
        fault: fault.to_owned(),
    });
}

/// A breaker changed state: the `tracing` event, the typed event, and
/// with the `metrics` feature the state gauges.
#[cold]
#[inline(never)]
pub(crate) fn breaker_transition(name: &str, from: State, to: State) {
    if matches!(to, State::Open | State::ForcedOpen) {
        tracing::warn!(name, layer = "circuit_breaker", %from, %to, "resilience: circuit breaker state changed");
    } else {
        tracing::info!(name, layer = "circuit_breaker", %from, %to, "resilience: circuit breaker state changed");
    }
    #[cfg(feature = "metrics")]
    crate::metrics::breaker_transition(name, from, to);
    emit(|| Event::StateTransition {
        name: name.to_owned(),
        from,
        to,
    });
}

/// A layer rejected a call: the `tracing` event and the typed event.
#[cold]
#[inline(never)]
pub(crate) fn rejected(
    layer: Kind,
    name: &str,
    reason: &'static str,
    retry_after: Option<Duration>,
) {
    tracing::debug!(name, layer = layer.as_str(), reason, retry_after = ?retry_after, "resilience: call rejected");
    emit(|| Event::CallRejected {
        layer,
        name: name.to_owned(),
        reason,
        retry_after,
    });
}
