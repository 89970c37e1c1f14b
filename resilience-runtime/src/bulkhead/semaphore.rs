//! The bulkhead's engine: a counting semaphore whose uncontended path is one
//! compare-and-swap, with a FIFO queue of waiters behind a mutex.
//!
//! The state word holds the free permits shifted left by one, and a
//! `WAITERS` bit that is set exactly while the queue is not empty. While the
//! bit is clear, acquiring is a CAS that decrements and releasing is a CAS
//! that increments: no lock, no allocation. While it is set there are no
//! free permits, acquirers queue up and a release hands its permit straight
//! to the waiter at the front, so waiters are admitted in arrival order and
//! a newcomer cannot overtake them.
//!
//! The bit is only set and cleared with the queue's lock held, and a
//! release that sees it set takes the lock, so a release cannot slip a
//! permit past a waiter that is being queued.

use std::collections::VecDeque;
use std::task::Waker;

use crate::sync::const_unless_loom;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering};

/// Set while at least one waiter is queued.
const WAITERS: usize = 1;
/// One permit, in the units of the state word.
const ONE: usize = 2;
/// The most permits a semaphore can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 1;

pub(crate) struct Semaphore {
    state: AtomicUsize,
    queue: Mutex<VecDeque<Waiter>>,
    /// Permits a shrink took back while they were held (issue 14): the
    /// releases that pay them back go to nobody. Read and written with the
    /// queue's lock held; while above zero the `WAITERS` bit stays set, so
    /// every release comes through the lock and the fast paths are as
    /// they were.
    debt: AtomicUsize,
}

struct Waiter {
    granted: Arc<AtomicBool>,
    waker: Waker,
}

/// A queued acquirer's claim. It must be given back through
/// [`Semaphore::withdraw`] unless it was granted and turned into a permit.
#[derive(Debug)]
pub(crate) struct Ticket(Arc<AtomicBool>);

impl Ticket {
    /// Whether a release has handed this waiter its permit.
    pub(crate) fn is_granted(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The result of [`Semaphore::acquire_or_enqueue`].
#[derive(Debug)]
pub(crate) enum Enqueued {
    Acquired,
    Queued(Ticket),
    Full,
}

impl Semaphore {
    const_unless_loom! {
        /// `permits` free permits (at most [`MAX_PERMITS`]).
        pub(crate) fn new(permits: usize) -> Self {
            assert!(permits <= MAX_PERMITS, "too many permits");
            Semaphore {
                state: AtomicUsize::new(permits * ONE),
                queue: Mutex::new(VecDeque::new()),
                debt: AtomicUsize::new(0),
            }
        }
    }

    /// Takes a free permit if there is one and nobody is queued for it.
    /// Lock-free; never allocates.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & WAITERS != 0 || state < ONE {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state - ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Gives a permit back: to the first waiter if there is one, else to
    /// the pool. Lock-free while nobody waits.
    #[inline]
    pub(crate) fn release(&self) {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & WAITERS == 0 {
            match self.state.compare_exchange_weak(
                state,
                state + ONE,
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
        let wake = self.release_locked(&mut queue);
        drop(queue);
        if let Some(waker) = wake {
            waker.wake();
        }
    }

    /// Hands the permit to the front waiter, or back to the pool when the
    /// queue emptied since the caller saw the `WAITERS` bit.
    fn release_locked(&self, queue: &mut VecDeque<Waiter>) -> Option<Waker> {
        let debt = self.debt.load(Ordering::Relaxed);
        if debt > 0 {
            // A permit a shrink took back: it goes to nobody.
            self.debt.store(debt - 1, Ordering::Relaxed);
            if debt == 1 && queue.is_empty() {
                self.state.fetch_and(!WAITERS, Ordering::AcqRel);
            }
            return None;
        }
        match queue.pop_front() {
            Some(waiter) => {
                if queue.is_empty() {
                    self.state.fetch_and(!WAITERS, Ordering::AcqRel);
                }
                waiter.granted.store(true, Ordering::Release);
                Some(waiter.waker)
            }
            None => {
                // With the lock held and the queue empty the bit is clear
                // and stays clear: a plain increment is enough.
                self.state.fetch_add(ONE, Ordering::Release);
                None
            }
        }
    }

    /// Takes a free permit, or queues the caller behind the current waiters
    /// (waking `waker` when a permit is handed over), or reports the queue
    /// full when `max_queue` callers already wait.
    pub(crate) fn acquire_or_enqueue(&self, waker: &Waker, max_queue: usize) -> Enqueued {
        let mut queue = self.lock();
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & WAITERS == 0 && state >= ONE {
                match self.state.compare_exchange_weak(
                    state,
                    state - ONE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Enqueued::Acquired,
                    Err(actual) => {
                        state = actual;
                        continue;
                    }
                }
            }
            if queue.len() >= max_queue {
                return Enqueued::Full;
            }
            if state & WAITERS != 0 {
                break;
            }
            // No permit and nobody queued: raise the bit so that releases
            // come through the lock from now on.
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
        let granted = Arc::new(AtomicBool::new(false));
        queue.push_back(Waiter {
            granted: granted.clone(),
            waker: waker.clone(),
        });
        Enqueued::Queued(Ticket(granted))
    }

    /// Whether `ticket` was granted; if not, `waker` replaces the waker the
    /// release will wake.
    pub(crate) fn poll_ticket(&self, ticket: &Ticket, waker: &Waker) -> bool {
        if ticket.is_granted() {
            return true;
        }
        let mut queue = self.lock();
        if ticket.is_granted() {
            return true;
        }
        if let Some(waiter) = queue
            .iter_mut()
            .find(|w| Arc::ptr_eq(&w.granted, &ticket.0))
            && !waiter.waker.will_wake(waker)
        {
            waiter.waker = waker.clone();
        }
        false
    }

    /// Leaves the queue. Returns `true` if the permit had already been
    /// handed over, in which case the caller now holds it.
    pub(crate) fn withdraw(&self, ticket: Ticket) -> bool {
        let mut queue = self.lock();
        if ticket.is_granted() {
            return true;
        }
        queue.retain(|w| !Arc::ptr_eq(&w.granted, &ticket.0));
        if queue.is_empty() && self.debt.load(Ordering::Relaxed) == 0 {
            self.state.fetch_and(!WAITERS, Ordering::AcqRel);
        }
        false
    }

    /// Free permits right now.
    pub(crate) fn available(&self) -> usize {
        self.state.load(Ordering::Relaxed) / ONE
    }

    /// Permits a shrink took back that are still held.
    pub(crate) fn owed(&self) -> usize {
        let _queue = self.lock();
        self.debt.load(Ordering::Relaxed)
    }

    /// Moves the number of permits from `from` to `to`, as `limits` (run
    /// with the lock held, so resizes do not interleave) gives them, keeping
    /// every permit held: more permits go to the waiters first (after
    /// paying back what an earlier shrink owes), fewer are taken from the
    /// free ones and, for the rest, from the next releases.
    pub(crate) fn resize(&self, limits: impl FnOnce() -> (usize, usize)) {
        let mut queue = self.lock();
        let (from, to) = limits();
        let mut wakers = Vec::new();
        if to > from {
            let mut more = to - from;
            let debt = self.debt.load(Ordering::Relaxed);
            let paid = debt.min(more);
            self.debt.store(debt - paid, Ordering::Relaxed);
            more -= paid;
            if debt == paid {
                while more > 0 {
                    let Some(waiter) = queue.pop_front() else {
                        break;
                    };
                    waiter.granted.store(true, Ordering::Release);
                    wakers.push(waiter.waker);
                    more -= 1;
                }
                if queue.is_empty() {
                    self.state.fetch_and(!WAITERS, Ordering::AcqRel);
                }
            }
            if more > 0 {
                self.state.fetch_add(more * ONE, Ordering::Release);
            }
        } else if from > to {
            let less = from - to;
            let mut state = self.state.load(Ordering::Acquire);
            loop {
                let taken = (state / ONE).min(less);
                let owed = less - taken;
                let next = (state - taken * ONE) | if owed > 0 { WAITERS } else { 0 };
                match self.state.compare_exchange_weak(
                    state,
                    next,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        self.debt.fetch_add(owed, Ordering::Relaxed);
                        break;
                    }
                    Err(actual) => state = actual,
                }
            }
        }
        drop(queue);
        for waker in wakers {
            waker.wake();
        }
    }

    /// Callers queued right now.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Waiter>> {
        // Nothing panics while the lock is held (no user code runs under
        // it), so a poisoned lock still guards a consistent queue.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("Semaphore")
            .field("available", &(state / ONE))
            .field("waiters", &(state & WAITERS != 0))
            .finish()
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn fast_path_counts_permits() {
        let s = Semaphore::new(2);
        assert!(s.try_acquire());
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        s.release();
        assert_eq!(s.available(), 1);
        assert!(s.try_acquire());
    }

    #[test]
    fn hands_off_in_arrival_order_and_blocks_newcomers() {
        let s = Semaphore::new(1);
        assert!(s.try_acquire());
        let waker = Waker::noop();
        let Enqueued::Queued(first) = s.acquire_or_enqueue(waker, usize::MAX) else {
            panic!("should queue")
        };
        let Enqueued::Queued(second) = s.acquire_or_enqueue(waker, usize::MAX) else {
            panic!("should queue")
        };
        s.release();
        assert!(first.is_granted() && !second.is_granted());
        // A newcomer cannot overtake the queued waiter.
        assert!(!s.try_acquire());
        s.release(); // `first` done
        assert!(second.is_granted());
        assert!(!s.try_acquire(), "the permit went to `second`");
        s.release(); // `second` done
        assert_eq!(s.available(), 1);
        assert!(s.try_acquire());
    }

    #[test]
    fn a_shrink_keeps_held_permits_and_a_grow_pays_back_first() {
        let s = Semaphore::new(3);
        assert!(s.try_acquire() && s.try_acquire());
        s.resize(|| (3, 1)); // one free taken now, one owed
        assert_eq!((s.available(), s.owed()), (0, 1));
        assert!(!s.try_acquire());
        s.release(); // pays the debt
        assert_eq!((s.available(), s.owed()), (0, 0));
        assert!(!s.try_acquire(), "one call is still inside a limit of 1");
        s.release();
        assert!(s.try_acquire());
        s.resize(|| (1, 2)); // a free permit, at once
        assert!(s.try_acquire());
        s.resize(|| (2, 1)); // both held: one owed
        let waker = Waker::noop();
        let Enqueued::Queued(waiting) = s.acquire_or_enqueue(waker, usize::MAX) else {
            panic!("should queue behind the debt")
        };
        s.resize(|| (1, 3)); // pays the debt, then the waiter
        assert!(waiting.is_granted());
        assert_eq!((s.available(), s.owed()), (0, 0));
        for _ in 0..3 {
            s.release();
        }
        assert_eq!(s.available(), 3);
    }

    #[derive(Debug, Clone)]
    enum Op {
        TryAcquire,
        AcquireOrEnqueue,
        Release,
        /// Gives up the n-th outstanding ticket (mod their number).
        Withdraw(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Op::TryAcquire),
            Just(Op::AcquireOrEnqueue),
            Just(Op::Release),
            any::<usize>().prop_map(Op::Withdraw),
        ]
    }

    proptest::proptest! {
        /// The engine against a ten-line model: a permit count and a FIFO
        /// queue, with a release handing its permit to the queue's head.
        #[test]
        fn behaves_like_a_fifo_counting_semaphore(
            permits in 1usize..4,
            ops in proptest::collection::vec(op(), 1..60),
        ) {
            let s = Semaphore::new(permits);
            let (mut free, mut held) = (permits, 0usize);
            let mut queue: VecDeque<usize> = VecDeque::new();
            let mut tickets: Vec<(usize, Ticket)> = Vec::new();
            let mut next_id = 0;
            for op in ops {
                match op {
                    Op::TryAcquire => {
                        let expected = queue.is_empty() && free > 0;
                        proptest::prop_assert_eq!(s.try_acquire(), expected);
                        if expected { free -= 1; held += 1; }
                    }
                    Op::AcquireOrEnqueue => match s.acquire_or_enqueue(Waker::noop(), usize::MAX) {
                        Enqueued::Acquired => {
                            proptest::prop_assert!(queue.is_empty() && free > 0);
                            free -= 1;
                            held += 1;
                        }
                        Enqueued::Queued(ticket) => {
                            proptest::prop_assert!(!queue.is_empty() || free == 0);
                            queue.push_back(next_id);
                            tickets.push((next_id, ticket));
                            next_id += 1;
                        }
                        Enqueued::Full => proptest::prop_assert!(false, "unbounded queue"),
                    },
                    Op::Release if held > 0 => {
                        s.release();
                        held -= 1;
                        match queue.pop_front() {
                            // The waiter at the head now holds the permit.
                            Some(_) => held += 1,
                            None => free += 1,
                        }
                    }
                    Op::Release => {}
                    Op::Withdraw(n) if !tickets.is_empty() => {
                        let (id, ticket) = tickets.remove(n % tickets.len());
                        let was_queued = queue.contains(&id);
                        queue.retain(|q| *q != id);
                        // Granted: the caller holds the permit now.
                        proptest::prop_assert_eq!(s.withdraw(ticket), !was_queued);
                    }
                    Op::Withdraw(_) => {}
                }
                proptest::prop_assert_eq!(s.available(), free);
                proptest::prop_assert_eq!(s.waiting(), queue.len());
                for (id, ticket) in &tickets {
                    proptest::prop_assert_eq!(ticket.is_granted(), !queue.contains(id));
                }
            }
        }
    }

    #[test]
    fn withdrawn_waiter_holds_nothing() {
        let s = Semaphore::new(1);
        assert!(s.try_acquire());
        let Enqueued::Queued(t) = s.acquire_or_enqueue(Waker::noop(), 1) else {
            panic!("should queue")
        };
        assert!(matches!(
            s.acquire_or_enqueue(Waker::noop(), 1),
            Enqueued::Full
        ));
        assert!(!s.withdraw(t));
        assert_eq!(s.waiting(), 0);
        s.release();
        assert_eq!(s.available(), 1);
        assert!(s.try_acquire(), "fast path is back once the queue is empty");
    }
}

#[cfg(all(test, resilience_loom))]
mod loom_tests {
    //! Run with `RUSTFLAGS="--cfg resilience_loom" LOOM_MAX_PREEMPTIONS=3
    //! cargo test -p resilience-runtime --release --lib loom`.

    use super::*;
    use loom::sync::atomic::AtomicUsize as Counter;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// An acquire with no time limit, on the engine alone.
    struct Acquire<'a> {
        semaphore: &'a Semaphore,
        ticket: Option<Ticket>,
    }

    impl Future for Acquire<'_> {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let semaphore = self.semaphore;
            match &self.ticket {
                None => {
                    if semaphore.try_acquire() {
                        return Poll::Ready(());
                    }
                    match semaphore.acquire_or_enqueue(cx.waker(), usize::MAX) {
                        Enqueued::Acquired => Poll::Ready(()),
                        Enqueued::Full => unreachable!("unbounded queue"),
                        Enqueued::Queued(ticket) => {
                            self.ticket = Some(ticket);
                            Poll::Pending
                        }
                    }
                }
                Some(ticket) => {
                    if semaphore.poll_ticket(ticket, cx.waker()) {
                        self.ticket = None;
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }
            }
        }
    }

    fn acquire(semaphore: &Semaphore) -> Acquire<'_> {
        Acquire {
            semaphore,
            ticket: None,
        }
    }

    /// Runs `f` as the holder of a permit, checking nobody else holds more
    /// than `max` at once.
    fn critical(inside: &Counter, max: usize) {
        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(now <= max, "{now} holders of {max} permits");
        inside.fetch_sub(1, Ordering::SeqCst);
    }

    #[test]
    fn loom_fast_path_is_mutually_exclusive() {
        loom::model(|| {
            let s = Arc::new(Semaphore::new(1));
            let inside = Arc::new(Counter::new(0));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (s, inside) = (s.clone(), inside.clone());
                    loom::thread::spawn(move || {
                        if s.try_acquire() {
                            critical(&inside, 1);
                            s.release();
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(s.available(), 1);
        });
    }

    #[test]
    fn loom_release_hands_off_to_waiter() {
        loom::model(|| {
            let s = Arc::new(Semaphore::new(1));
            let inside = Arc::new(Counter::new(0));
            assert!(s.try_acquire());
            inside.fetch_add(1, Ordering::SeqCst);
            let waiter = {
                let (s, inside) = (s.clone(), inside.clone());
                loom::thread::spawn(move || {
                    loom::future::block_on(acquire(&s));
                    critical(&inside, 1);
                    s.release();
                })
            };
            inside.fetch_sub(1, Ordering::SeqCst);
            s.release();
            waiter.join().unwrap();
            assert_eq!(s.available(), 1);
            assert_eq!(s.waiting(), 0);
            assert!(s.try_acquire(), "fast path restored");
        });
    }

    #[test]
    fn loom_two_waiters_and_a_fast_acquirer_never_exceed_the_permits() {
        loom::model(|| {
            let s = Arc::new(Semaphore::new(1));
            let inside = Arc::new(Counter::new(0));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (s, inside) = (s.clone(), inside.clone());
                    loom::thread::spawn(move || {
                        loom::future::block_on(acquire(&s));
                        critical(&inside, 1);
                        s.release();
                    })
                })
                .collect();
            if s.try_acquire() {
                critical(&inside, 1);
                s.release();
            }
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(s.available(), 1);
            assert_eq!(s.waiting(), 0);
        });
    }

    #[test]
    fn loom_withdraw_racing_a_release_keeps_the_permit() {
        loom::model(|| {
            let s = Arc::new(Semaphore::new(1));
            assert!(s.try_acquire());
            let Enqueued::Queued(ticket) = s.acquire_or_enqueue(futures_noop(), usize::MAX) else {
                panic!("should queue")
            };
            let releaser = {
                let s = s.clone();
                loom::thread::spawn(move || s.release())
            };
            // A waiter dropped before admission: if the permit reached it,
            // it passes the permit on; it never keeps it.
            if s.withdraw(ticket) {
                s.release();
            }
            releaser.join().unwrap();
            assert_eq!(s.available(), 1);
            assert_eq!(s.waiting(), 0);
            assert!(s.try_acquire(), "fast path restored");
        });
    }

    fn futures_noop() -> &'static Waker {
        Waker::noop()
    }
}

/// What mutation testing (issue 22) found no test pinning down: which
/// waker a release wakes, and the counts a bulkhead reports.
#[cfg(all(test, not(resilience_loom)))]
mod mutants_tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as Count;
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct Counting(Count);

    impl Wake for Counting {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (std::sync::Arc<Counting>, Waker) {
        let count = std::sync::Arc::new(Counting(Count::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn a_waiter_polled_from_another_task_is_woken_there() {
        let s = Semaphore::new(1);
        assert!(s.try_acquire());
        let (first, first_waker) = counting();
        let Enqueued::Queued(ticket) = s.acquire_or_enqueue(&first_waker, usize::MAX) else {
            panic!("should queue")
        };
        // The waiting future moves to another task: polled with its waker.
        let (moved, moved_waker) = counting();
        assert!(!s.poll_ticket(&ticket, &moved_waker));
        s.release();
        assert_eq!(moved.0.load(Ordering::SeqCst), 1, "the task now polling it");
        assert_eq!(first.0.load(Ordering::SeqCst), 0, "not the one it left");
        assert!(s.poll_ticket(&ticket, &moved_waker), "granted");
    }

    #[test]
    fn a_waiter_polled_again_by_the_same_task_is_woken_once() {
        let s = Semaphore::new(1);
        assert!(s.try_acquire());
        let (count, waker) = counting();
        let Enqueued::Queued(ticket) = s.acquire_or_enqueue(&waker, usize::MAX) else {
            panic!("should queue")
        };
        assert!(!s.poll_ticket(&ticket, &waker));
        assert!(!s.poll_ticket(&ticket, &waker.clone()));
        s.release();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_counts_follow_permits_and_waiters() {
        let s = Semaphore::new(3);
        assert_eq!((s.available(), s.waiting()), (3, 0));
        assert!(s.try_acquire());
        assert!(s.try_acquire());
        assert_eq!((s.available(), s.waiting()), (1, 0));
        assert!(matches!(
            s.acquire_or_enqueue(Waker::noop(), usize::MAX),
            Enqueued::Acquired
        ));
        let Enqueued::Queued(a) = s.acquire_or_enqueue(Waker::noop(), usize::MAX) else {
            panic!("should queue")
        };
        let Enqueued::Queued(b) = s.acquire_or_enqueue(Waker::noop(), usize::MAX) else {
            panic!("should queue")
        };
        assert_eq!((s.available(), s.waiting()), (0, 2));
        assert!(!s.withdraw(a));
        assert_eq!((s.available(), s.waiting()), (0, 1));
        s.release();
        assert!(b.is_granted());
        assert_eq!((s.available(), s.waiting()), (0, 0));
        assert!(
            s.withdraw(b),
            "granted before it withdrew: it holds the permit"
        );
        s.release();
        s.release();
        s.release();
        assert_eq!((s.available(), s.waiting()), (3, 0));
    }

    #[test]
    fn holds_up_to_max_permits_and_refuses_more_at_construction() {
        let s = Semaphore::new(MAX_PERMITS);
        assert_eq!(s.available(), usize::MAX / 2);
        assert!(s.try_acquire());
        assert_eq!(s.available(), usize::MAX / 2 - 1);
        let more = std::panic::catch_unwind(|| Semaphore::new(MAX_PERMITS + 1));
        let message = *more.unwrap_err().downcast::<&str>().unwrap();
        assert_eq!(message, "too many permits");
    }

    /// The documented fast path: with nobody queued, a release and an
    /// acquire never wait for the queue's lock (held here, as a slow
    /// caller would hold it).
    #[test]
    fn without_waiters_release_and_acquire_never_take_the_lock() {
        let s = Semaphore::new(1);
        assert!(s.try_acquire());
        let guard = s.lock();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                s.release();
                assert!(s.try_acquire());
                s.release();
                done.send(()).unwrap();
            });
            let lock_free = finished.recv_timeout(std::time::Duration::from_secs(5));
            drop(guard);
            assert!(lock_free.is_ok(), "release waited for the queue's lock");
        });
        assert_eq!(s.available(), 1);
    }

    #[test]
    fn a_full_queue_refuses_only_past_max_queue() {
        let s = Semaphore::new(1);
        assert!(s.try_acquire());
        let mut tickets = Vec::new();
        for _ in 0..2 {
            match s.acquire_or_enqueue(Waker::noop(), 2) {
                Enqueued::Queued(t) => tickets.push(t),
                other => panic!("room for two waiters, got {other:?}"),
            }
        }
        assert!(matches!(
            s.acquire_or_enqueue(Waker::noop(), 2),
            Enqueued::Full
        ));
        assert!(matches!(
            s.acquire_or_enqueue(Waker::noop(), 0),
            Enqueued::Full
        ));
        for t in tickets {
            assert!(!s.withdraw(t));
        }
        s.release();
        assert!(s.try_acquire(), "the queue emptied: the fast path is back");
    }
}
