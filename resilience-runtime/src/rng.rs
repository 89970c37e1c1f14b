//! Randomness for jitter: the thread's generator, or a seeded one in scope.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

tokio::task_local! {
    static SEEDED: RefCell<SmallRng>;
}

/// Runs `future` with every random draw of this library (retry jitter,
/// decorrelated backoff) taken from a generator seeded with `seed`.
///
/// The seed is scoped to the future, like a tokio task-local: tests running
/// in parallel in one process each see their own sequence, and code outside
/// the scope keeps the thread's generator. Futures spawned from inside the
/// scope do not inherit it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::rng;
/// use std::time::Duration;
///
/// let a = rng::with_seed(7, async { rng::uniform(Duration::ZERO, Duration::from_secs(1)) }).await;
/// let b = rng::with_seed(7, async { rng::uniform(Duration::ZERO, Duration::from_secs(1)) }).await;
/// assert_eq!(a, b);
/// # }
/// ```
pub async fn with_seed<F: Future>(seed: u64, future: F) -> F::Output {
    SEEDED
        .scope(RefCell::new(SmallRng::seed_from_u64(seed)), future)
        .await
}

/// A duration drawn uniformly from `[low, high]` (both included).
///
/// Inside [`with_seed`] the draw is deterministic; elsewhere it comes from
/// the thread's generator. If `high < low`, returns `low`.
///
/// ```
/// use resilience::rng;
/// use std::time::Duration;
///
/// let d = rng::uniform(Duration::from_millis(10), Duration::from_millis(20));
/// assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
/// ```
pub fn uniform(low: Duration, high: Duration) -> Duration {
    if high <= low {
        return low;
    }
    let lo = nanos(low);
    let hi = nanos(high);
    let drawn = SEEDED
        .try_with(|rng| rng.borrow_mut().random_range(lo..=hi))
        .unwrap_or_else(|_| rand::rng().random_range(lo..=hi));
    Duration::from_nanos(drawn)
}

/// `true` with probability `p` (clamped to `[0, 1]`), from the same source
/// as [`uniform`].
///
/// ```
/// use resilience::rng;
/// assert!(rng::chance(1.0));
/// assert!(!rng::chance(0.0));
/// ```
pub fn chance(p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    SEEDED
        .try_with(|rng| rng.borrow_mut().random_bool(p))
        .unwrap_or_else(|_| rand::rng().random_bool(p))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_seed_same_sequence_and_scoped() {
        let draw = || async {
            (0..8)
                .map(|_| uniform(Duration::ZERO, Duration::from_secs(10)))
                .collect::<Vec<_>>()
        };
        let a = with_seed(42, draw()).await;
        let b = with_seed(42, draw()).await;
        let c = with_seed(43, draw()).await;
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[tokio::test]
    async fn chance_is_certain_at_the_ends_and_a_share_between() {
        assert!(chance(1.0) && chance(2.0));
        assert!(!chance(0.0) && !chance(-1.0));
        let hits = with_seed(7, async { (0..1000).filter(|_| chance(0.3)).count() }).await;
        assert!((200..400).contains(&hits), "{hits} of 1000 at 0.3");
    }

    #[test]
    fn degenerate_ranges() {
        let d = Duration::from_millis(3);
        assert_eq!(uniform(d, d), d);
        assert_eq!(uniform(d, Duration::ZERO), d);
    }
}
