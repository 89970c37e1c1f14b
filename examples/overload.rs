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

fn adaptive(algorithm: LimitAlgorithm, initial: usize) -> Guard {
    let l = AdaptiveConcurrency::new("dep", algorithm)
        .min(2)
        .max(400)
        .initial(initial);
    Guard::Adaptive(Arc::new(match algorithm {
        LimitAlgorithm::Vegas => l,
        _ => l.tolerance(1.1),
    }))
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let s = Duration::from_secs;
    let steady = [vec![Phase {
        span: s(30),
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
        "| guard | limit 10–30 s: median (least–most) | goodput, calls/s | p99 at 1.5× load | p99 in a 10× spike |"
    );
    println!("|---|---|---|---|---|");
    let mut guards: Vec<(String, Box<dyn Fn() -> Guard>)> = Vec::new();
    for algorithm in [
        LimitAlgorithm::Gradient2,
        LimitAlgorithm::Vegas,
        LimitAlgorithm::Aimd,
    ] {
        for initial in [2, 200] {
            guards.push((
                format!("adaptive, {}, from {initial}", algorithm.word()),
                Box::new(move || adaptive(algorithm, initial)),
            ));
        }
    }
    guards.extend::<Vec<(String, Box<dyn Fn() -> Guard>)>>(vec![
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
    ]);
    for (label, guard) in guards {
        let o = run(
            guard(),
            Dependency::new(SERVERS, SERVICE),
            &steady,
            Vec::new(),
        )
        .await;
        let mut limits: Vec<usize> = o
            .limits
            .iter()
            .filter(|(at, _)| (s(10)..s(30)).contains(at))
            .map(|(_, l)| *l)
            .collect();
        limits.sort();
        let limit = match limits.as_slice() {
            [] => "fixed".to_owned(),
            l => format!("{} ({}–{})", l[l.len() / 2], l[0], l[l.len() - 1]),
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
            o.goodput(s(10), s(30)),
            o.latency(0.99, s(10), s(30), None),
            p.latency(0.99, s(12), s(20), None),
        );
    }
    println!("\nunloaded p99: {SERVICE:?}");
}
