//! Chaos experiments: drive a workload through phases (steady, fault,
//! recovery) and measure what resilience guides ask to measure.
//!
//! An [`Experiment`] calls a workload at a fixed rate (open loop: a slow
//! answer does not slow the load down) through named [`Phase`]s. Each
//! phase lasts a set time and may run an action at its start, whose result
//! is kept until the phase ends: return a
//! [`FaultGuard`](super::proxy::FaultGuard) and the fault lasts exactly
//! the phase. The workload classifies each call's answer as an [`Answer`];
//! the [`Report`] gives, per phase, the success and fallback rates, latency
//! percentiles, how long after the phase's start the first fallback answer
//! came (fallback activation) and the breaker opened, how long until the
//! first fresh answer (recovery, in the phase after a fault), and the
//! calls that reached the upstream.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use resilience::chaos::experiment::{Answer, Experiment, Phase};
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::time::Duration;
//!
//! let down = Arc::new(AtomicBool::new(false));
//! let workload = {
//!     let down = Arc::clone(&down);
//!     move || {
//!         let down = down.load(Ordering::Relaxed);
//!         async move { if down { Answer::Fallback } else { Answer::Fresh } }
//!     }
//! };
//! let ms = Duration::from_millis;
//! let report = Experiment::new("toy", workload)
//!     .interval(ms(5))
//!     .phase(Phase::new("steady", ms(50)))
//!     .phase(Phase::new("outage", ms(50)).action({
//!         let down = Arc::clone(&down);
//!         move || down.store(true, Ordering::Relaxed)
//!     }))
//!     .phase(Phase::new("recovery", ms(50)).action(move || down.store(false, Ordering::Relaxed)))
//!     .run()
//!     .await;
//! println!("{report}");
//! assert_eq!(report.phase("steady").unwrap().fallback, 0);
//! assert!(report.phase("outage").unwrap().first_fallback.is_some());
//! assert!(report.phase("recovery").unwrap().first_fresh.is_some());
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::proxy::{Proxy, ProxyStats};
use crate::breaker::{CircuitBreaker, State};

/// How one call of the workload ended, as the workload classifies it.
///
/// ```
/// use resilience::chaos::experiment::Answer;
/// // E.g. from a `#[fallback]` function whose answer says where it came from.
/// let from_cache = true;
/// let answer = if from_cache { Answer::Fallback } else { Answer::Fresh };
/// assert_eq!(answer, Answer::Fallback);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// Answered by the dependency, during this call.
    Fresh,
    /// Answered by a fallback (a stale cache, default data).
    Fallback,
    /// Returned an error to the caller.
    Failed,
}

type Action<'a> = Box<dyn FnOnce() -> Box<dyn Send + 'a> + Send + 'a>;

/// One stage of an [`Experiment`]: a name, a duration and an optional
/// action at its start.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use resilience::chaos::experiment::Phase;
/// use resilience::chaos::proxy::{Fault, Proxy};
/// use std::time::Duration;
/// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let proxy = Proxy::start(server.local_addr()?).await?;
/// // The black hole lasts the phase: its guard drops when the phase ends.
/// let phase = Phase::new("black hole", Duration::from_secs(2))
///     .action(|| proxy.inject(Fault::black_hole()));
/// # let _ = phase;
/// # Ok(())
/// # }
/// ```
pub struct Phase<'a> {
    name: String,
    duration: Duration,
    action: Option<Action<'a>>,
}

impl fmt::Debug for Phase<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phase")
            .field("name", &self.name)
            .field("duration", &self.duration)
            .field("action", &self.action.is_some())
            .finish()
    }
}

impl<'a> Phase<'a> {
    /// A phase that lasts `duration` and changes nothing at its start.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let steady = resilience::chaos::experiment::Phase::new("steady", Duration::from_secs(1));
    /// # let _ = steady;
    /// ```
    pub fn new(name: impl Into<String>, duration: Duration) -> Phase<'a> {
        Phase {
            name: name.into(),
            duration,
            action: None,
        }
    }

    /// Runs `action` when the phase starts, and keeps what it returns
    /// until the phase ends (then drops it): a fault guard makes the fault
    /// last the phase; `()` is a one-off action.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use resilience::chaos::experiment::Phase;
    /// let phase = Phase::new("deploy", Duration::from_secs(1)).action(|| println!("deploying"));
    /// # let _ = phase;
    /// ```
    pub fn action<G: Send + 'a>(mut self, action: impl FnOnce() -> G + Send + 'a) -> Phase<'a> {
        self.action = Some(Box::new(move || Box::new(action())));
        self
    }
}

/// A workload driven through phases; see the [module](self) docs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::chaos::experiment::{Answer, Experiment, Phase};
/// use resilience::{BreakerPolicy, CircuitBreaker};
/// use std::time::Duration;
///
/// static BREAKER: CircuitBreaker = CircuitBreaker::new("doc-experiment", BreakerPolicy::new());
/// let report = Experiment::new("calls", || async { Answer::Fresh })
///     .interval(Duration::from_millis(10))
///     .breaker(&BREAKER)
///     .phase(Phase::new("steady", Duration::from_millis(50)))
///     .run()
///     .await;
/// assert_eq!(report.phases[0].failed, 0);
/// assert_eq!(report.phases[0].breaker_opened, None);
/// # }
/// ```
pub struct Experiment<'a, W> {
    name: String,
    workload: W,
    interval: Duration,
    call_timeout: Duration,
    phases: Vec<Phase<'a>>,
    breaker_open: Option<Box<dyn Fn() -> bool + Send + Sync + 'a>>,
    reached: Option<Box<dyn Fn() -> u64 + Send + Sync + 'a>>,
    proxy: Option<&'a Proxy>,
}

impl<W> fmt::Debug for Experiment<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Experiment")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .field("call_timeout", &self.call_timeout)
            .field("phases", &self.phases)
            .finish_non_exhaustive()
    }
}

/// One finished call.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// The phase the call started in.
    phase: usize,
    /// `None`: still running after the call timeout.
    answer: Option<Answer>,
    latency: Duration,
    answered_at: Instant,
}

impl<'a, W, F> Experiment<'a, W>
where
    W: Fn() -> F,
    F: Future<Output = Answer> + Send + 'static,
{
    /// An experiment calling `workload` every 10 ms, with no phase yet.
    /// The closure is called on the runner's task at each tick; the future
    /// it returns runs in a task of its own, so it owns what it uses
    /// (clone a client or an `Arc` into it).
    ///
    /// ```
    /// use resilience::chaos::experiment::{Answer, Experiment};
    /// let experiment = Experiment::new("noop", || async { Answer::Fresh });
    /// # let _ = experiment;
    /// ```
    pub fn new(name: impl Into<String>, workload: W) -> Experiment<'a, W> {
        Experiment {
            name: name.into(),
            workload,
            interval: Duration::from_millis(10),
            call_timeout: Duration::from_secs(10),
            phases: Vec::new(),
            breaker_open: None,
            reached: None,
            proxy: None,
        }
    }

    /// Starts one call every `interval` (at least 1 ms); calls that would
    /// start while the runner is late are skipped, not bunched.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use resilience::chaos::experiment::{Answer, Experiment};
    /// // 50 calls per second.
    /// let e = Experiment::new("e", || async { Answer::Fresh }).interval(Duration::from_millis(20));
    /// # let _ = e;
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Counts a call still running after `timeout` (default 10 s) as hung
    /// and drops it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use resilience::chaos::experiment::{Answer, Experiment};
    /// let e = Experiment::new("e", || async { Answer::Fresh }).call_timeout(Duration::from_secs(2));
    /// # let _ = e;
    /// ```
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Adds a phase, after those already added.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use resilience::chaos::experiment::{Answer, Experiment, Phase};
    /// let e = Experiment::new("e", || async { Answer::Fresh })
    ///     .phase(Phase::new("steady", Duration::from_secs(1)));
    /// # let _ = e;
    /// ```
    pub fn phase(mut self, phase: Phase<'a>) -> Self {
        self.phases.push(phase);
        self
    }

    /// Watches `breaker` to report when it opens (`Open` or `ForcedOpen`).
    ///
    /// ```
    /// use resilience::chaos::experiment::{Answer, Experiment};
    /// use resilience::{BreakerPolicy, CircuitBreaker};
    /// let breaker = CircuitBreaker::new("watched", BreakerPolicy::new());
    /// let e = Experiment::new("e", || async { Answer::Fresh }).breaker(&breaker);
    /// # let _ = e;
    /// ```
    pub fn breaker(self, breaker: &'a CircuitBreaker) -> Self {
        self.breaker_open_when(move || matches!(breaker.state(), State::Open | State::ForcedOpen))
    }

    /// Reports when `is_open` turns true, for a breaker of another kind.
    ///
    /// ```
    /// use resilience::chaos::experiment::{Answer, Experiment};
    /// let e = Experiment::new("e", || async { Answer::Fresh }).breaker_open_when(|| false);
    /// # let _ = e;
    /// ```
    pub fn breaker_open_when(mut self, is_open: impl Fn() -> bool + Send + Sync + 'a) -> Self {
        self.breaker_open = Some(Box::new(is_open));
        self
    }

    /// Reads a counter of calls that reached the upstream (e.g. kept by
    /// the server), reported per phase as a difference.
    ///
    /// ```
    /// use resilience::chaos::experiment::{Answer, Experiment};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let hits = AtomicU64::new(0);
    /// let e = Experiment::new("e", || async { Answer::Fresh })
    ///     .reached(|| hits.load(Ordering::Relaxed));
    /// # let _ = e;
    /// ```
    pub fn reached(mut self, counter: impl Fn() -> u64 + Send + Sync + 'a) -> Self {
        self.reached = Some(Box::new(counter));
        self
    }

    /// Reports `proxy`'s counters per phase (connections, bytes each way,
    /// resets).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use resilience::chaos::experiment::{Answer, Experiment};
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = resilience::chaos::proxy::Proxy::start(server.local_addr()?).await?;
    /// let e = Experiment::new("e", || async { Answer::Fresh }).proxy(&proxy);
    /// # let _ = e;
    /// # Ok(())
    /// # }
    /// ```
    pub fn proxy(mut self, proxy: &'a Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Runs every phase in order, then waits for the calls still running
    /// (each for at most the call timeout), and reports.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when a call of the workload panics.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use std::time::Duration;
    /// use resilience::chaos::experiment::{Answer, Experiment, Phase};
    /// let report = Experiment::new("e", || async { Answer::Fresh })
    ///     .phase(Phase::new("steady", Duration::from_millis(30)))
    ///     .run()
    ///     .await;
    /// assert!(report.phases[0].calls > 0);
    /// # }
    /// ```
    pub async fn run(self) -> Report {
        let Experiment {
            name,
            workload,
            interval,
            call_timeout,
            phases,
            breaker_open,
            reached,
            proxy,
        } = self;
        let mut calls: JoinSet<Sample> = JoinSet::new();
        let mut samples = Vec::new();
        let mut windows = Vec::with_capacity(phases.len());
        let mut reports = Vec::with_capacity(phases.len());
        let mut was_open = breaker_open.as_ref().is_some_and(|open| open());
        for (index, phase) in phases.into_iter().enumerate() {
            let Phase {
                name,
                duration,
                action,
            } = phase;
            let start = Instant::now();
            let proxy_before = proxy.map(Proxy::stats);
            let reached_before = reached.as_ref().map(|counter| counter());
            let held = action.map(|action| action());
            let mut breaker_opened = None;
            let mut observe = |now: Instant| {
                let Some(open) = &breaker_open else { return };
                let is_open = open();
                if is_open && !was_open && breaker_opened.is_none() {
                    breaker_opened = Some(now.saturating_duration_since(start));
                }
                was_open = is_open;
            };
            observe(start);
            let end = start + duration;
            let mut ticker = tokio::time::interval_at(start, interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    biased;
                    () = tokio::time::sleep_until(end) => break,
                    Some(done) = calls.join_next(), if !calls.is_empty() => {
                        samples.push(finished(done));
                        observe(Instant::now());
                    }
                    _ = ticker.tick() => {
                        let call = workload();
                        calls.spawn(async move {
                            let called = Instant::now();
                            let answer = tokio::time::timeout(call_timeout, call).await.ok();
                            let answered_at = Instant::now();
                            Sample { phase: index, answer, latency: answered_at - called, answered_at }
                        });
                        observe(Instant::now());
                    }
                }
            }
            drop(held);
            let ended = Instant::now();
            windows.push((start, ended));
            reports.push(PhaseReport {
                name,
                duration: ended - start,
                calls: 0,
                fresh: 0,
                fallback: 0,
                failed: 0,
                hung: 0,
                p50: Duration::ZERO,
                p99: Duration::ZERO,
                max: Duration::ZERO,
                first_fallback: None,
                breaker_opened,
                first_fresh: None,
                reached: reached
                    .as_ref()
                    .zip(reached_before)
                    .map(|(counter, before)| counter().saturating_sub(before)),
                proxy: proxy
                    .zip(proxy_before)
                    .map(|(p, before)| p.stats().since(&before)),
            });
        }
        while let Some(done) = calls.join_next().await {
            samples.push(finished(done));
        }
        summarize(&mut reports, &windows, &samples);
        Report {
            name,
            interval,
            phases: reports,
        }
    }
}

fn finished(done: Result<Sample, tokio::task::JoinError>) -> Sample {
    match done {
        Ok(sample) => sample,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => unreachable!("calls are never cancelled while running: {error}"),
    }
}

/// Fills in the per-phase counts (by the phase a call started in) and the
/// first answers (by the phase an answer arrived in; after the last phase
/// ended, the last phase).
fn summarize(reports: &mut [PhaseReport], windows: &[(Instant, Instant)], samples: &[Sample]) {
    for (index, report) in reports.iter_mut().enumerate() {
        let started: Vec<&Sample> = samples.iter().filter(|s| s.phase == index).collect();
        let count = |answer: Option<Answer>| started.iter().filter(|s| s.answer == answer).count();
        report.calls = started.len() as u64;
        report.fresh = count(Some(Answer::Fresh)) as u64;
        report.fallback = count(Some(Answer::Fallback)) as u64;
        report.failed = count(Some(Answer::Failed)) as u64;
        report.hung = count(None) as u64;
        let mut latencies: Vec<Duration> = started.iter().map(|s| s.latency).collect();
        latencies.sort_unstable();
        report.p50 = quantile(&latencies, 0.50);
        report.p99 = quantile(&latencies, 0.99);
        report.max = latencies.last().copied().unwrap_or_default();

        let (start, end) = windows[index];
        let last = index + 1 == windows.len();
        let first = |answer: Answer| {
            samples
                .iter()
                .filter(|s| s.answer == Some(answer))
                .filter(|s| s.answered_at >= start && (last || s.answered_at < end))
                .map(|s| s.answered_at - start)
                .min()
        };
        report.first_fallback = first(Answer::Fallback);
        report.first_fresh = first(Answer::Fresh);
    }
}

/// The nearest-rank quantile of sorted `latencies` (zero when empty).
fn quantile(latencies: &[Duration], q: f64) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
    latencies[rank - 1]
}

/// What an [`Experiment`] measured; printed as a table by `Display`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # use std::time::Duration;
/// use resilience::chaos::experiment::{Answer, Experiment, Phase};
/// let report = Experiment::new("e", || async { Answer::Fresh })
///     .phase(Phase::new("steady", Duration::from_millis(30)))
///     .run()
///     .await;
/// let steady = report.phase("steady").unwrap();
/// assert_eq!(steady.success_rate(), 1.0);
/// println!("{report}");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The experiment's name.
    pub name: String,
    /// The time between two calls.
    pub interval: Duration,
    /// One entry per phase, in order.
    pub phases: Vec<PhaseReport>,
}

impl Report {
    /// The first phase named `name`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use std::time::Duration;
    /// use resilience::chaos::experiment::{Answer, Experiment, Phase};
    /// let report = Experiment::new("e", || async { Answer::Fresh })
    ///     .phase(Phase::new("steady", Duration::from_millis(20)))
    ///     .run()
    ///     .await;
    /// assert!(report.phase("steady").is_some());
    /// assert!(report.phase("missing").is_none());
    /// # }
    /// ```
    pub fn phase(&self, name: &str) -> Option<&PhaseReport> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// One phase of a [`Report`].
///
/// Counts and latencies are over the calls that *started* in the phase;
/// `first_fallback` and `first_fresh` over the answers that *arrived* in
/// it, so that a fault's first effect on calls already running counts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # use std::time::Duration;
/// use resilience::chaos::experiment::{Answer, Experiment, Phase};
/// let report = Experiment::new("e", || async { Answer::Fallback })
///     .phase(Phase::new("degraded", Duration::from_millis(30)))
///     .run()
///     .await;
/// let phase = &report.phases[0];
/// assert_eq!(phase.fallback_rate(), 1.0);
/// assert!(phase.first_fallback.is_some());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PhaseReport {
    /// The phase's name.
    pub name: String,
    /// How long it actually lasted.
    pub duration: Duration,
    /// Calls started in the phase.
    pub calls: u64,
    /// Of those, answered by the dependency.
    pub fresh: u64,
    /// Answered by a fallback.
    pub fallback: u64,
    /// Returned an error.
    pub failed: u64,
    /// Still running after the call timeout (dropped).
    pub hung: u64,
    /// Median latency of the calls started in the phase.
    pub p50: Duration,
    /// 99th percentile latency (nearest rank).
    pub p99: Duration,
    /// Slowest call.
    pub max: Duration,
    /// From the phase's start to the first fallback answer in it
    /// (fallback activation, in a fault phase).
    pub first_fallback: Option<Duration>,
    /// From the phase's start to the breaker opening (a transition to open
    /// seen in the phase; the breaker is checked at every call start and
    /// end). `None` without a breaker to watch.
    pub breaker_opened: Option<Duration>,
    /// From the phase's start to the first fresh answer in it (recovery,
    /// in the phase after a fault).
    pub first_fresh: Option<Duration>,
    /// Calls that reached the upstream, from [`Experiment::reached`].
    pub reached: Option<u64>,
    /// The proxy's counters over the phase, from [`Experiment::proxy`].
    pub proxy: Option<ProxyStats>,
}

impl PhaseReport {
    /// Fresh answers over calls (0 without calls).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use std::time::Duration;
    /// use resilience::chaos::experiment::{Answer, Experiment, Phase};
    /// let report = Experiment::new("e", || async { Answer::Failed })
    ///     .phase(Phase::new("down", Duration::from_millis(20)))
    ///     .run()
    ///     .await;
    /// assert_eq!(report.phases[0].success_rate(), 0.0);
    /// # }
    /// ```
    pub fn success_rate(&self) -> f64 {
        ratio(self.fresh, self.calls)
    }

    /// Fallback answers over calls (0 without calls).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use std::time::Duration;
    /// use resilience::chaos::experiment::{Answer, Experiment, Phase};
    /// let report = Experiment::new("e", || async { Answer::Fresh })
    ///     .phase(Phase::new("up", Duration::from_millis(20)))
    ///     .run()
    ///     .await;
    /// assert_eq!(report.phases[0].fallback_rate(), 0.0);
    /// # }
    /// ```
    pub fn fallback_rate(&self) -> f64 {
        ratio(self.fallback, self.calls)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

fn maybe(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), millis)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: one call every {}", self.name, millis(self.interval))?;
        writeln!(
            f,
            "{:<14} {:>5} {:>6} {:>9} {:>6} {:>4} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>7}",
            "phase",
            "calls",
            "fresh",
            "fallback",
            "failed",
            "hung",
            "p50",
            "p99",
            "fallback@",
            "open@",
            "fresh@",
            "reached",
            "conns"
        )?;
        for p in &self.phases {
            writeln!(
                f,
                "{:<14} {:>5} {:>5.0}% {:>8.0}% {:>6} {:>4} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>7}",
                p.name,
                p.calls,
                p.success_rate() * 100.0,
                p.fallback_rate() * 100.0,
                p.failed,
                p.hung,
                millis(p.p50),
                millis(p.p99),
                maybe(p.first_fallback),
                maybe(p.breaker_opened),
                maybe(p.first_fresh),
                p.reached.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                p.proxy
                    .map_or_else(|| "-".to_owned(), |s| s.upstream_connections.to_string()),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::BreakerPolicy;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// On tokio's paused clock every number of the report is exact.
    #[tokio::test(start_paused = true)]
    async fn report_counts_phases_and_times_first_answers_exactly() {
        let down = Arc::new(AtomicBool::new(false));
        let breaker = CircuitBreaker::new("experiment-unit", BreakerPolicy::new());
        let workload = {
            let down = Arc::clone(&down);
            move || {
                let down = down.load(Ordering::SeqCst);
                async move {
                    // A fault answers from the fallback after a 35 ms timeout.
                    if down {
                        tokio::time::sleep(MS(35)).await;
                        Answer::Fallback
                    } else {
                        tokio::time::sleep(MS(2)).await;
                        Answer::Fresh
                    }
                }
            }
        };
        let report = Experiment::new("unit", workload)
            .interval(MS(10))
            .breaker(&breaker)
            .phase(Phase::new("steady", MS(100)))
            .phase(Phase::new("fault", MS(100)).action(|| {
                down.store(true, Ordering::SeqCst);
                breaker.force_open();
            }))
            .phase(Phase::new("recovery", MS(100)).action(|| {
                down.store(false, Ordering::SeqCst);
                breaker.reset();
            }))
            .run()
            .await;

        let [steady, fault, recovery] = &report.phases[..] else {
            panic!("three phases: {report:?}")
        };
        for phase in [steady, fault, recovery] {
            assert_eq!(phase.calls, 10, "{}: one call per 10 ms", phase.name);
            assert_eq!(phase.hung + phase.failed, 0);
        }
        assert_eq!((steady.fresh, steady.fallback), (10, 0));
        assert_eq!((fault.fresh, fault.fallback), (0, 10));
        assert_eq!((recovery.fresh, recovery.fallback), (10, 0));
        assert_eq!((steady.p50, steady.p99), (MS(2), MS(2)));
        assert_eq!((fault.p50, fault.p99), (MS(35), MS(35)));
        // The fault's first call starts with the phase and answers at 35 ms.
        assert_eq!(fault.first_fallback, Some(MS(35)));
        assert_eq!(fault.breaker_opened, Some(Duration::ZERO));
        assert_eq!(steady.breaker_opened, None);
        // Recovery: the first fresh answer 2 ms in; the fault's last calls
        // (started at 70, 80, 90 ms into it) answer from the fallback in
        // recovery, the first 5 ms in.
        assert_eq!(recovery.first_fresh, Some(MS(2)));
        assert_eq!(recovery.first_fallback, Some(MS(5)));
        assert_eq!(steady.first_fallback, None);
        assert!(report.to_string().contains("fault"));
    }

    #[tokio::test(start_paused = true)]
    async fn calls_past_the_timeout_are_hung_and_dropped() {
        let report = Experiment::new("hangs", std::future::pending::<Answer>)
            .interval(MS(10))
            .call_timeout(MS(50))
            .phase(Phase::new("down", MS(30)))
            .run()
            .await;
        let down = &report.phases[0];
        assert_eq!(down.calls, 3);
        assert_eq!(down.hung, 3);
        assert_eq!(down.p50, MS(50));
        assert_eq!(down.success_rate(), 0.0);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(MS).collect();
        assert_eq!(quantile(&sorted, 0.5), MS(50));
        assert_eq!(quantile(&sorted, 0.99), MS(99));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
