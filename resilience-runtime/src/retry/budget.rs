//! A retry budget: retries per instance may not exceed a fraction of calls,
//! plus a small floor, over a sliding window (as Finagle, Envoy and the AWS
//! SDKs do), so a fleet of callers cannot multiply load on a recovering
//! service.

use crate::sync::{AtomicU64, Ordering, const_unless_loom};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// How many one-second slots the window spans.
const SLOTS: usize = 10;

/// Limits retries to `ratio` of the calls seen in the last ten seconds,
/// plus `min_per_sec` retries per second (so a quiet client can still
/// retry).
///
/// Calls and retries are counted in ten one-second slots of atomics: no
/// lock; counts in a slot being recycled by a concurrent caller may be off
/// by a few, which a budget tolerates.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::RetryBudget;
///
/// let budget = RetryBudget::new(0.2, 0);
/// for _ in 0..10 {
///     budget.record_call();
/// }
/// assert!(budget.try_retry());
/// assert!(budget.try_retry());
/// assert!(!budget.try_retry()); // 20 % of 10 calls
/// # }
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    ratio: crate::live::LiveF64,
    min_per_sec: crate::live::LiveU32,
    origin: OnceLock<Instant>,
    slots: [Slot; SLOTS],
}

#[derive(Debug)]
struct Slot {
    /// The second (since `origin`, plus one) this slot counts; 0 = never used.
    second: AtomicU64,
    calls: AtomicU64,
    retries: AtomicU64,
}

#[cfg(not(resilience_loom))]
const fn slots() -> [Slot; SLOTS] {
    [const { Slot::new() }; SLOTS]
}

#[cfg(resilience_loom)]
fn slots() -> [Slot; SLOTS] {
    std::array::from_fn(|_| Slot::new())
}

impl Slot {
    const_unless_loom! {
        fn new() -> Slot {
            Slot {
                second: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                retries: AtomicU64::new(0),
            }
        }
    }
}

impl RetryBudget {
    const_unless_loom! {
        /// A budget of `ratio` retries per call (e.g. `0.2`) plus `min_per_sec`.
        ///
        /// # Panics
        ///
        /// If `ratio` is not above 0 and at most 1, as `#[retry(budget = …)]`
        /// refuses it; in a `static`, at compile time.
        ///
        /// ```
        /// use resilience::RetryBudget;
        /// static BUDGET: RetryBudget = RetryBudget::new(0.1, 10);
        /// ```
        pub fn new(ratio: f64, min_per_sec: u32) -> RetryBudget {
            resilience_schema::expect(resilience_schema::retry::check_budget(ratio));
            RetryBudget {
                ratio: crate::live::LiveF64::new(ratio),
                min_per_sec: crate::live::LiveU32::new(min_per_sec),
                origin: OnceLock::new(),
                slots: slots(),
            }
        }
    }

    /// The allowed fraction of retries per call.
    ///
    /// ```
    /// # use resilience::RetryBudget;
    /// assert_eq!(RetryBudget::new(0.2, 10).ratio(), 0.2);
    /// ```
    pub fn ratio(&self) -> f64 {
        self.ratio.get()
    }

    /// The floor of retries per second.
    ///
    /// ```
    /// # use resilience::RetryBudget;
    /// assert_eq!(RetryBudget::new(0.2, 10).min_per_sec(), 10);
    /// ```
    pub fn min_per_sec(&self) -> u32 {
        self.min_per_sec.get()
    }

    /// The current slot, recycled if it last counted an older second.
    fn slot(&self) -> (&Slot, u64) {
        let origin = *self.origin.get_or_init(Instant::now);
        let second = origin.elapsed().as_secs() + 1;
        let slot = &self.slots[(second % SLOTS as u64) as usize];
        let seen = slot.second.load(Ordering::Acquire);
        if seen != second
            && seen < second
            && slot
                .second
                .compare_exchange(seen, second, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            slot.calls.store(0, Ordering::Relaxed);
            slot.retries.store(0, Ordering::Relaxed);
        }
        (slot, second)
    }

    /// Counts one call (every call, first attempts included).
    ///
    /// ```
    /// # use resilience::RetryBudget;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let budget = RetryBudget::new(0.5, 0);
    /// budget.record_call();
    /// budget.record_call();
    /// assert!(budget.try_retry());
    /// # }
    /// ```
    pub fn record_call(&self) {
        self.slot().0.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget if the window allows it.
    ///
    /// ```
    /// # use resilience::RetryBudget;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let budget = RetryBudget::new(0.5, 0);
    /// assert!(!budget.try_retry()); // no calls, no floor
    /// # }
    /// ```
    pub fn try_retry(&self) -> bool {
        let (current, second) = self.slot();
        let (mut calls, mut retries) = (0u64, 0u64);
        for slot in &self.slots {
            let seen = slot.second.load(Ordering::Acquire);
            if seen != 0 && seen + (SLOTS as u64) > second {
                calls += slot.calls.load(Ordering::Relaxed);
                retries += slot.retries.load(Ordering::Relaxed);
            }
        }
        let allowed = self.ratio() * calls as f64 + f64::from(self.min_per_sec()) * SLOTS as f64;
        if (retries as f64) < allowed {
            current.retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// The window the budget looks at.
    ///
    /// ```
    /// # use resilience::RetryBudget;
    /// assert_eq!(RetryBudget::window(), std::time::Duration::from_secs(10));
    /// ```
    pub const fn window() -> Duration {
        Duration::from_secs(SLOTS as u64)
    }
}

/// Reload (issue 14): a new fraction and floor, keeping the slots.
impl RetryBudget {
    /// Changes the fraction of calls that may be retried and the floor,
    /// keeping the calls and retries counted in the last ten seconds: the
    /// next retry is judged by the new fraction over the same window. What
    /// `resilience::config` does on a reload (feature `config`).
    ///
    /// # Panics
    ///
    /// If `ratio` is not above 0 and at most 1, as [`RetryBudget::new`].
    ///
    /// ```
    /// use resilience::RetryBudget;
    ///
    /// static BUDGET: RetryBudget = RetryBudget::new(0.1, 10);
    /// BUDGET.reconfigure(0.5, 1);
    /// assert_eq!((BUDGET.ratio(), BUDGET.min_per_sec()), (0.5, 1));
    /// ```
    pub fn reconfigure(&self, ratio: f64, min_per_sec: u32) {
        resilience_schema::expect(resilience_schema::retry::check_budget(ratio));
        self.ratio.set(ratio);
        self.min_per_sec.set(min_per_sec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn caps_at_the_ratio_and_forgets_old_calls() {
        let budget = RetryBudget::new(0.1, 0);
        for _ in 0..100 {
            budget.record_call();
        }
        let granted = (0..50).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 10);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!budget.try_retry(), "the calls have left the window");
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_allows_retries_without_calls() {
        let budget = RetryBudget::new(0.1, 2);
        let granted = (0..100).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 20, "2 per second over a 10 s window");
    }
}

/// What mutation testing (issue 22) found no test pinning down: the
/// budget's sum over the window, its one-second slots and its accessors.
#[cfg(all(test, not(resilience_loom)))]
mod mutants_tests {
    use super::*;

    fn granted(budget: &RetryBudget, asked: usize) -> usize {
        (0..asked).filter(|_| budget.try_retry()).count()
    }

    #[tokio::test(start_paused = true)]
    async fn the_allowance_is_the_ratio_of_calls_plus_the_floor_over_the_window() {
        // 0.5 × 10 calls + 1 per second × 10 s = 15 retries.
        let budget = RetryBudget::new(0.5, 1);
        for _ in 0..10 {
            budget.record_call();
        }
        assert_eq!(granted(&budget, 100), 15);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_of_every_second_in_the_window_count() {
        let budget = RetryBudget::new(0.5, 0);
        for _ in 0..9 {
            for _ in 0..2 {
                budget.record_call();
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        // 18 calls over the last nine seconds: 9 retries.
        assert_eq!(granted(&budget, 100), 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_is_reused_for_the_calls_of_a_later_second() {
        let budget = RetryBudget::new(0.5, 0);
        for _ in 0..10 {
            budget.record_call();
        }
        assert_eq!(granted(&budget, 100), 5);
        // Ten seconds on: the same slot, now counting the new second.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(granted(&budget, 100), 0, "the old calls and retries left");
        for _ in 0..4 {
            budget.record_call();
        }
        assert_eq!(granted(&budget, 100), 2, "0.5 × the 4 new calls");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_leave_the_window_ten_seconds_after_their_second() {
        let budget = RetryBudget::new(1.0, 0);
        assert!(!budget.try_retry(), "no calls yet");
        tokio::time::advance(Duration::from_secs(3)).await;
        for _ in 0..5 {
            budget.record_call();
        }
        tokio::time::advance(Duration::from_millis(9_999)).await;
        assert!(budget.try_retry(), "9.999 s later the calls still count");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!budget.try_retry(), "10 s later they do not");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_older_than_the_window_never_count_even_in_a_slot_not_reused_yet() {
        let budget = RetryBudget::new(1.0, 0);
        assert!(!budget.try_retry(), "no calls yet");
        tokio::time::advance(Duration::from_secs(3)).await;
        for _ in 0..5 {
            budget.record_call();
        }
        // 11 s later: their slot is not the current one, and not reused yet.
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!budget.try_retry(), "11 s old calls do not count");
    }

    #[test]
    fn the_accessors_report_the_configuration() {
        let budget = RetryBudget::new(0.25, 7);
        assert_eq!(budget.ratio(), 0.25);
        assert_eq!(budget.min_per_sec(), 7);
        assert_eq!(RetryBudget::window(), Duration::from_secs(10));
    }
}
