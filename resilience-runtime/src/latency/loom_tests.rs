//! loom model of the latency window: two recorders that start the same new
//! half window race to renew (empty) its generation.
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg resilience_loom" \
//!     cargo test -p resilience-runtime --release --no-default-features --lib loom
//! ```

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use tokio::time::Instant;

use super::{LatencyWindow, Ordering, bucket_of};

/// The count and the sum of the buckets of the generation `index`.
fn totals(w: &LatencyWindow, index: usize) -> (u64, u64) {
    let generation = &w.generations[index];
    let buckets = generation
        .buckets
        .iter()
        .map(|b| u64::from(b.load(Ordering::Relaxed)))
        .sum();
    (generation.count.load(Ordering::Relaxed), buckets)
}

/// The winner empties the generation and records; the loser records once
/// the generation holds the new half window, or drops its sample while it
/// is being emptied, never writing into counters being zeroed. Either way
/// the count agrees with the buckets, and the old half window is gone.
#[test]
fn loom_recorders_racing_into_a_new_half_window_keep_count_and_buckets_equal() {
    let mut model = loom::model::Builder::new();
    // Emptying a generation is one store per bucket (272): well past
    // loom's default of 1,000 branches once both recorders and the check
    // have run.
    model.max_branches = 10_000;
    model.check(|| {
        let w = Arc::new(LatencyWindow::new(Duration::from_secs(10)));
        let base = Instant::now();
        // Half window 1 holds one 1 ms latency in generation 1 (set by
        // hand: a first record would empty the generation once more).
        w.origin.set(base).unwrap();
        let old = &w.generations[1];
        old.period.store(1, Ordering::Relaxed);
        old.buckets[bucket_of(1_000)].store(1, Ordering::Relaxed);
        old.count.store(1, Ordering::Relaxed);
        // 10 s on is half window 3, the same generation, which both
        // recorders must renew.
        let later = base + Duration::from_secs(10);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let w = w.clone();
                thread::spawn(move || w.record_renewing(Duration::from_millis(2), later))
            })
            .collect();
        let renewed = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&renewed| renewed)
            .count();
        assert!(renewed >= 1, "someone renewed the generation");
        let (count, buckets) = totals(&w, 1);
        assert_eq!(count, buckets, "a sample counted but half emptied");
        assert!((1..=2).contains(&count), "count {count}");
        let old = w.generations[1].buckets[bucket_of(1_000)].load(Ordering::Relaxed);
        assert_eq!(old, 0, "the old half window's sample survived the renewal");
    });
}
