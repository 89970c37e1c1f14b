//! The limiter's engine: calls in flight against a limit that moves, with a
//! priority queue of waiters behind a mutex.
//!
//! The state word holds the calls in flight shifted left by one, and a
//! `WAITERS` bit set exactly while the queue is not empty (as the
//! bulkhead's semaphore). While the bit is clear, admitting is a CAS that
//! increments below the limit and finishing is a CAS that decrements: no
//! lock, no allocation. While it is set, newcomers go through the lock and
//! a finishing call hands its place to the waiter at the front: the highest
//! priority, first in first out within one priority.
//!
//! The limit is a separate atomic: a call admitted just as the limit
//! shrinks may overshoot it by the calls racing it, which the next
//! completions drain. A limit that grows admits waiters through the lock
//! ([`Engine::set_limit`]).
//!
//! `contended` holds 1 + the highest priority that had to wait since the
//! last window (0: none). While it is set, a call of lower priority is
//! admitted only below `priority_share` of the limit, so lower-priority
//! calls drain to that share and the rest goes to the waiting priority.

use std::collections::VecDeque;
use std::task::Waker;

use crate::sync::const_unless_loom;
use crate::sync::{Arc, AtomicU8, AtomicUsize, Mutex, MutexGuard, Ordering};

/// Set while at least one waiter is queued.
const WAITERS: usize = 1;
/// One call in flight, in the units of the state word.
const ONE: usize = 2;

const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const SHED: u8 = 2;

pub(crate) struct Engine {
    state: AtomicUsize,
    pub(super) limit: AtomicUsize,
    contended: AtomicUsize,
    /// `priority_share` in 1/1024ths of the limit.
    pub(super) share: AtomicUsize,
    queue: Mutex<VecDeque<Waiter>>,
}

struct Waiter {
    priority: u8,
    status: Arc<AtomicU8>,
    waker: Waker,
}

/// A queued call's claim. It must be given back through
/// [`Engine::withdraw`] unless it was granted and turned into a permit, or
/// shed.
#[derive(Debug)]
pub(crate) struct Ticket(Arc<AtomicU8>);

/// Where a queued call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Still queued.
    Waiting,
    /// Handed a place: the caller holds it now.
    Granted,
    /// Displaced by a call of higher priority: refused.
    Shed,
}

impl Ticket {
    pub(crate) fn status(&self) -> Status {
        match self.0.load(Ordering::Acquire) {
            GRANTED => Status::Granted,
            SHED => Status::Shed,
            _ => Status::Waiting,
        }
    }
}

/// The result of [`Engine::acquire_or_enqueue`].
#[derive(Debug)]
pub(crate) enum Admit {
    Acquired,
    /// Queued; `displaced` is the priority of the waiter it pushed out of a
    /// full queue, if any.
    Queued {
        ticket: Ticket,
        displaced: Option<u8>,
    },
    /// The queue is full of calls of this priority or higher.
    Full,
}

impl Engine {
    const_unless_loom! {
        /// A limit of `limit` calls in flight; calls below the priority of a
        /// waiting one may hold `share_1024`/1024 of it.
        pub(crate) fn new(limit: usize, share_1024: usize) -> Self {
            Engine {
                state: AtomicUsize::new(0),
                limit: AtomicUsize::new(limit),
                contended: AtomicUsize::new(0),
                share: AtomicUsize::new(share_1024),
                queue: Mutex::new(VecDeque::new()),
            }
        }
    }

    /// Whether a call of `priority` may take the `n+1`-th place under `limit`.
    #[inline]
    fn allows(&self, priority: u8, n: usize, limit: usize) -> bool {
        if n >= limit {
            return false;
        }
        let contended = self.contended.load(Ordering::Relaxed);
        contended <= priority as usize + 1
            || n < (limit * self.share.load(Ordering::Relaxed)).div_ceil(1024)
    }

    /// Admits a call of `priority` if there is room and nobody is queued.
    /// Lock-free; never allocates.
    #[inline]
    pub(crate) fn try_acquire(&self, priority: u8) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & WAITERS != 0
                || !self.allows(priority, state / ONE, self.limit.load(Ordering::Relaxed))
            {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state + ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// A call ends: its place goes to the first waiter that may take it, or
    /// is given up. Lock-free while nobody waits.
    #[inline]
    pub(crate) fn release(&self) {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & WAITERS == 0 {
            match self.state.compare_exchange_weak(
                state,
                state - ONE,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        self.release_slow();
    }

    #[cold]
    fn release_slow(&self) {
        let mut queue = self.lock();
        // The bit cannot change while the lock is held; the count can
        // (fast-path releases do not happen with the bit set, and
        // fast-path acquires neither), so this is exact.
        self.state.fetch_sub(ONE, Ordering::AcqRel);
        self.admit_locked(&mut queue);
    }

    /// Grants the front waiters as long as the limit and the share allow.
    fn admit_locked(&self, queue: &mut VecDeque<Waiter>) {
        let limit = self.limit.load(Ordering::Relaxed);
        while let Some(front) = queue.front() {
            let n = self.state.load(Ordering::Acquire) / ONE;
            if !self.allows(front.priority, n, limit) {
                break;
            }
            let waiter = queue.pop_front().expect("front exists");
            self.state.fetch_add(ONE, Ordering::AcqRel);
            waiter.status.store(GRANTED, Ordering::Release);
            waiter.waker.wake();
        }
        if queue.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::AcqRel);
        }
    }

    /// Admits a call of `priority`, or queues it by priority (waking
    /// `waker` when it is granted or shed), displacing the lowest waiter of
    /// a full queue (`max_queue` waiters) if that one's priority is lower.
    pub(crate) fn acquire_or_enqueue(
        &self,
        priority: u8,
        waker: &Waker,
        max_queue: usize,
    ) -> Admit {
        let mut queue = self.lock();
        let limit = self.limit.load(Ordering::Relaxed);
        // A newcomer goes ahead of waiters of lower priority only.
        let ahead = queue.front().is_none_or(|w| w.priority < priority);
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if ahead && self.allows(priority, state / ONE, limit) {
                match self.state.compare_exchange_weak(
                    state,
                    state + ONE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Admit::Acquired,
                    Err(actual) => {
                        state = actual;
                        continue;
                    }
                }
            }
            if state & WAITERS != 0 {
                break;
            }
            // Full and nobody queued: raise the bit so that completions come
            // through the lock from now on.
            match self.state.compare_exchange_weak(
                state,
                state | WAITERS,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        let mut displaced = None;
        if queue.len() >= max_queue {
            match queue.back() {
                Some(last) if last.priority < priority => {
                    let last = queue.pop_back().expect("back exists");
                    last.status.store(SHED, Ordering::Release);
                    last.waker.wake();
                    displaced = Some(last.priority);
                }
                _ => {
                    if queue.is_empty() {
                        self.state.fetch_and(!WAITERS, Ordering::AcqRel);
                    }
                    return Admit::Full;
                }
            }
        }
        self.contended
            .fetch_max(priority as usize + 1, Ordering::Relaxed);
        let at = queue
            .iter()
            .position(|w| w.priority < priority)
            .unwrap_or(queue.len());
        let status = Arc::new(AtomicU8::new(WAITING));
        queue.insert(
            at,
            Waiter {
                priority,
                status: status.clone(),
                waker: waker.clone(),
            },
        );
        Admit::Queued {
            ticket: Ticket(status),
            displaced,
        }
    }

    /// Where `ticket` stands; while it waits, `waker` replaces the waker a
    /// grant will wake.
    pub(crate) fn poll_ticket(&self, ticket: &Ticket, waker: &Waker) -> Status {
        let status = ticket.status();
        if status != Status::Waiting {
            return status;
        }
        let mut queue = self.lock();
        let status = ticket.status();
        if status == Status::Waiting
            && let Some(waiter) = queue.iter_mut().find(|w| Arc::ptr_eq(&w.status, &ticket.0))
            && !waiter.waker.will_wake(waker)
        {
            waiter.waker = waker.clone();
        }
        status
    }

    /// Leaves the queue. `Granted`: the place had been handed over, and the
    /// caller holds it now; `Shed`: it had been displaced.
    pub(crate) fn withdraw(&self, ticket: Ticket) -> Status {
        let mut queue = self.lock();
        let status = ticket.status();
        if status != Status::Waiting {
            return status;
        }
        queue.retain(|w| !Arc::ptr_eq(&w.status, &ticket.0));
        // The waiter that left may have been what held the others back.
        self.admit_locked(&mut queue);
        Status::Waiting
    }

    /// Sets the limit; waiters it (or the end of contention, `contended`
    /// recomputed from the queue) makes room for are admitted.
    pub(crate) fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
        let mut queue = self.lock();
        let highest = queue.front().map_or(0, |w| w.priority as usize + 1);
        self.contended.store(highest, Ordering::Relaxed);
        self.admit_locked(&mut queue);
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Calls in flight right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.state.load(Ordering::Relaxed) / ONE
    }

    /// Calls queued right now.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Waiter>> {
        // No user code runs under the lock (a waker's `wake` only
        // schedules), so a poisoned lock still guards a consistent queue.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("Engine")
            .field("in_flight", &(state / ONE))
            .field("limit", &self.limit())
            .field("waiters", &(state & WAITERS != 0))
            .finish()
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    fn queued(admit: Admit) -> Ticket {
        match admit {
            Admit::Queued { ticket, .. } => ticket,
            other => panic!("should queue, got {other:?}"),
        }
    }

    #[test]
    fn higher_priority_waiters_are_granted_first() {
        let e = Engine::new(1, 1024);
        assert!(e.try_acquire(0));
        let low = queued(e.acquire_or_enqueue(1, Waker::noop(), usize::MAX));
        let high = queued(e.acquire_or_enqueue(5, Waker::noop(), usize::MAX));
        let low2 = queued(e.acquire_or_enqueue(1, Waker::noop(), usize::MAX));
        e.release();
        assert_eq!(high.status(), Status::Granted);
        assert_eq!(low.status(), Status::Waiting);
        assert!(!e.try_acquire(9), "a newcomer cannot skip the queue's lock");
        e.release();
        assert_eq!(
            low.status(),
            Status::Granted,
            "first in first out within a priority"
        );
        e.release();
        assert_eq!(low2.status(), Status::Granted);
        e.release();
        assert_eq!((e.in_flight(), e.waiting()), (0, 0));
        assert!(e.try_acquire(0), "fast path restored");
    }

    #[test]
    fn a_full_queue_sheds_its_lowest_waiter_for_a_higher_one() {
        let e = Engine::new(1, 1024);
        assert!(e.try_acquire(0));
        let low = queued(e.acquire_or_enqueue(0, Waker::noop(), 1));
        assert!(matches!(
            e.acquire_or_enqueue(0, Waker::noop(), 1),
            Admit::Full
        ));
        let Admit::Queued {
            ticket: high,
            displaced,
        } = e.acquire_or_enqueue(3, Waker::noop(), 1)
        else {
            panic!("the higher priority displaces the lower")
        };
        assert_eq!(displaced, Some(0));
        assert_eq!(low.status(), Status::Shed);
        assert_eq!(e.withdraw(low), Status::Shed);
        e.release();
        assert_eq!(high.status(), Status::Granted);
        e.release();
        assert_eq!(e.in_flight(), 0);
    }

    #[test]
    fn a_growing_limit_admits_waiters_and_a_shrinking_one_drains() {
        let e = Engine::new(1, 1024);
        assert!(e.try_acquire(0));
        let a = queued(e.acquire_or_enqueue(0, Waker::noop(), usize::MAX));
        e.set_limit(2);
        assert_eq!(a.status(), Status::Granted);
        assert_eq!(e.in_flight(), 2);
        e.set_limit(1);
        e.release();
        assert!(!e.try_acquire(0), "one in flight: at the new limit");
        e.release();
        assert!(e.try_acquire(0));
    }

    #[test]
    fn lower_priorities_keep_to_their_share_while_a_higher_one_waits() {
        // Limit 4, share 1/2: while priority 1 waits, priority 0 gets at
        // most 2 places.
        let e = Engine::new(4, 512);
        for _ in 0..4 {
            assert!(e.try_acquire(0));
        }
        let high = queued(e.acquire_or_enqueue(1, Waker::noop(), usize::MAX));
        e.release();
        assert_eq!(high.status(), Status::Granted);
        // 4 in flight: 3 low, 1 high. Two low end; a low newcomer is held
        // back at 2 in flight (the share), a high one is not.
        e.release();
        e.release();
        assert!(!e.try_acquire(0), "the low share (2 of 4) is used");
        assert!(e.try_acquire(1));
        // A window later with nobody waiting, the share lifts.
        e.set_limit(4);
        assert!(e.try_acquire(0));
    }

    /// A new window starts with the contention of the waiters still
    /// queued: while a priority-1 call waited at its start, priority 0
    /// keeps to its share through that window.
    #[test]
    fn a_window_keeps_the_contention_of_the_waiters_still_queued() {
        let e = Engine::new(4, 512);
        for _ in 0..4 {
            assert!(e.try_acquire(0));
        }
        let first = queued(e.acquire_or_enqueue(1, Waker::noop(), usize::MAX));
        let second = queued(e.acquire_or_enqueue(1, Waker::noop(), usize::MAX));
        e.set_limit(4);
        e.release();
        e.release();
        assert_eq!(
            (first.status(), second.status()),
            (Status::Granted, Status::Granted)
        );
        // 4 in flight: 2 low, 2 high; one low ends.
        e.release();
        assert!(!e.try_acquire(0), "3 of 4 in flight, over the low share");
        assert!(e.try_acquire(1));
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// A waiter polled again by another task (another waker) is woken
    /// there when its place comes, not where it first waited.
    #[test]
    fn a_grant_wakes_the_waker_of_the_last_poll() {
        let first = std::sync::Arc::new(Count(0.into()));
        let last = std::sync::Arc::new(Count(0.into()));
        let (first_waker, last_waker) = (Waker::from(first.clone()), Waker::from(last.clone()));
        let e = Engine::new(1, 1024);
        assert!(e.try_acquire(0));
        let ticket = queued(e.acquire_or_enqueue(0, &first_waker, usize::MAX));
        assert_eq!(e.poll_ticket(&ticket, &last_waker), Status::Waiting);
        e.release();
        assert_eq!(e.poll_ticket(&ticket, &last_waker), Status::Granted);
        let woken = |c: &Count| c.0.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!((woken(&first), woken(&last)), (0, 1));
    }

    /// With no queue (`max_queue` 0) a call at the limit is refused and
    /// leaves the count as it was: the call in flight still counted, and
    /// its end makes room for the next.
    #[test]
    fn a_call_refused_without_a_queue_leaves_the_count_alone() {
        let e = Engine::new(1, 1024);
        assert!(e.try_acquire(0));
        assert!(matches!(
            e.acquire_or_enqueue(0, Waker::noop(), 0),
            Admit::Full
        ));
        assert_eq!(e.in_flight(), 1);
        assert!(!e.try_acquire(0));
        e.release();
        assert_eq!(e.in_flight(), 0);
        assert!(e.try_acquire(0));
    }

    /// A low waiter held back by the share does not hold back a newcomer
    /// of higher priority, for which there is room: it is admitted at
    /// once, not queued behind (nor ahead of) the low one.
    #[test]
    fn a_waiter_held_back_by_the_share_does_not_hold_back_a_higher_newcomer() {
        let e = Engine::new(4, 512);
        for _ in 0..4 {
            assert!(e.try_acquire(0));
        }
        let high = queued(e.acquire_or_enqueue(1, Waker::noop(), usize::MAX));
        e.release();
        assert_eq!(high.status(), Status::Granted);
        e.release();
        e.release();
        // 2 of 4 in flight (1 low, 1 high): a low call waits for the share.
        let low = queued(e.acquire_or_enqueue(0, Waker::noop(), usize::MAX));
        assert!(matches!(
            e.acquire_or_enqueue(2, Waker::noop(), usize::MAX),
            Admit::Acquired
        ));
        assert_eq!(e.in_flight(), 3);
        assert!(
            matches!(
                e.acquire_or_enqueue(0, Waker::noop(), usize::MAX),
                Admit::Queued { .. }
            ),
            "a low newcomer queues behind the low waiter"
        );
        assert_eq!(low.status(), Status::Waiting);
    }
}

#[cfg(all(test, resilience_loom))]
mod loom_tests {
    //! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg resilience_loom"
    //! cargo test -p resilience-runtime --release --no-default-features --lib loom`.

    use super::*;
    use loom::sync::atomic::AtomicUsize as Counter;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// An acquire with no time limit, on the engine alone.
    struct Acquire<'a> {
        engine: &'a Engine,
        priority: u8,
        ticket: Option<Ticket>,
    }

    impl Future for Acquire<'_> {
        type Output = bool;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
            let engine = self.engine;
            match &self.ticket {
                None => {
                    if engine.try_acquire(self.priority) {
                        return Poll::Ready(true);
                    }
                    match engine.acquire_or_enqueue(self.priority, cx.waker(), usize::MAX) {
                        Admit::Acquired => Poll::Ready(true),
                        Admit::Full => Poll::Ready(false),
                        Admit::Queued { ticket, .. } => {
                            self.ticket = Some(ticket);
                            Poll::Pending
                        }
                    }
                }
                Some(ticket) => match engine.poll_ticket(ticket, cx.waker()) {
                    Status::Granted => Poll::Ready(true),
                    Status::Shed => Poll::Ready(false),
                    Status::Waiting => Poll::Pending,
                },
            }
        }
    }

    fn critical(inside: &Counter, max: usize) {
        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(now <= max, "{now} calls in flight under a limit of {max}");
        inside.fetch_sub(1, Ordering::SeqCst);
    }

    #[test]
    fn loom_waiters_and_a_fast_caller_never_exceed_the_limit() {
        loom::model(|| {
            let e = Arc::new(Engine::new(1, 1024));
            let inside = Arc::new(Counter::new(0));
            let handles: Vec<_> = [0u8, 1]
                .into_iter()
                .map(|priority| {
                    let (e, inside) = (e.clone(), inside.clone());
                    loom::thread::spawn(move || {
                        let acquire = Acquire {
                            engine: &e,
                            priority,
                            ticket: None,
                        };
                        assert!(loom::future::block_on(acquire));
                        critical(&inside, 1);
                        e.release();
                    })
                })
                .collect();
            if e.try_acquire(0) {
                critical(&inside, 1);
                e.release();
            }
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!((e.in_flight(), e.waiting()), (0, 0));
            assert!(e.try_acquire(0), "fast path restored");
        });
    }

    #[test]
    fn loom_a_limit_raised_while_a_caller_queues_admits_it() {
        loom::model(|| {
            let e = Arc::new(Engine::new(1, 1024));
            assert!(e.try_acquire(0));
            let waiter = {
                let e = e.clone();
                loom::thread::spawn(move || {
                    let acquire = Acquire {
                        engine: &e,
                        priority: 0,
                        ticket: None,
                    };
                    // Admitted by the raised limit, not by the release,
                    // which comes only after.
                    assert!(loom::future::block_on(acquire));
                    e.release();
                })
            };
            e.set_limit(2);
            waiter.join().unwrap();
            e.release();
            assert_eq!((e.in_flight(), e.waiting()), (0, 0));
        });
    }

    #[test]
    fn loom_withdraw_racing_a_release_keeps_the_count() {
        loom::model(|| {
            let e = Arc::new(Engine::new(1, 1024));
            assert!(e.try_acquire(0));
            let Admit::Queued { ticket, .. } = e.acquire_or_enqueue(0, Waker::noop(), usize::MAX)
            else {
                panic!("should queue")
            };
            let releaser = {
                let e = e.clone();
                loom::thread::spawn(move || e.release())
            };
            // A waiter dropped before admission passes a place it was
            // handed on; it never keeps it.
            if e.withdraw(ticket) == Status::Granted {
                e.release();
            }
            releaser.join().unwrap();
            assert_eq!((e.in_flight(), e.waiting()), (0, 0));
            assert!(e.try_acquire(0), "fast path restored");
        });
    }
}
