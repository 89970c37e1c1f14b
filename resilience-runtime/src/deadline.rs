//! The deadline of the call in progress: an outer `#[timeout]` (or
//! [`Timeout`](crate::Timeout)) sets it for everything polled under it in
//! the task, and the layers below read it. `#[retry]` does not sleep or
//! start an attempt past it, `#[hedge]` does not start a hedge past it, an
//! inner timeout runs under the sooner of its own duration and what is
//! left, and the body can ask [`remaining`] to pass the time left on (a
//! gRPC `grpc-timeout`, an HTTP header, [`reqwest_timeout`] with the
//! `reqwest` feature).
//!
//! # How it flows
//!
//! A timeout's future sets the deadline in a thread-local while it polls
//! the call and puts back the previous one when the poll returns (or
//! unwinds), so the deadline is that of the innermost timeout around the
//! code now running, met with those outside it. It follows the task,
//! not the thread: a future polled elsewhere (`tokio::spawn`) has none.
//! Without a timeout nothing is set, and the layers only look when they
//! are about to wait (after a failure, before a hedge), never on the path
//! of a call that succeeds at once.
//!
//! A timeout's clock starts when the call first waits, as before: until
//! then, the deadline is "now + duration", and the clock is read only if
//! something asks for it (the shared start is then used by every timeout
//! of that poll, so the deadline one reads is the one that fires).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use resilience::{Rejection, deadline, timeout};
//! use std::time::Duration;
//!
//! #[timeout("2s")]
//! async fn search() -> Result<Option<Duration>, Rejection> {
//!     tokio::time::sleep(Duration::from_millis(500)).await;
//!     Ok(deadline::remaining())
//! }
//!
//! assert_eq!(search().await.unwrap(), Some(Duration::from_millis(1500)));
//! assert_eq!(deadline::remaining(), None); // outside any timeout
//! # }
//! ```

use std::cell::Cell;
use std::time::Duration;

use tokio::time::Instant;

// The deadline in force on this thread while a timeout polls its call,
// in three cells rather than one struct, so that a timeout touches only
// what it changes: a first poll, the common one, loads and stores the
// one word of `LAZY` and clears `START` when it is the outermost.
thread_local! {
    /// The soonest deadline of the timeouts whose clock has started.
    static AT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The shortest duration of the timeouts polled for the first time,
    /// whose clock starts at `START`, in [`Lazy`]'s encoding (0: none).
    static LAZY: Cell<u64> = const { Cell::new(NO_LAZY) };
    /// The instant those timeouts started, once something read the clock;
    /// cleared when the outermost of them leaves.
    static START: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// `LAZY` without a timeout on its first poll.
const NO_LAZY: u64 = 0;

/// A timeout's duration as one word for `LAZY`: nanoseconds, never 0 (a
/// timeout of zero is refused when it is built, and the word is at least
/// 1), saturated at `u64::MAX`, which stands for every duration from
/// there to `Duration::MAX` (584 years and more: a deadline that never
/// comes either way). The order of durations is the order of words.
// Only the tower timeout layer enters with a `Duration` (and the tests).
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn encode(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn decode(word: u64) -> Option<Duration> {
    match word {
        NO_LAZY => None,
        u64::MAX => Some(Duration::MAX),
        nanos => Some(Duration::from_nanos(nanos)),
    }
}

/// What a timeout's scope held when its poll returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scope {
    at: Option<Instant>,
    lazy: Option<Duration>,
    start: Option<Instant>,
}

impl Scope {
    /// The start the lazy timeouts of this scope share, if it was read.
    pub(crate) fn start(self) -> Option<Instant> {
        self.start
    }

    /// The deadline this scope holds, its lazy part started at `start`
    /// when the clock was not read during the poll.
    pub(crate) fn deadline_from(self, start: Instant) -> Option<Instant> {
        resolve(self.at, self.lazy, self.start.unwrap_or(start))
    }
}

fn resolve(at: Option<Instant>, lazy: Option<Duration>, start: Instant) -> Option<Instant> {
    let lazy = lazy.map(|d| crate::time::deadline(start, d));
    match (at, lazy) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn scope() -> Scope {
    Scope {
        at: AT.with(Cell::get),
        lazy: decode(LAZY.with(Cell::get)),
        start: START.with(Cell::get),
    }
}

/// The scope of a timeout whose clock has started; puts the outer `AT`
/// back when dropped, also when the poll it guards unwinds.
#[must_use]
pub(crate) struct EnteredAt(Option<Instant>);

impl EnteredAt {
    /// Leaves the scope, putting the previous one back, and returns what
    /// this one held.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub(crate) fn exit(self) -> Scope {
        let scope = scope();
        drop(self);
        scope
    }
}

impl Drop for EnteredAt {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn drop(&mut self) {
        AT.with(|c| c.set(self.0));
    }
}

/// The scope of a timeout on its first poll; puts the outer `LAZY` back
/// when dropped, also when the poll it guards unwinds.
#[must_use]
pub(crate) struct EnteredLazy(u64);

impl EnteredLazy {
    /// Leaves the scope, putting the previous one back, and returns what
    /// this one held.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub(crate) fn exit(self) -> Scope {
        let scope = scope();
        drop(self);
        scope
    }
}

impl Drop for EnteredLazy {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn drop(&mut self) {
        let outer = self.0;
        LAZY.with(|c| c.set(outer));
        // Outer timeouts still waiting for their clock started at the
        // same instant as this one; with none, the start is this poll's
        // alone.
        if outer == NO_LAZY {
            START.with(|c| c.set(None));
        }
    }
}

/// A timeout whose clock has started: the deadline is `at`, or the outer
/// one if sooner.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) fn enter_at(at: Instant) -> EnteredAt {
    AT.with(|c| {
        let outer = c.get();
        c.set(Some(match outer {
            Some(outer) => outer.min(at),
            None => at,
        }));
        EnteredAt(outer)
    })
}

/// A timeout polled for the first time: `duration` from now, where "now"
/// is read only if something asks.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) fn enter_lazy(duration: Duration) -> EnteredLazy {
    enter_lazy_nanos(encode(duration))
}

/// [`enter_lazy`] with the duration in nanoseconds, saturated at
/// `u64::MAX` (as `live::LiveDuration` stores it): no `Duration` built and
/// taken apart on a timeout's first poll.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) fn enter_lazy_nanos(nanos: u64) -> EnteredLazy {
    let own = nanos.max(1);
    LAZY.with(|c| {
        let outer = c.get();
        c.set(match outer {
            NO_LAZY => own,
            outer => outer.min(own),
        });
        EnteredLazy(outer)
    })
}

/// The deadline in force, reading the clock once if a timeout of this
/// poll has not started it yet.
pub(crate) fn current() -> Option<Instant> {
    let at = AT.with(Cell::get);
    let lazy = decode(LAZY.with(Cell::get));
    if lazy.is_none() {
        return at;
    }
    let start = START.with(|c| match c.get() {
        Some(start) => start,
        None => {
            let start = Instant::now();
            c.set(Some(start));
            start
        }
    });
    resolve(at, lazy, start)
}

/// The deadline of the timeouts around the code now running, if any.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::{Rejection, Timeout, deadline};
/// use std::time::Duration;
///
/// let t = Timeout::new("t", Duration::from_secs(1));
/// let start = tokio::time::Instant::now();
/// let at = t.call(async { Ok::<_, Rejection>(deadline::at()) }).await.unwrap();
/// assert_eq!(at, Some(start + Duration::from_secs(1)));
/// # }
/// ```
pub fn at() -> Option<Instant> {
    current()
}

/// The time left before the deadline of the timeouts around the code now
/// running (`Duration::ZERO` once it has passed), or `None` outside any
/// timeout.
///
/// Use it to pass the deadline on to the service you call, so that it
/// stops working on an answer nobody waits for: gRPC's `grpc-timeout`, an
/// HTTP header, a database statement timeout.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::{Rejection, deadline, timeout};
/// use std::time::Duration;
///
/// #[timeout("800ms")]
/// async fn quote(sku: u32) -> Result<String, Rejection> {
///     let left = deadline::remaining().unwrap_or(Duration::from_secs(30));
///     Ok(format!("GET /quote/{sku} grpc-timeout: {}m", left.as_millis()))
/// }
///
/// assert_eq!(quote(7).await.unwrap(), "GET /quote/7 grpc-timeout: 800m");
/// # }
/// ```
pub fn remaining() -> Option<Duration> {
    let at = current()?;
    Some(at.saturating_duration_since(Instant::now()))
}

/// Whether a wait of `delay` from now would end at or past the deadline
/// in force (`false` without one).
pub(crate) fn would_pass(delay: Duration) -> Option<Duration> {
    let at = current()?;
    let left = at.saturating_duration_since(Instant::now());
    (delay >= left).then_some(left)
}

/// Sets reqwest's per-request timeout to the time left before the
/// deadline ([`remaining`]); without a deadline the request is left as it
/// is (the client's own timeout, if any, still applies).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::{Rejection, deadline, timeout};
///
/// #[timeout("2s")]
/// async fn build(client: &reqwest::Client) -> Result<reqwest::Request, Rejection> {
///     let request = deadline::reqwest_timeout(client.get("http://localhost/quote"));
///     Ok(request.build().expect("a valid request"))
/// }
///
/// let request = build(&reqwest::Client::new()).await.unwrap();
/// assert_eq!(request.timeout(), Some(&std::time::Duration::from_secs(2)));
/// # }
/// ```
#[cfg(feature = "reqwest")]
pub fn reqwest_timeout(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match remaining() {
        Some(left) => request.timeout(left),
        None => request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_duration_in_one_word_keeps_its_value_and_order() {
        for d in [
            Duration::from_nanos(1),
            Duration::from_millis(800),
            Duration::from_secs(86_400 * 365 * 500),
        ] {
            assert_eq!(decode(encode(d)), Some(d));
        }
        assert_eq!(decode(encode(Duration::MAX)), Some(Duration::MAX));
        assert_eq!(decode(NO_LAZY), None);
        assert!(encode(Duration::from_millis(1)) < encode(Duration::from_secs(1)));
        assert!(encode(Duration::from_secs(1)) < encode(Duration::MAX));
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_set_outside_a_scope() {
        assert_eq!(remaining(), None);
        assert_eq!(would_pass(Duration::MAX), None);
    }

    #[tokio::test(start_paused = true)]
    async fn scopes_nest_and_restore() {
        let now = Instant::now();
        let outer = enter_at(now + Duration::from_secs(1));
        {
            let inner = enter_lazy(Duration::from_secs(5));
            assert_eq!(remaining(), Some(Duration::from_secs(1)));
            let held = inner.exit();
            assert_eq!(held.start(), Some(now));
        }
        let inner = enter_lazy(Duration::from_millis(300));
        assert_eq!(remaining(), Some(Duration::from_millis(300)));
        drop(inner);
        assert_eq!(remaining(), Some(Duration::from_secs(1)));
        drop(outer);
        assert_eq!(remaining(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lazy_start_read_inside_reaches_the_outer_lazy_scope() {
        let now = Instant::now();
        let outer = enter_lazy(Duration::from_secs(2));
        let inner = enter_lazy(Duration::from_secs(3));
        tokio::time::advance(Duration::ZERO).await;
        assert_eq!(remaining(), Some(Duration::from_secs(2)));
        drop(inner);
        assert_eq!(outer.exit().start(), Some(now));
        assert_eq!(remaining(), None);
    }

    #[test]
    fn a_panic_restores_the_outer_scope() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let outer = enter_at(Instant::now() + Duration::from_secs(1));
            let caught = std::panic::catch_unwind(|| {
                let _inner = enter_at(Instant::now() + Duration::from_millis(1));
                panic!("in the call");
            });
            assert!(caught.is_err());
            assert_eq!(remaining(), Some(Duration::from_secs(1)));
            drop(outer);
        });
    }
}
