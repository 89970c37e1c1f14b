//! Exact event counts without a locked instruction per event (issue 23).
//!
//! A `Relaxed` `fetch_add` is one instruction, but on x86 it is a locked
//! `xadd`: it drains the store buffer and costs ~20 cycles even when no
//! other core touches the line (`scripts/cycles.sh counter_fetch_add
//! counter_load_store`). Every layer counted its calls that way, once per
//! call, and that was most of each layer's constant cost in the awaited
//! harness.
//!
//! A [`Tally`] keeps one row of counters per thread instead ("lanes"),
//! each written by the one thread that owns it with a plain load and
//! store, and sums the rows when read (the snapshot, the metrics: rarely).
//! A thread claims a lane on its first count and gives it back when it
//! exits; the lane keeps its counts for the next owner, so nothing is lost.
//! Threads beyond [`LANES`] alive at once (and a thread's counts made while
//! it exits, after its lane went back) share one last row counted with
//! `fetch_add`, as before. Counts stay exact.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Threads that own a lane at a time.
pub(crate) const LANES: usize = 16;

/// The lane of a thread that has not counted yet.
const UNCLAIMED: usize = usize::MAX;
/// The shared row: no lane was free, or the thread is exiting.
const SHARED: usize = LANES;

thread_local! {
    // `const` and without drop glue: reading it is one thread-local load,
    // no lazy-initialisation check.
    static LANE: Cell<usize> = const { Cell::new(UNCLAIMED) };
    // Only its drop matters: it gives the lane back when the thread exits.
    static OWNER: Owner = Owner(claim());
}

/// Lanes given back by threads that exited, and the next never used.
static FREE: Mutex<(Vec<usize>, usize)> = Mutex::new((Vec::new(), 0));

struct Owner(usize);

impl Drop for Owner {
    fn drop(&mut self) {
        // Counts made from here on (other thread-locals' destructors) go
        // to the shared row: the lane may have a new owner already.
        LANE.with(|lane| lane.set(SHARED));
        if self.0 < LANES {
            // The mutex orders this thread's last stores to the lane
            // before the next owner's first load of it.
            free().0.push(self.0);
        }
    }
}

fn free() -> std::sync::MutexGuard<'static, (Vec<usize>, usize)> {
    // A push or a pop cannot leave the list half-written.
    FREE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A free lane, or [`SHARED`] if every lane is owned.
fn claim() -> usize {
    let mut free = free();
    let lane = match free.0.pop() {
        Some(lane) => lane,
        None if free.1 < LANES => {
            free.1 += 1;
            free.1 - 1
        }
        None => SHARED,
    };
    drop(free);
    LANE.with(|cell| cell.set(lane));
    lane
}

/// The calling thread's lane, claiming one on its first count.
#[cold]
#[inline(never)]
fn lane_slow() -> usize {
    match LANE.with(Cell::get) {
        UNCLAIMED => OWNER.try_with(|owner| owner.0).unwrap_or_else(|_| {
            // Exiting before it ever counted: no lane to claim.
            LANE.with(|cell| cell.set(SHARED));
            SHARED
        }),
        lane => lane,
    }
}

/// One thread's row, on its own cache line so two threads counting on
/// two cores do not take the line from each other.
#[derive(Debug)]
#[repr(align(64))]
struct Row<const K: usize>([AtomicU64; K]);

/// `K` exact counters, each bumped without a locked instruction.
#[derive(Debug)]
pub(crate) struct Tally<const K: usize> {
    rows: [Row<K>; LANES + 1],
}

impl<const K: usize> Default for Tally<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize> Tally<K> {
    pub(crate) const fn new() -> Self {
        Tally {
            rows: [const { Row([const { AtomicU64::new(0) }; K]) }; LANES + 1],
        }
    }

    /// Adds one to counter `i`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub(crate) fn add(&self, i: usize) {
        let lane = LANE.with(Cell::get);
        if lane < LANES {
            // This thread owns the lane: nobody else writes it, so a load
            // and a store lose no count. (Atomic, not plain, so that a
            // reader summing the rows is not a data race.)
            let cell = &self.rows[lane].0[i];
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        } else {
            self.add_slow(i);
        }
    }

    #[cold]
    #[inline(never)]
    fn add_slow(&self, i: usize) {
        let lane = lane_slow();
        if lane < LANES {
            let cell = &self.rows[lane].0[i];
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        } else {
            self.rows[SHARED].0[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counter `i`: every count made before this read started, and
    /// perhaps some made during it. Never less than an earlier read.
    pub(crate) fn get(&self, i: usize) -> u64 {
        self.rows.iter().fold(0u64, |sum, row| {
            sum.wrapping_add(row.0[i].load(Ordering::Relaxed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_more_threads_than_lanes_are_exact() {
        static TALLY: Tally<2> = Tally::new();
        // Three waves of threads: more at once than there are lanes, and
        // later threads taking over the lanes of exited ones.
        for _ in 0..3 {
            let threads: Vec<_> = (0..LANES + 4)
                .map(|t| {
                    std::thread::spawn(move || {
                        for n in 0..1000 {
                            TALLY.add((t + n) % 2);
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
        }
        let total = 3 * (LANES as u64 + 4) * 1000;
        assert_eq!(TALLY.get(0) + TALLY.get(1), total);
        assert_eq!(TALLY.get(0), total / 2);
    }

    #[test]
    fn counts_stay_exact_while_more_threads_than_lanes_count_at_once() {
        // Twice as many threads as lanes, all alive and counting at the
        // same time (a barrier before and after): at least LANES of them
        // share the last row, and a lane written by two threads, or the
        // shared row counted with a plain load and store, loses counts.
        static TALLY: Tally<1> = Tally::new();
        const THREADS: usize = 2 * LANES;
        const EACH: u64 = 200_000;
        let start = std::sync::Barrier::new(THREADS);
        let done = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    // Claims a lane (or the shared row) before the others
                    // exit, so none of them takes over an exited lane.
                    TALLY.add(0);
                    start.wait();
                    for _ in 1..EACH {
                        TALLY.add(0);
                    }
                    done.wait();
                });
            }
        });
        assert_eq!(TALLY.get(0), THREADS as u64 * EACH);
    }

    #[test]
    fn a_lane_keeps_its_counts_for_the_next_owner() {
        let tally = Tally::<1>::new();
        std::thread::scope(|s| {
            s.spawn(|| tally.add(0));
        });
        std::thread::scope(|s| {
            s.spawn(|| tally.add(0));
        });
        tally.add(0);
        assert_eq!(tally.get(0), 3);
    }
}
