//! `#[bulkhead]`: at most N calls inside at once, so one slow dependency
//! fills only its own compartment.

mod semaphore;

use crate::live::{LiveDuration, LiveU64};
use crate::sync::{AtomicU64, Ordering};
use resilience_schema::{bulkhead::check_max_concurrent, expect};
use std::borrow::Cow;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use self::semaphore::{Enqueued, Semaphore, Ticket};
use crate::Rejection;
use crate::registry::{CallCounters, Calls, Description, Kind, Policy, Registrable, Snapshot};
use crate::sync::const_unless_loom;

/// A bulkhead: at most `max_concurrent` calls run at once; a caller that
/// finds every permit taken waits up to `max_wait` (by default it does not
/// wait) behind at most `max_queue` others, and is otherwise refused with
/// [`Rejection::BulkheadFull`].
///
/// Used by `#[bulkhead(max_concurrent = 10, max_wait = "100ms")]`, or
/// directly: [`Bulkhead::call`] wraps a future, [`Bulkhead::acquire`] hands
/// out a [`BulkheadPermit`].
///
/// # Fairness
///
/// Waiters are admitted first in, first out: a release hands its permit to
/// the caller that has waited longest, and a newcomer never overtakes a
/// waiter.
///
/// # Cost
///
/// When a permit is free and nobody waits, acquiring and releasing are one
/// atomic compare-and-swap each: no lock, no allocation. Only callers that
/// have to wait take a lock and allocate their place in the queue.
///
/// # Cancel safety
///
/// Permits are released when the call finishes, is cancelled (its future
/// dropped) or panics. A waiter dropped before it is admitted never holds a
/// permit: if one was handed to it in the meantime it goes to the next
/// waiter.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::{Bulkhead, Rejection};
///
/// static DB: Bulkhead = Bulkhead::new("db", 1);
///
/// let permit = DB.try_acquire().expect("one permit is free");
/// let refused = DB.call(async { Ok::<_, Rejection>(()) }).await;
/// assert!(matches!(refused, Err(Rejection::BulkheadFull { .. })));
///
/// drop(permit);
/// assert_eq!(DB.call(async { Ok::<_, Rejection>(7) }).await, Ok(7));
/// # }
/// ```
#[derive(Debug)]
pub struct Bulkhead {
    name: Cow<'static, str>,
    max_concurrent: LiveU64,
    max_wait: LiveDuration,
    /// `u64::MAX`: unbounded.
    max_queue: LiveU64,
    semaphore: Semaphore,
    rejected: AtomicU64,
    calls: CallCounters,
}

impl Bulkhead {
    const_unless_loom! {
        /// A bulkhead of `max_concurrent` permits named `name`, that does not
        /// wait (usable in a `static`).
        ///
        /// # Panics
        ///
        /// If `max_concurrent` is 0 (every call would be refused) or above
        /// `usize::MAX / 2`; in a `static`, at compile time.
        ///
        /// ```
        /// # use resilience::Bulkhead;
        /// static POOL: Bulkhead = Bulkhead::new("pool", 8);
        /// assert_eq!(POOL.snapshot().available, 8);
        /// ```
        pub fn new(name: &'static str, max_concurrent: usize) -> Self {
            expect(check_max_concurrent(max_concurrent as u64));
            Bulkhead {
                name: Cow::Borrowed(name),
                max_concurrent: LiveU64::new(max_concurrent as u64),
                max_wait: LiveDuration::new(Duration::ZERO),
                max_queue: LiveU64::new(u64::MAX),
                semaphore: Semaphore::new(max_concurrent),
                rejected: AtomicU64::new(0),
                calls: CallCounters::new(),
            }
        }
    }

    /// A bulkhead with a name built at run time (one per host, per tenant).
    ///
    /// # Panics
    ///
    /// As [`Bulkhead::new`].
    ///
    /// ```
    /// # use resilience::Bulkhead;
    /// let host = "eu-1";
    /// let b = Bulkhead::named(format!("api@{host}"), 4);
    /// assert_eq!(b.name(), "api@eu-1");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, max_concurrent: usize) -> Self {
        let name = name.into();
        let mut bulkhead = Bulkhead::new("", max_concurrent);
        bulkhead.name = name;
        bulkhead
    }

    const_unless_loom! {
        /// How long a caller may wait for a permit before it is refused.
        /// `Duration::ZERO` (the default) refuses at once.
        ///
        /// ```
        /// # use resilience::Bulkhead;
        /// # use std::time::Duration;
        /// static POOL: Bulkhead = Bulkhead::new("pool", 8).max_wait(Duration::from_millis(50));
        /// assert_eq!(POOL.get_max_wait(), Duration::from_millis(50));
        /// ```
        pub fn max_wait(mut self, max_wait: Duration) -> Self {
            self.max_wait = LiveDuration::new(max_wait);
            self
        }
    }

    const_unless_loom! {
        /// At most `max_queue` callers wait at once; one more is refused at
        /// once. Unbounded by default (each waiter is still bounded by
        /// `max_wait`).
        ///
        /// ```
        /// # use resilience::Bulkhead;
        /// # use std::time::Duration;
        /// static POOL: Bulkhead = Bulkhead::new("pool", 8)
        ///     .max_wait(Duration::from_millis(50))
        ///     .max_queue(100);
        /// assert_eq!(POOL.get_max_queue(), Some(100));
        /// ```
        pub fn max_queue(mut self, max_queue: usize) -> Self {
            self.max_queue = LiveU64::new(max_queue as u64);
            self
        }
    }

    /// The instance name carried by its rejections.
    ///
    /// ```
    /// # use resilience::Bulkhead;
    /// assert_eq!(Bulkhead::new("db", 2).name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many calls may run at once.
    ///
    /// ```
    /// # use resilience::Bulkhead;
    /// assert_eq!(Bulkhead::new("db", 2).max_concurrent(), 2);
    /// ```
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent.get() as usize
    }

    /// How long a caller waits for a permit.
    ///
    /// ```
    /// # use resilience::Bulkhead;
    /// # use std::time::Duration;
    /// assert_eq!(Bulkhead::new("db", 2).get_max_wait(), Duration::ZERO);
    /// ```
    pub fn get_max_wait(&self) -> Duration {
        self.max_wait.get()
    }

    /// How many callers may wait at once (`None`: unbounded).
    ///
    /// ```
    /// # use resilience::Bulkhead;
    /// assert_eq!(Bulkhead::new("db", 2).get_max_queue(), None);
    /// ```
    pub fn get_max_queue(&self) -> Option<usize> {
        match self.max_queue.get() {
            u64::MAX => None,
            n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    /// A permit if one is free and nobody waits for it, without waiting.
    /// Lock-free and allocation-free. Does not count as a rejection.
    ///
    /// ```
    /// # use resilience::Bulkhead;
    /// let b = Bulkhead::new("db", 1);
    /// let permit = b.try_acquire();
    /// assert!(permit.is_some());
    /// assert!(b.try_acquire().is_none());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<BulkheadPermit<'_>> {
        self.semaphore
            .try_acquire()
            .then(|| BulkheadPermit { bulkhead: self })
    }

    /// Waits for a permit as the bulkhead is configured: up to `max_wait`,
    /// behind at most `max_queue` others.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up the caller's place in the queue; a
    /// permit handed to it meanwhile goes to the next waiter.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::Bulkhead;
    ///
    /// let b = Bulkhead::new("db", 1);
    /// let permit = b.acquire().await.unwrap();
    /// assert_eq!(b.snapshot().in_use, 1);
    /// drop(permit);
    /// assert_eq!(b.snapshot().in_use, 0);
    /// # }
    /// ```
    pub fn acquire(&self) -> BulkheadAcquire<'_> {
        BulkheadAcquire(self.acquirer())
    }

    fn acquirer(&self) -> Acquirer<'_> {
        Acquirer {
            bulkhead: self,
            queued: ManuallyDrop::new(None),
        }
    }

    /// Runs `call` holding a permit; refuses it with
    /// [`Rejection::BulkheadFull`] when none is free within `max_wait`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{Bulkhead, Rejection};
    /// let b = Bulkhead::new("db", 4);
    /// assert_eq!(b.call(async { Ok::<_, Rejection>(42) }).await, Ok(42));
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, call: F) -> BulkheadFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejection>,
    {
        self.call_with(call, E::from)
    }

    /// Like [`Bulkhead::call`], with `reject` turning the rejection into `E`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::Bulkhead;
    /// let b = Bulkhead::new("db", 1);
    /// let _held = b.try_acquire();
    /// let out: Result<(), String> = b.call_with(async { Ok(()) }, |r| r.to_string()).await;
    /// assert_eq!(out.unwrap_err(), "bulkhead `db` is full");
    /// # }
    /// ```
    pub fn call_with<F, T, E>(
        &self,
        call: F,
        reject: fn(Rejection) -> E,
    ) -> BulkheadFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        BulkheadFuture {
            acquire: self.acquirer(),
            held: false,
            call,
            reject,
        }
    }

    /// Permits in use, callers waiting, and rejections so far.
    ///
    /// ```
    /// # use resilience::Bulkhead;
    /// let b = Bulkhead::new("db", 3);
    /// let _p = b.try_acquire();
    /// let s = b.snapshot();
    /// assert_eq!((s.in_use, s.available, s.waiting, s.rejected), (1, 2, 0, 0));
    /// ```
    pub fn snapshot(&self) -> BulkheadSnapshot {
        let available = self.semaphore.available();
        let max_concurrent = self.max_concurrent();
        BulkheadSnapshot {
            max_concurrent,
            available,
            // Permits a shrink took back while they were held are still in use.
            in_use: (max_concurrent + self.semaphore.owed()).saturating_sub(available),
            waiting: self.semaphore.waiting(),
            rejected: self.rejected.load(Ordering::Relaxed),
            calls: self.calls.read(self.rejected.load(Ordering::Relaxed)),
        }
    }

    #[cold]
    fn reject(&self, why: &'static str) -> Rejection {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        crate::events::rejected(crate::registry::Kind::Bulkhead, &self.name, why, None);
        Rejection::bulkhead_full(self.name.clone())
    }
}

/// Reload (issue 14): new limits, in place, keeping the permits in use.
impl Bulkhead {
    /// Changes the limits, keeping every permit held. Growing admits
    /// waiters at once (first in, first out); shrinking takes free permits
    /// back at once and the held ones as their calls end, so new calls are
    /// admitted only once the calls inside are fewer than the new limit. No
    /// permit is lost or counted twice. A caller already waiting keeps the
    /// `max_wait` it started with. What `resilience::config` does on a
    /// reload (feature `config`).
    ///
    /// # Panics
    ///
    /// If `max_concurrent` is 0 or above `usize::MAX / 2`, as
    /// [`Bulkhead::new`].
    ///
    /// ```
    /// use resilience::Bulkhead;
    /// use std::time::Duration;
    ///
    /// static POOL: Bulkhead = Bulkhead::new("pool", 2);
    /// let a = POOL.try_acquire().unwrap();
    /// let b = POOL.try_acquire().unwrap();
    /// POOL.reconfigure(1, Duration::ZERO, None);
    /// drop(a); // pays back the permit the shrink took
    /// assert!(POOL.try_acquire().is_none(), "one call is still inside");
    /// drop(b);
    /// assert!(POOL.try_acquire().is_some());
    /// assert_eq!(POOL.snapshot().max_concurrent, 1);
    /// ```
    pub fn reconfigure(&self, max_concurrent: usize, max_wait: Duration, max_queue: Option<usize>) {
        expect(check_max_concurrent(max_concurrent as u64));
        self.max_wait.set(max_wait);
        self.max_queue.set(max_queue.map_or(u64::MAX, |q| q as u64));
        // One resize at a time, under the queue's lock: `from` is the
        // limit the permits in the semaphore add up to.
        self.semaphore.resize(|| {
            let from = self.max_concurrent();
            self.max_concurrent.set(max_concurrent as u64);
            (from, max_concurrent)
        });
    }
}

impl Registrable for Bulkhead {
    const KIND: &'static str = "bulkhead";
    fn same_settings(&self, other: &Self) -> bool {
        (
            self.max_concurrent(),
            self.get_max_wait(),
            self.get_max_queue(),
        ) == (
            other.max_concurrent(),
            other.get_max_wait(),
            other.get_max_queue(),
        )
    }

    fn describe(&self) -> Description {
        let mut policy = Policy::new()
            .with("max_concurrent", self.max_concurrent())
            .with_duration("max_wait", self.get_max_wait());
        if let Some(max_queue) = self.get_max_queue() {
            policy = policy.with("max_queue", max_queue);
        }
        Description::new(
            Kind::Bulkhead,
            self.name(),
            policy,
            Snapshot::Bulkhead(self.snapshot()),
        )
    }
}

/// What a [`Bulkhead`] is doing right now (see [`Bulkhead::snapshot`]).
///
/// ```
/// # use resilience::Bulkhead;
/// let s = Bulkhead::new("db", 3).snapshot();
/// assert_eq!(s.max_concurrent, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BulkheadSnapshot {
    /// The number of permits.
    pub max_concurrent: usize,
    /// Permits free right now.
    pub available: usize,
    /// Permits held right now (calls inside, or admitted and about to be).
    pub in_use: usize,
    /// Callers waiting for a permit.
    pub waiting: usize,
    /// Calls refused since the bulkhead was created.
    pub rejected: u64,
    /// Calls by outcome since the bulkhead was created.
    pub calls: Calls,
}

/// A bulkhead permit; the permit goes back (to the first waiter, if any)
/// when this is dropped.
///
/// ```
/// # use resilience::Bulkhead;
/// let b = Bulkhead::new("db", 1);
/// {
///     let _permit = b.try_acquire().unwrap();
///     assert!(b.try_acquire().is_none());
/// }
/// assert!(b.try_acquire().is_some());
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
#[derive(Debug)]
pub struct BulkheadPermit<'a> {
    bulkhead: &'a Bulkhead,
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.semaphore.release();
    }
}

pin_project! {
    /// A place in a bulkhead's queue; gives it up when dropped unless
    /// admitted. Boxed whole, timer included (with the ticket's node, the
    /// only allocations): the fast path's futures stay small, and dropping
    /// one that never queued is a null check, inline.
    #[derive(Debug)]
    struct Queued<'a> {
        bulkhead: &'a Bulkhead,
        ticket: Option<Ticket>,
        // Fires at `max_wait`.
        #[pin]
        timer: Sleep,
    }

    impl PinnedDrop for Queued<'_> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(ticket) = this.ticket.take()
                && this.bulkhead.semaphore.withdraw(ticket)
            {
                // Admitted between its last poll and now: pass the permit on.
                this.bulkhead.semaphore.release();
            }
        }
    }
}

fn take_ticket(ticket: &mut Option<Ticket>) -> Ticket {
    ticket
        .take()
        .unwrap_or_else(|| unreachable!("a queued acquire holds its ticket"))
}

/// The future returned by [`Bulkhead::acquire`]: a [`BulkheadPermit`], or
/// [`Rejection::BulkheadFull`] when none frees within `max_wait`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// # use resilience::Bulkhead;
/// # use std::time::Duration;
/// let b = Bulkhead::new("db", 1).max_wait(Duration::from_millis(10));
/// let _held = b.acquire().await.unwrap();
/// assert!(b.acquire().await.is_err(), "refused after 10ms");
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct BulkheadAcquire<'a>(Acquirer<'a>);

impl<'a> Future for BulkheadAcquire<'a> {
    type Output = Result<BulkheadPermit<'a>, Rejection>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.try_fast() {
            Some(permit) => Poll::Ready(Ok(permit)),
            None => self.0.poll_slow(cx),
        }
    }
}

impl Drop for BulkheadAcquire<'_> {
    /// Inline, and only a null check unless the caller queued: the queue
    /// place's own drop (withdraw, timer) stays out of line.
    #[inline]
    fn drop(&mut self) {
        if self.0.queued.is_some() {
            leave_queue(&mut self.0.queued);
        }
    }
}

/// Gives up a queue place (its drop withdraws the ticket and frees the
/// timer). Out of line, and the only place that drops `queued` whole.
#[cold]
#[inline(never)]
fn leave_queue(queued: &mut ManuallyDrop<Option<Pin<Box<Queued<'_>>>>>) {
    drop(ManuallyDrop::into_inner(std::mem::replace(
        queued,
        ManuallyDrop::new(None),
    )));
}

/// What [`BulkheadAcquire`] and [`BulkheadFuture`] share: the bulkhead,
/// and the queue place of a caller that waits. No drop glue of its own
/// (`queued` is a `ManuallyDrop`): each owner checks it in its own drop,
/// so that a finished [`BulkheadFuture`]'s drop is two tests and no call
/// (with a drop here too, the glue of a timeout around a bulkhead was an
/// out-of-line function, ~16 instructions per call).
#[derive(Debug)]
struct Acquirer<'a> {
    bulkhead: &'a Bulkhead,
    // Reset with `*queued = None`, which drops the place; dropped whole
    // only by `leave_queue`.
    queued: ManuallyDrop<Option<Pin<Box<Queued<'a>>>>>,
}

impl<'a> Acquirer<'a> {
    /// A free permit, if nobody waits and this caller is not queued.
    #[inline]
    fn try_fast(&self) -> Option<BulkheadPermit<'a>> {
        if self.queued.is_some() {
            return None;
        }
        let bulkhead = self.bulkhead;
        bulkhead
            .semaphore
            .try_acquire()
            .then(|| BulkheadPermit { bulkhead })
    }

    /// Queues the caller, or checks on it while it waits.
    #[cold]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<Result<BulkheadPermit<'a>, Rejection>> {
        let bulkhead = self.bulkhead;
        let semaphore = &bulkhead.semaphore;
        let queued = match &mut *self.queued {
            Some(queued) => queued,
            None => {
                let max_wait = bulkhead.get_max_wait();
                if max_wait.is_zero() {
                    return Poll::Ready(Err(bulkhead.reject("no permit free")));
                }
                let max_queue = bulkhead.get_max_queue().unwrap_or(usize::MAX);
                match semaphore.acquire_or_enqueue(cx.waker(), max_queue) {
                    Enqueued::Acquired => return Poll::Ready(Ok(BulkheadPermit { bulkhead })),
                    Enqueued::Full => return Poll::Ready(Err(bulkhead.reject("queue full"))),
                    Enqueued::Queued(ticket) => (*self.queued).insert(Box::pin(Queued {
                        bulkhead,
                        ticket: Some(ticket),
                        timer: crate::time::sleep(max_wait, crate::time::BULKHEAD),
                    })),
                }
            }
        };
        let queued = queued.as_mut().project();
        let ticket = queued
            .ticket
            .as_ref()
            .unwrap_or_else(|| unreachable!("a queued acquire holds its ticket"));
        if semaphore.poll_ticket(ticket, cx.waker()) {
            take_ticket(queued.ticket);
            *self.queued = None;
            return Poll::Ready(Ok(BulkheadPermit { bulkhead }));
        }
        if queued.timer.poll(cx).is_pending() {
            return Poll::Pending;
        }
        let ticket = take_ticket(queued.ticket);
        *self.queued = None;
        if semaphore.withdraw(ticket) {
            // Admitted just as the time ran out.
            return Poll::Ready(Ok(BulkheadPermit { bulkhead }));
        }
        Poll::Ready(Err(bulkhead.reject("no permit freed within max_wait")))
    }
}

pin_project! {
    /// The future returned by [`Bulkhead::call`]: waits for a permit, then
    /// runs the call holding it, and releases it as soon as the call ends.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{Bulkhead, Rejection};
    /// let b = Bulkhead::new("db", 1);
    /// let call = b.call(async { Ok::<_, Rejection>(1) });
    /// assert_eq!(call.await, Ok(1));
    /// assert_eq!(b.snapshot().in_use, 0);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct BulkheadFuture<'a, F, E> {
        acquire: Acquirer<'a>,
        // Whether a pending call holds a permit of `acquire.bulkhead`. A
        // flag, not an `Option<BulkheadPermit>`: no drop glue to re-check
        // inline after every call; the drop below releases it.
        held: bool,
        #[pin]
        call: F,
        reject: fn(Rejection) -> E,
    }

    impl<F, E> PinnedDrop for BulkheadFuture<'_, F, E> {
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.held {
                *this.held = false;
                release_held(this.acquire.bulkhead);
            }
            if this.acquire.queued.is_some() {
                leave_queue(&mut this.acquire.queued);
            }
        }
    }
}

/// The permit of a call dropped while pending. Out of line, so that the
/// drop of a finished call stays a flag check small enough to inline
/// into the caller's future (with the release inline, the whole drop
/// glue was a call on every completed call).
#[cold]
#[inline(never)]
fn release_held(bulkhead: &Bulkhead) {
    drop(BulkheadPermit { bulkhead });
}

impl<F, T, E> Future for BulkheadFuture<'_, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The permit lives in a local while the call is polled and goes
        // into the future only if the call is pending: a call ready on its
        // first poll never stores and re-reads it through the future's
        // memory. A panic in the call drops the local, which releases it.
        let permit = match ready!(permit(this.held, this.acquire, cx)) {
            Ok(permit) => permit,
            Err(rejection) => return Poll::Ready(Err((this.reject)(rejection))),
        };
        let out = this.call.poll(cx);
        settle(out, permit, this.held)
    }
}

/// The permit released as soon as the call is done, not when the future
/// is dropped, and the call counted; kept while it waits. Generic over
/// the result alone, not the call: one copy serves every function with
/// the same result type behind a bulkhead (issue 23, compile time).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn settle<T, E>(
    out: Poll<Result<T, E>>,
    permit: BulkheadPermit<'_>,
    held: &mut bool,
) -> Poll<Result<T, E>> {
    let bulkhead = permit.bulkhead;
    // Taken apart and rebuilt: `Ok(v)` moves only `v`, not the whole
    // (possibly large) result.
    match out {
        Poll::Ready(Ok(value)) => {
            drop(permit);
            bulkhead.calls.record(true);
            Poll::Ready(Ok(value))
        }
        Poll::Ready(Err(error)) => {
            drop(permit);
            bulkhead.calls.record(false);
            Poll::Ready(Err(error))
        }
        Poll::Pending => {
            std::mem::forget(permit);
            *held = true;
            Poll::Pending
        }
    }
}

/// The call's permit: the one it holds while it waits, or one taken now
/// (queueing for it if the bulkhead is full). Apart from the call's
/// `poll`, which is instantiated for every function behind a bulkhead in
/// the user's crate, so that this is compiled once (issue 23, compile
/// time).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn permit<'a>(
    held: &mut bool,
    acquire: &mut Acquirer<'a>,
    cx: &mut Context<'_>,
) -> Poll<Result<BulkheadPermit<'a>, Rejection>> {
    if std::mem::take(held) {
        return Poll::Ready(Ok(BulkheadPermit {
            bulkhead: acquire.bulkhead,
        }));
    }
    match acquire.try_fast() {
        Some(permit) => Poll::Ready(Ok(permit)),
        None => acquire.poll_slow(cx),
    }
}

// For the tower layer (`crate::tower`), whose services and futures own
// their handle to the bulkhead (an `Arc` or a `&'static`) and so cannot
// keep a `BulkheadAcquire` or a `BulkheadPermit` that borrows it.
#[cfg(feature = "tower")]
#[derive(Debug)]
pub(crate) struct HeldQueue {
    ticket: Option<Ticket>,
    timer: Pin<Box<Sleep>>,
}

#[cfg(feature = "tower")]
impl Bulkhead {
    /// Keeps the permit taken without a borrow; give it back with
    /// [`resume`](Self::resume) (and drop that).
    pub(crate) fn hold(permit: BulkheadPermit<'_>) {
        std::mem::forget(permit);
    }

    /// The permit `hold` kept.
    pub(crate) fn resume(&self) -> BulkheadPermit<'_> {
        BulkheadPermit { bulkhead: self }
    }

    /// [`BulkheadAcquire::poll`] with the queue place in `queue`, owned by
    /// the caller, who must hand a place left there to
    /// [`leave_held_queue`](Self::leave_held_queue) when it gives up.
    pub(crate) fn poll_acquire_held(
        &self,
        queue: &mut Option<HeldQueue>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<BulkheadPermit<'_>, Rejection>> {
        let semaphore = &self.semaphore;
        let held = match queue {
            Some(held) => held,
            None => {
                if let Some(permit) = self.try_acquire() {
                    return Poll::Ready(Ok(permit));
                }
                let max_wait = self.get_max_wait();
                if max_wait.is_zero() {
                    return Poll::Ready(Err(self.reject("no permit free")));
                }
                let max_queue = self.get_max_queue().unwrap_or(usize::MAX);
                match semaphore.acquire_or_enqueue(cx.waker(), max_queue) {
                    Enqueued::Acquired => return Poll::Ready(Ok(self.resume())),
                    Enqueued::Full => return Poll::Ready(Err(self.reject("queue full"))),
                    Enqueued::Queued(ticket) => queue.insert(HeldQueue {
                        ticket: Some(ticket),
                        timer: Box::pin(crate::time::sleep(max_wait, crate::time::BULKHEAD)),
                    }),
                }
            }
        };
        let ticket = held
            .ticket
            .as_ref()
            .unwrap_or_else(|| unreachable!("a queued acquire holds its ticket"));
        if semaphore.poll_ticket(ticket, cx.waker()) {
            *queue = None;
            return Poll::Ready(Ok(self.resume()));
        }
        if held.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let ticket = take_ticket(&mut held.ticket);
        *queue = None;
        if semaphore.withdraw(ticket) {
            return Poll::Ready(Ok(self.resume()));
        }
        Poll::Ready(Err(self.reject("no permit freed within max_wait")))
    }

    /// Gives up a queue place of [`poll_acquire_held`](Self::poll_acquire_held);
    /// a permit handed to it meanwhile goes to the next waiter.
    pub(crate) fn leave_held_queue(&self, mut queue: HeldQueue) {
        if let Some(ticket) = queue.ticket.take()
            && self.semaphore.withdraw(ticket)
        {
            self.semaphore.release();
        }
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}

    #[test]
    fn futures_are_send_when_the_call_is() {
        let b = Bulkhead::new("b", 1);
        assert_send_sync(&b.acquire());
        assert_send_sync(&b.call(async { Ok::<_, Rejection>(()) }));
    }

    /// A refused `try_acquire` once built (and dropped, so released) a
    /// permit it never took, adding a permit on every refusal.
    #[test]
    fn regression_refused_try_acquire_adds_no_permit() {
        let b = Bulkhead::new("b", 1);
        let held = b.try_acquire().unwrap();
        for _ in 0..3 {
            assert!(b.try_acquire().is_none());
        }
        assert_eq!(b.snapshot().available, 0);
        drop(held);
        assert_eq!(b.snapshot().available, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn waiter_is_refused_after_max_wait_and_leaves_the_queue() {
        let b = Bulkhead::new("b", 1).max_wait(Duration::from_millis(10));
        let _held = b.try_acquire().unwrap();
        let start = tokio::time::Instant::now();
        assert!(b.acquire().await.is_err());
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        let s = b.snapshot();
        assert_eq!((s.waiting, s.rejected, s.in_use), (0, 1, 1));
    }
}
