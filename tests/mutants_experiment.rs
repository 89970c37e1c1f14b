//! The chaos experiment runner's report, number by number (issue 22,
//! mutation testing): when the breaker is reported open, which phase an
//! answer at a phase's edge belongs to, the rates and the printed table,
//! and a workload's panic raised again by `run()`. Time runs on tokio's
//! paused clock, so every time in a report is exact.
#![cfg(feature = "chaos")]

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use resilience::chaos::experiment::{Answer, Experiment, Phase};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// A workload's call.
type Call = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// A phase action that sets `open` to each value at its time (ms after
/// the phase's start).
fn flips(
    open: &Arc<AtomicBool>,
    at: &'static [(u64, bool)],
) -> impl FnOnce() -> JoinHandle<()> + Send + 'static {
    let open = Arc::clone(open);
    move || {
        let start = Instant::now();
        tokio::spawn(async move {
            for &(ms, value) in at {
                tokio::time::sleep_until(start + MS(ms)).await;
                open.store(value, Ordering::SeqCst);
            }
        })
    }
}

/// A call every 10 ms that answers fresh 3 ms later: the breaker is
/// looked at on every tick (0, 10, 20 … ms into a phase) and every answer
/// (3, 13, 23 … ms).
fn three_ms_calls() -> impl Fn() -> Call {
    || {
        Box::pin(async {
            tokio::time::sleep(MS(3)).await;
            Answer::Fresh
        })
    }
}

#[tokio::test(start_paused = true)]
async fn breaker_opened_is_when_the_breaker_first_goes_from_closed_to_open_in_the_phase() {
    let open = Arc::new(AtomicBool::new(false));
    let is_open = {
        let open = Arc::clone(&open);
        move || open.load(Ordering::SeqCst)
    };
    let report = Experiment::new("breaker", three_ms_calls())
        .interval(MS(10))
        .breaker_open_when(is_open)
        // Opens at 25 ms (seen on the 30 ms tick), closes, opens again:
        // the first opening is the one reported.
        .phase(
            Phase::new("opens", MS(100))
                .action(flips(&open, &[(25, true), (45, false), (65, true)])),
        )
        // Open all along, since the phase before: it did not open here.
        .phase(Phase::new("stays open", MS(50)))
        // Closes, then opens again at 16 ms (seen on the 20 ms tick).
        .phase(Phase::new("reopens", MS(50)).action(flips(&open, &[(5, false), (16, true)])))
        .run()
        .await;
    let opened: Vec<_> = report.phases.iter().map(|p| p.breaker_opened).collect();
    assert_eq!(opened, [Some(MS(30)), None, Some(MS(20))], "{report:?}");
}

#[tokio::test(start_paused = true)]
async fn a_breaker_open_before_the_experiment_is_not_reported_as_opening() {
    let report = Experiment::new("already open", three_ms_calls())
        .interval(MS(10))
        .breaker_open_when(|| true)
        .phase(Phase::new("open", MS(50)))
        .run()
        .await;
    assert_eq!(report.phases[0].breaker_opened, None);
}

async fn broken() -> Answer {
    panic!("the workload broke")
}

#[tokio::test(start_paused = true)]
async fn a_workload_panic_is_raised_again_by_run_with_its_payload() {
    let run = tokio::spawn(
        Experiment::new("panics", broken)
            .interval(MS(10))
            .phase(Phase::new("steady", MS(30)))
            .run(),
    );
    let panic = run.await.expect_err("run() panics").into_panic();
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"the workload broke"),
        "the workload's own payload"
    );
}

/// The first call answers from the fallback, the others fresh; each takes
/// `latency`.
fn fallback_then_fresh(latency: Duration) -> impl Fn() -> Call {
    let calls = AtomicUsize::new(0);
    move || {
        let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            if first {
                Answer::Fallback
            } else {
                Answer::Fresh
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn an_answer_at_a_phases_end_belongs_to_the_next_phase_and_late_answers_to_the_last() {
    // One call per phase (at its start), each answering 30 ms later: the
    // first exactly when "fault" ends, the second after "recovery" (the
    // last phase) ended.
    let report = Experiment::new("edges", fallback_then_fresh(MS(30)))
        .interval(MS(100))
        .phase(Phase::new("fault", MS(30)))
        .phase(Phase::new("recovery", MS(30)))
        .run()
        .await;
    let fault = report.phase("fault").unwrap();
    let recovery = report.phase("recovery").unwrap();
    // Counts go by the phase a call started in.
    assert_eq!((fault.calls, fault.fallback), (1, 1));
    assert_eq!((recovery.calls, recovery.fresh), (1, 1));
    // First answers go by the phase they arrived in.
    assert_eq!((fault.first_fallback, fault.first_fresh), (None, None));
    assert_eq!(recovery.first_fallback, Some(Duration::ZERO));
    assert_eq!(recovery.first_fresh, Some(MS(30)));
}

/// Call `n` answers `answers[n]` after `latencies[n]` ms.
fn scripted(answers: &'static [Answer], latencies: &'static [u64]) -> impl Fn() -> Call {
    let calls = AtomicUsize::new(0);
    move || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(MS(latencies[n])).await;
            answers[n]
        })
    }
}

#[tokio::test(start_paused = true)]
async fn rates_and_the_printed_table_show_what_the_calls_answered() {
    use Answer::{Failed, Fallback, Fresh};
    let report = Experiment::new(
        "rates",
        scripted(&[Fresh, Fallback, Fallback, Failed], &[2, 2, 2, 12]),
    )
    .interval(MS(10))
    // No time, no calls.
    .phase(Phase::new("idle", Duration::ZERO))
    // Calls at 0, 10, 20 and 30 ms.
    .phase(Phase::new("mixed", MS(40)))
    .run()
    .await;
    let idle = report.phase("idle").unwrap();
    assert_eq!(idle.calls, 0);
    assert_eq!((idle.success_rate(), idle.fallback_rate()), (0.0, 0.0));
    let mixed = report.phase("mixed").unwrap();
    assert_eq!(
        (mixed.calls, mixed.fresh, mixed.fallback, mixed.failed),
        (4, 1, 2, 1)
    );
    assert_eq!(mixed.success_rate(), 0.25);
    assert_eq!(mixed.fallback_rate(), 0.5);
    assert!(report.phase("absent").is_none());

    // Under 10 ms a time shows a tenth of a millisecond, from 10 ms whole
    // milliseconds; `-` where there is nothing to show.
    let text = report.to_string();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        text.lines().next(),
        Some("rates: one call every 10ms"),
        "{text}"
    );
    assert_eq!(lines[1][0], "phase", "{text}");
    assert_eq!(
        lines[2],
        [
            "idle", "0", "0%", "0%", "0", "0", "0.0ms", "0.0ms", "-", "-", "-", "-", "-"
        ],
        "{text}"
    );
    // p50 2 ms, p99 12 ms; the first fallback at 12 ms, the first fresh
    // answer at 2 ms.
    assert_eq!(
        lines[3],
        [
            "mixed", "4", "25%", "50%", "1", "0", "2.0ms", "12ms", "12ms", "-", "2.0ms", "-", "-"
        ],
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
}

#[tokio::test(start_paused = true)]
async fn an_interval_under_10ms_prints_with_a_decimal() {
    let report = Experiment::new("fast", || async { Answer::Fresh })
        .interval(Duration::from_micros(2500))
        .phase(Phase::new("steady", MS(10)))
        .run()
        .await;
    let text = report.to_string();
    assert_eq!(
        text.lines().next(),
        Some("fast: one call every 2.5ms"),
        "{text}"
    );
}
