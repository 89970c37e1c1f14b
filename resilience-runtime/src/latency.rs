//! A lock-free histogram of recent latencies, for the adaptive timeout and
//! adaptive hedging.
//!
//! Written here rather than taken from `hdrhistogram`: recording there needs
//! `&mut` (a lock per call, or a recorder per thread and a merge step),
//! while the hot path of a timeout must take no lock. Log-linear buckets
//! (8 per power of two, so a quantile is off by at most 12.5 %, rounded
//! up) of atomic counters record in two relaxed `fetch_add`s. Two
//! generations rotate every half window, so quantiles cover the last half
//! to whole window.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Exact buckets for 0–15 µs, then 8 per power of two up to about 2^36 µs
/// (19 hours).
const EXACT: usize = 16;
const SUB_BITS: u32 = 3;
const BUCKETS: usize = EXACT + (36 - 4) * (1 << SUB_BITS);

fn bucket_of(micros: u64) -> usize {
    if micros < EXACT as u64 {
        return micros as usize;
    }
    let octave = 63 - micros.leading_zeros();
    let sub = (micros >> (octave - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    let index = EXACT + ((octave - 4) as usize) * (1 << SUB_BITS) + sub as usize;
    index.min(BUCKETS - 1)
}

/// The largest value that falls in `bucket`, in microseconds.
fn upper_bound(bucket: usize) -> u64 {
    if bucket < EXACT {
        return bucket as u64;
    }
    let octave = ((bucket - EXACT) >> SUB_BITS) as u32 + 4;
    let sub = ((bucket - EXACT) & ((1 << SUB_BITS) - 1)) as u64;
    let low = (1u64 << octave) + (sub << (octave - SUB_BITS));
    low + (1u64 << (octave - SUB_BITS)) - 1
}

#[derive(Debug)]
struct Generation {
    buckets: [AtomicU32; BUCKETS],
    count: AtomicU64,
}

impl Generation {
    const fn new() -> Generation {
        Generation {
            buckets: [const { AtomicU32::new(0) }; BUCKETS],
            count: AtomicU64::new(0),
        }
    }

    fn clear(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::Relaxed);
    }
}

/// Recent latencies: record a duration per call, ask for a quantile.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience_runtime::latency::LatencyWindow;
/// use std::time::Duration;
///
/// let window = LatencyWindow::new(Duration::from_secs(10));
/// for ms in 1..=100 {
///     window.record(Duration::from_millis(ms));
/// }
/// let p99 = window.quantile(0.99).unwrap();
/// assert!(p99 >= Duration::from_millis(99) && p99 <= Duration::from_millis(112));
/// # }
/// ```
#[derive(Debug)]
pub struct LatencyWindow {
    half_window: Duration,
    generations: [Generation; 2],
    current: AtomicUsize,
    origin: OnceLock<Instant>,
    /// When the current generation started, in ns since `origin`.
    rotated_at: AtomicU64,
}

impl LatencyWindow {
    /// A histogram remembering roughly the last `window` of latencies.
    ///
    /// ```
    /// # use resilience_runtime::latency::LatencyWindow;
    /// # use std::time::Duration;
    /// static RECENT: LatencyWindow = LatencyWindow::new(Duration::from_secs(30));
    /// ```
    pub const fn new(window: Duration) -> LatencyWindow {
        LatencyWindow {
            half_window: Duration::from_nanos((window.as_nanos() / 2) as u64),
            generations: [Generation::new(), Generation::new()],
            current: AtomicUsize::new(0),
            origin: OnceLock::new(),
            rotated_at: AtomicU64::new(0),
        }
    }

    fn rotate_if_due(&self, now: Instant) {
        let origin = *self.origin.get_or_init(|| now);
        let now =
            u64::try_from(now.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX);
        let rotated = self.rotated_at.load(Ordering::Acquire);
        if now.saturating_sub(rotated) < self.half_window.as_nanos() as u64 {
            return;
        }
        if self
            .rotated_at
            .compare_exchange(rotated, now, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Only the winner rotates: the oldest generation is emptied and
            // becomes the current one.
            let next = 1 - self.current.load(Ordering::Acquire);
            self.generations[next].clear();
            self.current.store(next, Ordering::Release);
        }
    }

    /// Records one latency.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::latency::LatencyWindow;
    /// # use std::time::Duration;
    /// let w = LatencyWindow::new(Duration::from_secs(10));
    /// w.record(Duration::from_millis(3));
    /// assert_eq!(w.samples(), 1);
    /// # }
    /// ```
    pub fn record(&self, latency: Duration) {
        self.record_at(latency, Instant::now());
    }

    /// Records one latency that ended at `now` (saves a clock read for a
    /// caller that has one).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::latency::LatencyWindow;
    /// # use std::time::Duration;
    /// let w = LatencyWindow::new(Duration::from_secs(10));
    /// w.record_at(Duration::from_millis(3), tokio::time::Instant::now());
    /// assert_eq!(w.samples(), 1);
    /// # }
    /// ```
    pub fn record_at(&self, latency: Duration, now: Instant) {
        self.rotate_if_due(now);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let generation = &self.generations[self.current.load(Ordering::Acquire)];
        generation.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        generation.count.fetch_add(1, Ordering::Relaxed);
    }

    /// How many latencies the window holds.
    ///
    /// ```
    /// # use resilience_runtime::latency::LatencyWindow;
    /// # use std::time::Duration;
    /// assert_eq!(LatencyWindow::new(Duration::from_secs(1)).samples(), 0);
    /// ```
    pub fn samples(&self) -> u64 {
        self.generations
            .iter()
            .map(|g| g.count.load(Ordering::Relaxed))
            .sum()
    }

    /// The `q`-quantile (`0 < q ≤ 1`) of the window, rounded up to its
    /// bucket's bound; `None` while the window is empty.
    ///
    /// ```
    /// # use resilience_runtime::latency::LatencyWindow;
    /// # use std::time::Duration;
    /// assert_eq!(LatencyWindow::new(Duration::from_secs(1)).quantile(0.5), None);
    /// ```
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.samples();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for bucket in 0..BUCKETS {
            seen += self
                .generations
                .iter()
                .map(|g| u64::from(g.buckets[bucket].load(Ordering::Relaxed)))
                .sum::<u64>();
            if seen >= rank {
                return Some(Duration::from_micros(upper_bound(bucket)));
            }
        }
        Some(Duration::from_micros(upper_bound(BUCKETS - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn buckets_bound_their_values_within_an_eighth(micros in 0u64..(1 << 35)) {
            let bucket = bucket_of(micros);
            let upper = upper_bound(bucket);
            prop_assert!(upper >= micros);
            prop_assert!(upper - micros <= micros / 8 + 1, "{micros} -> {upper}");
            if bucket > 0 {
                prop_assert!(upper_bound(bucket - 1) < micros);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn old_latencies_leave_the_window() {
        let w = LatencyWindow::new(Duration::from_secs(10));
        for _ in 0..100 {
            w.record(Duration::from_secs(1));
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        for _ in 0..100 {
            w.record(Duration::from_millis(10));
        }
        assert_eq!(w.samples(), 200);
        tokio::time::advance(Duration::from_secs(5)).await;
        w.record(Duration::from_millis(10));
        assert_eq!(w.samples(), 101, "the first second's samples are gone");
        assert!(w.quantile(0.99).unwrap() < Duration::from_millis(12));
    }
}
