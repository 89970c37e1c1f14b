//! The outage demo's short mode, run in process: what the protected client
//! buys, asserted as outcomes (bounded latency, nothing hung, less load on a
//! failing server), never as speed.

#![cfg(all(feature = "reqwest", feature = "metrics", feature = "serde"))]

#[allow(dead_code)]
#[path = "../examples/outage.rs"]
mod outage;

use outage::{Config, HUNG_AFTER, PROTECTED_BUDGET, Phase};
use std::time::Duration;

/// Scheduling noise on a shared CI machine, on top of the bound the
/// attributes give by construction.
const SLACK: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_client_rides_out_the_outage() {
    let report = outage::run(Config {
        progress: false,
        ..Config::short()
    })
    .await;
    println!("{report}");

    let protected = &report.total[1];
    assert!(protected.calls() > 0, "the load ran");
    assert_eq!(protected.hung, 0, "no protected call hangs");
    assert_eq!(
        protected.failed, 0,
        "the fallback's last level is default data"
    );
    assert!(
        protected.p99 <= PROTECTED_BUDGET + SLACK,
        "protected p99 {:?} over its budget {PROTECTED_BUDGET:?}",
        protected.p99
    );
    assert!(protected.max < HUNG_AFTER);
    for phase in Phase::ALL {
        let row = report.protected(phase);
        assert!(
            row.p99 <= PROTECTED_BUDGET + SLACK,
            "{}: protected p99 {:?} over its budget",
            phase.name(),
            row.p99
        );
    }

    // The failing server hears less from the protected client: the breaker
    // opens and the retry budget holds retries down.
    let failing = Phase::Failing;
    assert!(
        report.protected(failing).reached < report.bare(failing).reached,
        "while failing: protected {} requests reached the server, bare {}",
        report.protected(failing).reached,
        report.bare(failing).reached
    );
    let outage: [Phase; 3] = [Phase::Failing, Phase::RateLimited, Phase::Down];
    let reached = |client: fn(&outage::Report, Phase) -> u64| {
        outage.iter().map(|&p| client(&report, p)).sum::<u64>()
    };
    let protected_reached = reached(|r, p| r.protected(p).reached);
    let bare_reached = reached(|r, p| r.bare(p).reached);
    assert!(
        protected_reached < bare_reached,
        "over the outage, protected {protected_reached} requests, bare {bare_reached}"
    );
}
