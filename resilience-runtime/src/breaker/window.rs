//! Rate mode's memory of recent calls: the last N calls (a lock-free ring)
//! or the calls of the last T (ten lock-free time buckets).
//!
//! Both are approximate under concurrency in the way a striped counter is:
//! every recorded call is counted exactly once, but a reader racing with
//! writers may see one call's slot before its totals. Readers discard
//! totals that are out of range rather than act on them.

#[cfg(not(resilience_loom))]
use std::sync::OnceLock;

use crate::sync::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed, const_unless_loom};

/// Totals of the calls currently in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

/// One call's entry, as the window stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) failure: bool,
    pub(crate) slow: bool,
}

pub(crate) enum Window {
    /// Consecutive mode keeps no window.
    None,
    Calls(CallRing),
    Time(TimeBuckets),
}

impl Window {
    /// Records one call and returns the totals as this record left them
    /// (including every record ordered before it), or `None` when there is
    /// nothing new to judge: the totals did not change, or a concurrent
    /// write left them inconsistent for a moment.
    pub(crate) fn record(&self, sample: Sample, now_us: impl FnOnce() -> u64) -> Option<Counts> {
        match self {
            Window::None => Some(Counts::default()),
            Window::Calls(ring) => ring.record(sample),
            Window::Time(buckets) => Some(buckets.record(sample, now_us())),
        }
    }

    /// The totals now, or `None` when a concurrent write left them
    /// inconsistent.
    pub(crate) fn counts(&self, now_us: impl FnOnce() -> u64) -> Option<Counts> {
        match self {
            Window::None => Some(Counts::default()),
            Window::Calls(ring) => ring.counts(),
            Window::Time(buckets) => Some(buckets.counts(now_us(), None)),
        }
    }

    pub(crate) fn clear(&self) {
        match self {
            Window::None => {}
            Window::Calls(ring) => ring.clear(),
            Window::Time(buckets) => buckets.clear(),
        }
    }
}

const EMPTY: u8 = 0;
const SUCCESS: u8 = 1;
const FAILURE: u8 = 2;
const SLOW: u8 = 4;

fn encode(sample: Sample) -> u8 {
    (if sample.failure { FAILURE } else { SUCCESS }) | if sample.slow { SLOW } else { 0 }
}

/// The largest count window: the ring's totals are 21-bit fields.
pub(crate) const MAX_CALLS_WINDOW: u32 = 1_000_000;

// The ring's three totals live in one word, so that one read-modify-write
// both updates them and returns them: the call recorded last always sees
// every call recorded before it.
const TOTAL_BITS: u32 = 21;
const TOTAL_MASK: u64 = (1 << TOTAL_BITS) - 1;
const CALLS_SHIFT: u32 = 2 * TOTAL_BITS;
const FAILURES_SHIFT: u32 = TOTAL_BITS;

fn unpack_totals(word: u64) -> Counts {
    Counts {
        calls: (word >> CALLS_SHIFT) as u32,
        failures: ((word >> FAILURES_SHIFT) & TOTAL_MASK) as u32,
        slow: (word & TOTAL_MASK) as u32,
    }
}

/// How replacing `old` by `new` in a slot changes the packed totals, as a
/// wrapping addend (a field may go down by one).
fn delta(old: u8, new: u8) -> u64 {
    let field = |bit: u8, shift: u32| -> u64 {
        match (old & bit != 0, new & bit != 0) {
            (false, true) => 1u64 << shift,
            (true, false) => (1u64 << shift).wrapping_neg(),
            _ => 0,
        }
    };
    field(SUCCESS | FAILURE, CALLS_SHIFT)
        .wrapping_add(field(FAILURE, FAILURES_SHIFT))
        .wrapping_add(field(SLOW, 0))
}

/// The last `size` calls. Slots are allocated on first use so that the
/// breaker stays `const`-constructible (usable in a `static`); under loom,
/// which cannot see through `OnceLock`, they are allocated up front.
pub(crate) struct CallRing {
    size: u32,
    #[cfg(not(resilience_loom))]
    slots: OnceLock<Box<[AtomicU8]>>,
    #[cfg(resilience_loom)]
    slots: Box<[AtomicU8]>,
    /// The next slot's index, before the modulo. 32 bits: a 32-bit
    /// division is several times cheaper than a 64-bit one. Where the
    /// count wraps (every 2^32 calls) the ring jumps back to slot 0 unless
    /// `size` divides 2^32, so for one lap a few slots hold calls a little
    /// older than the window: harmless for a failure rate.
    next: AtomicU32,
    totals: AtomicU64,
}

impl CallRing {
    const_unless_loom! {
        pub(crate) fn new(size: u32) -> Self {
            let size = if size == 0 {
                1
            } else if size > MAX_CALLS_WINDOW {
                MAX_CALLS_WINDOW
            } else {
                size
            };
            CallRing {
                size,
                #[cfg(not(resilience_loom))]
                slots: OnceLock::new(),
                #[cfg(resilience_loom)]
                slots: (0..size).map(|_| AtomicU8::new(EMPTY)).collect(),
                next: AtomicU32::new(0),
                totals: AtomicU64::new(0),
            }
        }
    }

    #[cfg(not(resilience_loom))]
    fn slots(&self) -> &[AtomicU8] {
        self.slots
            .get_or_init(|| (0..self.size).map(|_| AtomicU8::new(EMPTY)).collect())
    }

    #[cfg(resilience_loom)]
    fn slots(&self) -> &[AtomicU8] {
        &self.slots
    }

    /// The slots, if any call was ever recorded.
    fn allocated(&self) -> Option<&[AtomicU8]> {
        #[cfg(not(resilience_loom))]
        return self.slots.get().map(|slots| &**slots);
        #[cfg(resilience_loom)]
        return Some(&self.slots);
    }

    fn record(&self, sample: Sample) -> Option<Counts> {
        self.record_at(self.take_index(), sample)
    }

    /// The slot the next call is recorded in.
    #[inline(always)]
    pub(crate) fn take_index(&self) -> u32 {
        self.next.fetch_add(1, Relaxed) % self.size
    }

    fn slot(&self, index: u32) -> &AtomicU8 {
        &self.slots()[usize::try_from(index).unwrap_or_default()]
    }

    /// Whether slot `index` already holds `sample`, so that recording it
    /// there would change nothing. A plain load: skipping the write is the
    /// same as writing the same value first and letting any concurrent
    /// writer of this slot (a call a whole window later) go after.
    #[inline(always)]
    pub(crate) fn holds(&self, index: u32, sample: Sample) -> bool {
        self.slot(index).load(Relaxed) == encode(sample)
    }

    /// Records `sample` in slot `index` (from [`take_index`](Self::take_index)).
    pub(crate) fn record_at(&self, index: u32, sample: Sample) -> Option<Counts> {
        // The common case, a success replacing a success, changes nothing:
        // a plain load then, not a locked swap.
        if self.holds(index, sample) {
            return None;
        }
        let new = encode(sample);
        let old = self.slot(index).swap(new, Relaxed);
        let change = delta(old, new);
        if change == 0 {
            // The same outcome replaced: the totals, and so the verdict of
            // the call that last changed them, stand.
            return None;
        }
        let totals = self.totals.fetch_add(change, Relaxed).wrapping_add(change);
        self.sane(unpack_totals(totals))
    }

    /// A slot can be swapped out before the write that filled it has added
    /// to the totals: a field then reads below zero (wrapped, and borrowed
    /// from the field above) until that write lands.
    fn sane(&self, counts: Counts) -> Option<Counts> {
        let sane = counts.calls <= self.size
            && counts.failures <= counts.calls
            && counts.slow <= counts.calls;
        sane.then_some(counts)
    }

    fn counts(&self) -> Option<Counts> {
        self.sane(unpack_totals(self.totals.load(Relaxed)))
    }

    fn clear(&self) {
        if let Some(slots) = self.allocated() {
            for slot in slots {
                let old = slot.swap(EMPTY, Relaxed);
                self.totals.fetch_add(delta(old, EMPTY), Relaxed);
            }
        }
        self.next.store(0, Relaxed);
    }
}

/// Number of buckets a time window is split into: calls fall out of the
/// window one tenth of it at a time.
pub(crate) const BUCKETS: usize = 10;

// A bucket is one word: which bucket of time it holds (its stamp), and its
// three counters. A writer that finds an old stamp starts the bucket over.
const COUNT_BITS: u32 = 12;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
const STAMP_SHIFT: u32 = 3 * COUNT_BITS;
const STAMP_MASK: u64 = (1 << (64 - STAMP_SHIFT)) - 1;

fn field(word: u64, index: u32) -> u64 {
    (word >> (index * COUNT_BITS)) & COUNT_MAX
}

fn bucket_word(stamp: u64, calls: u64, failures: u64, slow: u64) -> u64 {
    ((stamp & STAMP_MASK) << STAMP_SHIFT)
        | (calls << (2 * COUNT_BITS))
        | (failures << COUNT_BITS)
        | slow
}

/// The calls of the last `BUCKETS` × `width`.
pub(crate) struct TimeBuckets {
    width_us: u64,
    buckets: [AtomicU64; BUCKETS],
}

#[cfg(not(resilience_loom))]
const fn zeroed() -> [AtomicU64; BUCKETS] {
    [const { AtomicU64::new(0) }; BUCKETS]
}

#[cfg(resilience_loom)]
fn zeroed() -> [AtomicU64; BUCKETS] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

impl TimeBuckets {
    const_unless_loom! {
        pub(crate) fn new(window_us: u64) -> Self {
            let width_us = window_us / BUCKETS as u64;
            TimeBuckets {
                width_us: if width_us == 0 { 1 } else { width_us },
                buckets: zeroed(),
            }
        }
    }

    fn stamp(&self, now_us: u64) -> u64 {
        now_us / self.width_us
    }

    fn record(&self, sample: Sample, now_us: u64) -> Counts {
        let stamp = self.stamp(now_us);
        let index = (stamp % BUCKETS as u64) as usize;
        let bucket = &self.buckets[index];
        let (failure, slow) = (u64::from(sample.failure), u64::from(sample.slow));
        let mut current = bucket.load(Relaxed);
        loop {
            let new = if current >> STAMP_SHIFT != stamp & STAMP_MASK {
                bucket_word(stamp, 1, failure, slow)
            } else if field(current, 2) == COUNT_MAX {
                // Full: halve every counter, which keeps the rates.
                bucket_word(
                    stamp,
                    COUNT_MAX / 2 + 1,
                    field(current, 1) / 2 + failure,
                    field(current, 0) / 2 + slow,
                )
            } else {
                bucket_word(
                    stamp,
                    field(current, 2) + 1,
                    field(current, 1) + failure,
                    field(current, 0) + slow,
                )
            };
            match bucket.compare_exchange_weak(current, new, Relaxed, Relaxed) {
                Ok(_) => return self.counts(now_us, Some((index, new))),
                Err(actual) => current = actual,
            }
        }
    }

    /// The totals at `now_us`; `known` is a bucket's value just written.
    fn counts(&self, now_us: u64, known: Option<(usize, u64)>) -> Counts {
        let now = self.stamp(now_us) & STAMP_MASK;
        let mut counts = Counts::default();
        for (index, bucket) in self.buckets.iter().enumerate() {
            let word = match known {
                Some((known, word)) if known == index => word,
                _ => bucket.load(Relaxed),
            };
            let age = now.wrapping_sub(word >> STAMP_SHIFT) & STAMP_MASK;
            if age < BUCKETS as u64 {
                // Each field is at most 12 bits, so the sums fit easily.
                counts.calls += field(word, 2) as u32;
                counts.failures += field(word, 1) as u32;
                counts.slow += field(word, 0) as u32;
            }
        }
        counts
    }

    fn clear(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Relaxed);
        }
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    const FAIL: Sample = Sample {
        failure: true,
        slow: false,
    };
    const OK: Sample = Sample {
        failure: false,
        slow: false,
    };
    const SLOW_OK: Sample = Sample {
        failure: false,
        slow: true,
    };

    #[test]
    fn ring_keeps_the_last_n_calls() {
        let ring = CallRing::new(3);
        for s in [FAIL, FAIL, OK] {
            ring.record(s);
        }
        assert_eq!(
            ring.record(SLOW_OK),
            Some(Counts {
                calls: 3,
                failures: 1,
                slow: 1
            })
        );
        assert_eq!(
            ring.counts(),
            Some(Counts {
                calls: 3,
                failures: 1,
                slow: 1
            })
        );
        ring.clear();
        assert_eq!(ring.counts(), Some(Counts::default()));
        ring.record(FAIL);
        assert_eq!(
            ring.counts(),
            Some(Counts {
                calls: 1,
                failures: 1,
                slow: 0
            })
        );
    }

    #[test]
    fn buckets_forget_calls_older_than_the_window() {
        let window = TimeBuckets::new(10_000_000); // 10 s in 1 s buckets
        window.record(FAIL, 500_000);
        window.record(OK, 5_500_000);
        assert_eq!(
            window.counts(9_999_999, None),
            Counts {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        // The first bucket [0 s, 1 s) leaves the window at 10 s.
        assert_eq!(
            window.counts(10_000_000, None),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(window.counts(20_000_000, None), Counts::default());
        // A write to a recycled bucket starts it over.
        window.record(SLOW_OK, 10_200_000);
        assert_eq!(
            window.counts(10_300_000, None),
            Counts {
                calls: 2,
                failures: 0,
                slow: 1
            }
        );
    }

    #[test]
    fn full_bucket_halves_and_keeps_the_rate() {
        let window = TimeBuckets::new(10_000_000);
        for i in 0..10_000u32 {
            window.record(if i % 4 == 0 { FAIL } else { OK }, 0);
        }
        let c = window.counts(0, None);
        let rate = f64::from(c.failures) / f64::from(c.calls);
        assert!(c.calls > 2_000 && c.calls <= COUNT_MAX as u32, "{c:?}");
        assert!((rate - 0.25).abs() < 0.01, "{rate}");
    }
}
