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

/// The settings the claims hold for: `tolerance = 1.1` for Gradient2 and
/// AIMD (they settle near `tolerance ×` the knee, Gradient2 plus its queue
/// allowance of 4; the default 1.5 is Netflix's, for noisier latency).
/// Vegas has no such knob: it settles 5–10 calls above the knee.
fn limiter(algorithm: LimitAlgorithm, initial: usize) -> Arc<AdaptiveConcurrency> {
    let l = AdaptiveConcurrency::new("dep", algorithm)
        .min(2)
        .max(400)
        .initial(initial);
    Arc::new(match algorithm {
        LimitAlgorithm::Vegas => l,
        _ => l.tolerance(1.1),
    })
}

const KNEE: usize = SERVERS;
const ALGORITHMS: [LimitAlgorithm; 3] = [
    LimitAlgorithm::Gradient2,
    LimitAlgorithm::Vegas,
    LimitAlgorithm::Aimd,
];

/// The share of the limit's samples (every 100 ms) in `from..to` within
/// 25 % of the knee. Not all of them: every 10 s a probe halves the limit
/// for a few windows to measure the no-load latency again.
fn share_within_25_percent(o: &overload::Outcomes, from: Duration, to: Duration) -> f64 {
    let samples: Vec<usize> = o
        .limits
        .iter()
        .filter(|(at, _)| (from..to).contains(at))
        .map(|(_, l)| *l)
        .collect();
    let near = samples
        .iter()
        .filter(|l| **l * 4 >= KNEE * 3 && **l * 4 <= KNEE * 5)
        .count();
    near as f64 / samples.len().max(1) as f64
}

async fn settle(algorithm: LimitAlgorithm, initial: usize) -> overload::Outcomes {
    let l = limiter(algorithm, initial);
    let dep = Dependency::new(SERVERS, SERVICE);
    let load = [vec![Phase {
        span: secs(30),
        rate: OVERLOAD,
        priority: 0,
    }]];
    run(Guard::Adaptive(l), dep, &load, Vec::new()).await
}

/// From a limit 20× too low and from one 5× too high, every algorithm is
/// within 25 % of the knee (40 calls) from the 10th simulated second on,
/// at least 90 % of the time (the rest: its probes), and goodput stays
/// within 2 % of the dependency's capacity.
#[tokio::test(start_paused = true)]
async fn every_algorithm_converges_near_the_knee_from_too_low_and_too_high_within_ten_seconds() {
    for algorithm in ALGORITHMS {
        for initial in [2, 200] {
            let o = settle(algorithm, initial).await;
            let near = share_within_25_percent(&o, secs(10), secs(30));
            assert!(
                near >= 0.9,
                "{algorithm:?} from {initial}: {near} within 25 %, {:?}",
                o.limit_range(secs(10), secs(30))
            );
            let goodput = o.goodput(secs(10), secs(30));
            assert!(
                goodput >= 980.0,
                "{algorithm:?} from {initial}: {goodput}/s"
            );
        }
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
    let l = limiter(LimitAlgorithm::Aimd, 40);
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
            .tolerance(1.1)
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

/// The dependency slows down 4× at 15 s. The knee stays at 40 calls
/// (each takes 4× as long), so a limit that follows first backs off from
/// the latency jump, then, once ten slow windows in a row have started a
/// probe that measures the new no-load latency, comes back: every
/// algorithm is within 25 % of the knee again (90 % of the time) from
/// 10 s after the slowdown on.
#[tokio::test(start_paused = true)]
async fn a_fourfold_slowdown_is_followed_by_every_algorithm_within_ten_seconds() {
    for algorithm in ALGORITHMS {
        let l = limiter(algorithm, 40);
        let dep = Dependency::new(SERVERS, SERVICE);
        let slow = dep.clone();
        let phases = [vec![Phase {
            span: secs(45),
            rate: OVERLOAD,
            priority: 0,
        }]];
        let events: Vec<(Duration, Box<dyn FnOnce() + Send>)> =
            vec![(secs(15), Box::new(move || slow.set_service(SERVICE * 4)))];
        let o = run(Guard::Adaptive(l), dep, &phases, events).await;
        let (lo, _) = o.limit_range(secs(15), secs(20));
        assert!(
            lo < KNEE / 2,
            "{algorithm:?} backed off from the jump: {lo}"
        );
        let near = share_within_25_percent(&o, secs(25), secs(45));
        assert!(
            near >= 0.9,
            "{algorithm:?}: {near}, {:?}",
            o.limit_range(secs(25), secs(45))
        );
    }
}
