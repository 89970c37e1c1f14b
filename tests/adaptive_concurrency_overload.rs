//! Overload, on a simulated dependency (tests/support/overload.rs) and
//! tokio's paused clock.

#[path = "support/overload.rs"]
mod overload;

use std::sync::Arc;
use std::time::Duration;

use overload::{Dependency, Guard, Phase, run};
use resilience::{AdaptiveConcurrency, LimitAlgorithm};

const SERVERS: usize = 40;
const SERVICE: Duration = Duration::from_millis(40);
/// The dependency serves SERVERS / SERVICE = 1000 calls a second.
const OVERLOAD: u64 = 1500;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The settings the claims hold for: Gradient2 with `tolerance = 1.0`
/// (Netflix's 1.5 lets latency grow 50 % before it shrinks, settling near
/// 1.6× the knee), AIMD with `slow_call` at 1.2× the unloaded latency (AIMD
/// only sees failures and slow calls; a dependency that never fails and
/// never passes 5 s gives it nothing to back off on).
fn limiter(algorithm: LimitAlgorithm, initial: usize) -> Arc<AdaptiveConcurrency> {
    let l = AdaptiveConcurrency::new("dep", algorithm)
        .min(2)
        .max(400)
        .initial(initial);
    Arc::new(match algorithm {
        LimitAlgorithm::Gradient2 => l.tolerance(1.0),
        LimitAlgorithm::Aimd => l.slow_call(SERVICE * 6 / 5),
        _ => l,
    })
}

const KNEE: usize = SERVERS;

fn within_25_percent(range: (usize, usize)) -> bool {
    let (lo, hi) = range;
    lo * 4 >= KNEE * 3 && hi * 4 <= KNEE * 5
}

async fn settle(algorithm: LimitAlgorithm, initial: usize) -> overload::Outcomes {
    let l = limiter(algorithm, initial);
    let dep = Dependency::new(SERVERS, SERVICE);
    let load = [vec![Phase {
        span: secs(20),
        rate: OVERLOAD,
        priority: 0,
    }]];
    run(Guard::Adaptive(l), dep, &load, Vec::new()).await
}

/// From a limit 20× too low, every algorithm is within 25 % of the knee
/// (40 calls) for the whole of the 10th to 20th simulated second; from
/// 5× too high, AIMD is. Goodput stays at the dependency's capacity.
#[tokio::test(start_paused = true)]
async fn converges_near_the_knee_within_ten_seconds() {
    for (algorithm, initial) in [
        (LimitAlgorithm::Vegas, 2),
        (LimitAlgorithm::Aimd, 2),
        (LimitAlgorithm::Aimd, 200),
    ] {
        let o = settle(algorithm, initial).await;
        let range = o.limit_range(secs(10), secs(20));
        assert!(
            within_25_percent(range),
            "{algorithm:?} from {initial}: {range:?}"
        );
        assert!(
            o.goodput(secs(10), secs(20)) >= 990.0,
            "{algorithm:?}: at capacity"
        );
    }
}

/// Gradient2 from too low settles around the knee + its queue allowance
/// of 4 (mean within 25 %, peaks to 35 % above); from too high, Gradient2
/// and Vegas measure their baseline latency while already queueing and
/// settle at 1.5–2.1× the knee (see the closing note of issue 19): what
/// holds is that they come down from 5× and keep goodput at capacity.
#[tokio::test(start_paused = true)]
async fn gradient2_and_vegas_from_too_high_come_down_but_stay_above_the_knee() {
    let o = settle(LimitAlgorithm::Gradient2, 2).await;
    let mean = o
        .limits
        .iter()
        .filter(|(at, _)| *at >= secs(10))
        .map(|(_, l)| *l as f64)
        .sum::<f64>()
        / o.limits.iter().filter(|(at, _)| *at >= secs(10)).count() as f64;
    assert!(
        (30.0..=52.0).contains(&mean),
        "Gradient2 from 2: mean limit {mean}"
    );
    for algorithm in [LimitAlgorithm::Gradient2, LimitAlgorithm::Vegas] {
        let o = settle(algorithm, 200).await;
        let (_, hi) = o.limit_range(secs(10), secs(20));
        assert!(hi <= KNEE * 5 / 2, "{algorithm:?} from 200: {hi}");
        assert!(o.goodput(secs(10), secs(20)) >= 990.0);
    }
}

/// A 10× spike: the admitted calls' p99 stays within 2× the unloaded p99,
/// where a fixed bulkhead set 5x too high lets it grow with the spike.
#[tokio::test(start_paused = true)]
async fn a_tenfold_spike_keeps_the_admitted_p99_within_twice_unloaded() {
    let base = 500; // half the capacity
    let phases = [
        vec![Phase {
            span: secs(10),
            rate: base,
            priority: 0,
        }],
        vec![Phase {
            span: secs(10),
            rate: base * 10,
            priority: 0,
        }],
    ];
    let unloaded_p99 = SERVICE;
    let l = Arc::new(
        AdaptiveConcurrency::new("dep", LimitAlgorithm::Aimd)
            .min(2)
            .max(400)
            .initial(40)
            .slow_call(SERVICE * 6 / 5),
    );
    let o = run(
        Guard::Adaptive(l),
        Dependency::new(SERVERS, SERVICE),
        &phases,
        Vec::new(),
    )
    .await;
    let adaptive = o.latency(0.99, secs(12), secs(20), None);
    assert!(adaptive <= unloaded_p99 * 2, "adaptive p99 {adaptive:?}");
    let fixed = Arc::new(resilience::Bulkhead::named("dep", KNEE * 5));
    let f = run(
        Guard::Fixed(fixed),
        Dependency::new(SERVERS, SERVICE),
        &phases,
        Vec::new(),
    )
    .await;
    let fixed_p99 = f.latency(0.99, secs(12), secs(20), None);
    assert!(fixed_p99 >= unloaded_p99 * 4, "fixed p99 {fixed_p99:?}");
}

/// Two priorities at 1.5× capacity in all, the high one at 0.6× capacity:
/// it keeps ≥ 95 % success while the low one is shed.
#[tokio::test(start_paused = true)]
async fn high_priority_keeps_its_calls_while_low_priority_is_shed() {
    let l = Arc::new(
        AdaptiveConcurrency::new("dep", LimitAlgorithm::Aimd)
            .min(2)
            .max(400)
            .initial(40)
            .slow_call(SERVICE * 6 / 5)
            .max_wait(SERVICE),
    );
    let phases = [vec![
        Phase {
            span: secs(20),
            rate: 600,
            priority: 9,
        },
        Phase {
            span: secs(20),
            rate: 900,
            priority: 1,
        },
    ]];
    let o = run(
        Guard::Adaptive(l.clone()),
        Dependency::new(SERVERS, SERVICE),
        &phases,
        Vec::new(),
    )
    .await;
    let high = o.success(9, secs(5), secs(20));
    let low = o.success(1, secs(5), secs(20));
    assert!(high >= 0.95, "high priority success {high}");
    assert!(low < 0.6, "low priority success {low}");
    let shed = l.snapshot().shed_by_priority;
    assert!(shed.iter().any(|(p, n)| *p == 1 && *n > 0), "{shed:?}");
}

/// The dependency slows down 4× at 10 s. The knee stays at 40 calls (each
/// takes 4× as long), so a limit that follows first backs off from the
/// latency jump, then comes back: Gradient2 is within 25 % of the knee
/// again from 22 s after the slowdown on (its long-term latency spans
/// about 100 windows, 10 s). Vegas backs off to 7 and comes back only at
/// its next no-load probe (30 × limit windows); AIMD with an absolute
/// `slow_call` cannot follow a slowdown past it (see the closing note).
#[tokio::test(start_paused = true)]
async fn a_fourfold_slowdown_is_followed_by_gradient2_within_22_seconds() {
    let l = limiter(LimitAlgorithm::Gradient2, 40);
    let dep = Dependency::new(SERVERS, SERVICE);
    let slow = dep.clone();
    let phases = [vec![Phase {
        span: secs(40),
        rate: OVERLOAD,
        priority: 0,
    }]];
    let events: Vec<(Duration, Box<dyn FnOnce() + Send>)> =
        vec![(secs(10), Box::new(move || slow.set_service(SERVICE * 4)))];
    let o = run(Guard::Adaptive(l), dep, &phases, events).await;
    let (lo, _) = o.limit_range(secs(11), secs(13));
    assert!(lo < KNEE / 2, "backed off from the latency jump: {lo}");
    let after = o.limit_range(secs(32), secs(40));
    assert!(within_25_percent(after), "{after:?}");
}
