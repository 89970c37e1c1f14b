//! `Hedge` without the macro (issue 22, mutation testing): how many hedges
//! go out and when, what the counters say afterwards, when an adaptive delay
//! starts, and how the registry tells two sites naming one hedge apart.
//! Time runs on tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::Hedge;
use resilience::registry::{self, Kind};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Attempt `n` (from 1) answers after `latency(n)`, `Ok(n)` or `Err(n)`.
async fn attempt(n: u32, latency: Duration, ok: bool) -> Result<u32, u32> {
    tokio::time::sleep(latency).await;
    if ok { Ok(n) } else { Err(n) }
}

#[tokio::test(start_paused = true)]
async fn hedges_go_out_a_delay_apart_up_to_max_hedges_and_are_counted() {
    let hedge = Hedge::new("mutants-hedge-counts", ms(50), 2);
    let made = AtomicU32::new(0);
    let starts = std::sync::Mutex::new(Vec::new());
    let t0 = Instant::now();
    // Every attempt is stuck for a second and fails: the first at 0, the
    // hedges at 50 and 100 ms, no third hedge; the last error comes back.
    let out = hedge
        .call(|| {
            let n = made.fetch_add(1, Ordering::Relaxed) + 1;
            starts.lock().unwrap().push(t0.elapsed());
            attempt(n, ms(1000), false)
        })
        .await;
    assert!(out.is_err());
    assert_eq!(made.load(Ordering::Relaxed), 3);
    assert_eq!(*starts.lock().unwrap(), [ms(0), ms(50), ms(100)]);
    let s = hedge.snapshot();
    assert_eq!((s.hedges_started, s.hedges_won), (2, 0));
    assert_eq!((s.calls.succeeded, s.calls.failed), (0, 1));

    // A slow first attempt and a fast hedge: the hedge wins.
    made.store(0, Ordering::Relaxed);
    let out = hedge
        .call(|| {
            let n = made.fetch_add(1, Ordering::Relaxed) + 1;
            attempt(n, if n == 1 { ms(500) } else { ms(10) }, true)
        })
        .await;
    assert_eq!(out, Ok(2));
    // A fast first attempt: no hedge.
    let out = hedge.call(|| attempt(1, ms(10), true)).await;
    assert_eq!(out, Ok(1));
    let s = hedge.snapshot();
    assert_eq!((s.hedges_started, s.hedges_won), (3, 1));
    assert_eq!((s.calls.succeeded, s.calls.failed), (2, 1));
    assert_eq!(s.delay, Some(ms(50)));
    assert_eq!(hedge.name(), "mutants-hedge-counts");
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_delay_starts_at_the_twentieth_answer_and_times_the_winner_alone() {
    let hedge = Hedge::adaptive("mutants-hedge-adaptive", 1);
    for _ in 0..19 {
        hedge.call(|| attempt(1, ms(40), true)).await.unwrap();
        // Too few answers to judge: no hedge, no delay.
        assert_eq!(hedge.current_delay(), None);
    }
    hedge.call(|| attempt(1, ms(40), true)).await.unwrap();
    let delay = hedge.current_delay().expect("twenty answers are enough");
    assert!(delay >= ms(40) && delay < ms(50), "{delay:?}");
    assert_eq!(hedge.snapshot().delay, Some(delay));

    // Now a stuck first attempt: a hedge goes out after the delay and wins
    // after 40 ms of its own, which is what is recorded (not the 40 ms plus
    // the delay it waited): twenty more such calls keep the delay.
    let made = AtomicU32::new(0);
    for _ in 0..20 {
        made.store(0, Ordering::Relaxed);
        let t0 = Instant::now();
        let out = hedge
            .call(|| {
                let n = made.fetch_add(1, Ordering::Relaxed) + 1;
                attempt(n, if n == 1 { ms(10_000) } else { ms(40) }, true)
            })
            .await;
        assert_eq!(out, Ok(2));
        // (tokio's timer rounds the delay up to its millisecond)
        let took = t0.elapsed();
        assert!(took >= delay + ms(40) && took <= delay + ms(41), "{took:?}");
    }
    let after = hedge.current_delay().unwrap();
    assert!(after >= ms(40) && after < ms(50), "{after:?}");
    assert_eq!(hedge.snapshot().hedges_won, 20);
}

#[tokio::test(start_paused = true)]
async fn a_hedge_answering_an_ok_that_retry_on_ok_rejects_does_not_win() {
    let hedge = Hedge::new("mutants-hedge-retry-on-ok", ms(10), 1);
    let made = AtomicU32::new(0);
    let t0 = Instant::now();
    // The first attempt answers 1 after 100 ms; the hedge, sent at 10 ms,
    // answers 0 (rejected) 5 ms later: the first attempt's answer is taken.
    let out = hedge
        .call_with_retry_on_ok(
            || {
                let n = made.fetch_add(1, Ordering::Relaxed);
                attempt(1 - n, if n == 0 { ms(100) } else { ms(5) }, true)
            },
            |answer| *answer == 0,
        )
        .await;
    assert_eq!(out, Ok(1));
    assert_eq!(t0.elapsed(), ms(100));
    let s = hedge.snapshot();
    assert_eq!((s.hedges_started, s.hedges_won), (1, 0));
}

fn conflicts(name: &str) -> Option<usize> {
    registry::entries()
        .into_iter()
        .find(|e| e.kind == "hedge" && e.name == name)
        .map(|e| e.conflicts)
}

#[test]
fn the_registry_counts_a_second_site_with_another_delay_or_count_as_a_conflict() {
    let name = "mutants-hedge-registry";
    let first = registry::get_or_register(name, || Hedge::new(name, ms(30), 2));
    let same = registry::get_or_register(name, || Hedge::new(name, ms(30), 2));
    assert!(Arc::ptr_eq(&first, &same));
    assert_eq!(conflicts(name), Some(0));
    registry::get_or_register(name, || Hedge::new(name, ms(31), 2));
    assert_eq!(conflicts(name), Some(1));
    registry::get_or_register(name, || Hedge::new(name, ms(30), 3));
    assert_eq!(conflicts(name), Some(2));
    registry::get_or_register(name, || Hedge::adaptive(name, 2));
    assert_eq!(conflicts(name), Some(3));
}

#[tokio::test(start_paused = true)]
async fn the_registry_describes_a_fixed_and_an_adaptive_hedge() {
    let fixed_name = "mutants-hedge-described-fixed";
    let fixed = registry::get_or_register(fixed_name, || Hedge::new(fixed_name, ms(30), 2));
    fixed.call(|| attempt(1, ms(1), true)).await.unwrap();
    let adaptive_name = "mutants-hedge-described-adaptive";
    registry::get_or_register(adaptive_name, || Hedge::adaptive(adaptive_name, 3));
    let all = registry::instances();
    let find = |name| {
        all.iter()
            .find(|i| i.kind == Kind::Hedge && i.name == name)
            .expect("a named hedge is listed")
    };
    let f = find(fixed_name);
    assert_eq!(f.policy.get("delay"), Some("30ms"));
    assert_eq!(f.policy.get("max_hedges"), Some("2"));
    match &f.snapshot {
        registry::Snapshot::Hedge(s) => assert_eq!(s.calls.succeeded, 1),
        other => panic!("a hedge's snapshot, not {other:?}"),
    }
    let a = find(adaptive_name);
    assert_eq!(a.policy.get("delay"), Some("adaptive"));
    assert!(a.policy.get("quantile").is_some());
    assert_eq!(a.policy.get("max_hedges"), Some("3"));
}

/// The tower layer runs the attempts itself, with the same rules.
#[cfg(feature = "tower")]
mod tower_layer {
    use super::*;
    use resilience::tower::HedgeLayer;
    use tower::{Layer, ServiceExt, service_fn};

    /// Attempt `n` (from 0) answers after `latency(n)`.
    fn service(
        made: Arc<AtomicU32>,
        latency: fn(u32) -> Duration,
    ) -> impl tower::Service<(), Response = u32, Error = std::io::Error, Future: Send> + Clone {
        service_fn(move |()| {
            let n = made.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(latency(n)).await;
                Ok::<_, std::io::Error>(n)
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_layer_sends_up_to_max_hedges() {
        let hedge = Arc::new(Hedge::new("mutants-hedge-tower-count", ms(50), 2));
        let made = Arc::new(AtomicU32::new(0));
        // Every attempt takes a second: the first and two hedges go out.
        let stack =
            HedgeLayer::new(Arc::clone(&hedge)).layer(service(Arc::clone(&made), |_| ms(1000)));
        let t0 = Instant::now();
        assert_eq!(stack.oneshot(()).await.unwrap(), 0);
        assert_eq!(t0.elapsed(), ms(1000));
        assert_eq!(made.load(Ordering::Relaxed), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_adaptive_layer_learns_its_delay_from_the_answers() {
        let hedge = Arc::new(Hedge::adaptive("mutants-hedge-tower-adaptive", 1));
        let made = Arc::new(AtomicU32::new(0));
        let stack =
            HedgeLayer::new(Arc::clone(&hedge)).layer(service(Arc::clone(&made), |_| ms(40)));
        for _ in 0..20 {
            assert!(stack.clone().oneshot(()).await.is_ok());
        }
        let delay = hedge.current_delay().expect("twenty answers are enough");
        assert!(delay >= ms(40) && delay < ms(50), "{delay:?}");
    }
}
