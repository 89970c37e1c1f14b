//! Goodput and p99 latency of a dependency under 1.5× its capacity,
//! guarded by `#[adaptive_concurrency]`'s three algorithms and by fixed
//! bulkheads set too low, right and too high; and the p99 of admitted
//! calls through a 10× load spike. Simulated on tokio's paused clock:
//! 40 servers, 40 ms a call (capacity 1000 calls/s, knee at 40 calls in
//! flight). `cargo run --example overload`.

#[path = "../tests/support/overload.rs"]
mod overload;

use std::sync::Arc;
use std::time::Duration;

use overload::{Dependency, Guard, Phase, run};
use resilience::{AdaptiveConcurrency, Bulkhead, LimitAlgorithm};

const SERVERS: usize = 40;
const SERVICE: Duration = Duration::from_millis(40);

fn adaptive(algorithm: LimitAlgorithm) -> Guard {
    let l = AdaptiveConcurrency::new("dep", algorithm)
        .min(2)
        .max(400)
        .initial(2);
    Guard::Adaptive(Arc::new(match algorithm {
        LimitAlgorithm::Gradient2 => l.tolerance(1.0),
        LimitAlgorithm::Aimd => l.slow_call(SERVICE * 6 / 5),
        _ => l,
    }))
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let s = Duration::from_secs;
    let steady = [vec![Phase {
        span: s(20),
        rate: 1500,
        priority: 0,
    }]];
    let spike = [
        vec![Phase {
            span: s(10),
            rate: 500,
            priority: 0,
        }],
        vec![Phase {
            span: s(10),
            rate: 5000,
            priority: 0,
        }],
    ];
    println!(
        "| guard | limit (10–20 s) | goodput, calls/s | p99 at 1.5× load | p99 in a 10× spike |"
    );
    println!("|---|---|---|---|---|");
    let guards: Vec<(String, Box<dyn Fn() -> Guard>)> = vec![
        (
            "adaptive, gradient2".into(),
            Box::new(|| adaptive(LimitAlgorithm::Gradient2)),
        ),
        (
            "adaptive, vegas".into(),
            Box::new(|| adaptive(LimitAlgorithm::Vegas)),
        ),
        (
            "adaptive, aimd".into(),
            Box::new(|| adaptive(LimitAlgorithm::Aimd)),
        ),
        (
            "bulkhead 10 (too low)".into(),
            Box::new(|| Guard::Fixed(Arc::new(Bulkhead::named("dep", 10)))),
        ),
        (
            "bulkhead 40 (right)".into(),
            Box::new(|| Guard::Fixed(Arc::new(Bulkhead::named("dep", 40)))),
        ),
        (
            "bulkhead 200 (too high)".into(),
            Box::new(|| Guard::Fixed(Arc::new(Bulkhead::named("dep", 200)))),
        ),
    ];
    for (label, guard) in guards {
        let o = run(
            guard(),
            Dependency::new(SERVERS, SERVICE),
            &steady,
            Vec::new(),
        )
        .await;
        let limit = match o.limit_range(s(10), s(20)) {
            (0, 0) => "fixed".to_owned(),
            (lo, hi) if lo == hi => format!("{lo}"),
            (lo, hi) => format!("{lo}–{hi}"),
        };
        let p = run(
            guard(),
            Dependency::new(SERVERS, SERVICE),
            &spike,
            Vec::new(),
        )
        .await;
        println!(
            "| {label} | {limit} | {:.0} | {:?} | {:?} |",
            o.goodput(s(10), s(20)),
            o.latency(0.99, s(10), s(20), None),
            p.latency(0.99, s(12), s(20), None),
        );
    }
    println!("\nunloaded p99: {SERVICE:?}");
}
