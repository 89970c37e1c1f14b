//! A simulated dependency for overload tests and `examples/overload.rs`:
//! `servers` calls served at once, each taking `service`; the rest queue
//! (first in, first out), so latency grows past a knee of concurrency at
//! `servers`. Runs on tokio's paused clock: simulated seconds are cheap.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use resilience::{AdaptiveConcurrency, Bulkhead, Rejection};
use tokio::time::Instant;

pub struct Dependency {
    servers: tokio::sync::Semaphore,
    service_nanos: AtomicU64,
}

impl Dependency {
    pub fn new(servers: usize, service: Duration) -> Arc<Self> {
        Arc::new(Dependency {
            servers: tokio::sync::Semaphore::new(servers),
            service_nanos: AtomicU64::new(service.as_nanos() as u64),
        })
    }

    /// Slows every call down (or speeds it up) from now on.
    pub fn set_service(&self, service: Duration) {
        self.service_nanos
            .store(service.as_nanos() as u64, Ordering::Relaxed);
    }

    pub async fn serve(&self) -> Result<(), Rejection> {
        let _server = self.servers.acquire().await.expect("never closed");
        let service = Duration::from_nanos(self.service_nanos.load(Ordering::Relaxed));
        tokio::time::sleep(service).await;
        Ok(())
    }
}

/// What guards the dependency.
#[derive(Clone)]
pub enum Guard {
    Adaptive(Arc<AdaptiveConcurrency>),
    Fixed(Arc<Bulkhead>),
}

/// One stretch of load: `rate` calls per second of `priority` for `span`.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    pub span: Duration,
    pub rate: u64,
    pub priority: u8,
}

#[derive(Default, Debug)]
pub struct Outcomes {
    /// Latency of each admitted, finished call, with its priority and
    /// when it started (since the run began).
    pub admitted: Vec<(u8, Duration, Duration)>,
    /// Refused calls, with their priority and when.
    pub refused: Vec<(u8, Duration)>,
    /// The limit every 100 ms (adaptive guards only).
    pub limits: Vec<(Duration, usize)>,
}

impl Outcomes {
    /// Calls that succeeded per second over `from..to` (by start time).
    pub fn goodput(&self, from: Duration, to: Duration) -> f64 {
        let n = self
            .admitted
            .iter()
            .filter(|(_, _, at)| (from..to).contains(at))
            .count();
        n as f64 / (to - from).as_secs_f64()
    }

    /// The `q` quantile of admitted calls' latency over `from..to`.
    pub fn latency(&self, q: f64, from: Duration, to: Duration, priority: Option<u8>) -> Duration {
        let mut l: Vec<Duration> = self
            .admitted
            .iter()
            .filter(|(p, _, at)| (from..to).contains(at) && priority.is_none_or(|x| x == *p))
            .map(|(_, d, _)| *d)
            .collect();
        if l.is_empty() {
            return Duration::ZERO;
        }
        l.sort();
        l[((l.len() - 1) as f64 * q).round() as usize]
    }

    /// The share of calls of `priority` started in `from..to` that were
    /// admitted (and so succeeded: the dependency never fails).
    pub fn success(&self, priority: u8, from: Duration, to: Duration) -> f64 {
        let ok = self
            .admitted
            .iter()
            .filter(|(p, _, at)| *p == priority && (from..to).contains(at))
            .count();
        let refused = self
            .refused
            .iter()
            .filter(|(p, at)| *p == priority && (from..to).contains(at))
            .count();
        ok as f64 / (ok + refused).max(1) as f64
    }

    /// The limits seen in `from..to`: least and most.
    pub fn limit_range(&self, from: Duration, to: Duration) -> (usize, usize) {
        let l = self
            .limits
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, l)| *l);
        (l.clone().min().unwrap_or(0), l.max().unwrap_or(0))
    }
}

/// Runs `phases` one after another (several phases with the same start
/// run together when `parallel`), then waits for every call to finish.
/// `at` (time since start, action) runs along: e.g. a slowdown.
pub async fn run(
    guard: Guard,
    dependency: Arc<Dependency>,
    phases: &[Vec<Phase>],
    events: Vec<(Duration, Box<dyn FnOnce() + Send>)>,
) -> Outcomes {
    let start = Instant::now();
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let total: Duration = phases
        .iter()
        .map(|p| p.iter().map(|x| x.span).max().unwrap_or_default())
        .sum();
    let mut sampler = None;
    if let Guard::Adaptive(limiter) = &guard {
        let (limiter, outcomes) = (limiter.clone(), outcomes.clone());
        sampler = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while start.elapsed() < total {
                tick.tick().await;
                let limit = limiter.snapshot().limit;
                outcomes
                    .lock()
                    .unwrap()
                    .limits
                    .push((start.elapsed(), limit));
            }
        }));
    }
    let events = tokio::spawn(async move {
        for (at, event) in events {
            tokio::time::sleep_until(start + at).await;
            event();
        }
    });
    let mut calls = Vec::new();
    let mut offset = Duration::ZERO;
    for parallel in phases {
        let mut generators = Vec::new();
        for phase in parallel.iter().copied() {
            let (guard, dependency, outcomes) =
                (guard.clone(), dependency.clone(), outcomes.clone());
            let phase_start = start + offset;
            generators.push(tokio::spawn(async move {
                let every = Duration::from_nanos(1_000_000_000 / phase.rate);
                let n = (phase.span.as_nanos() / every.as_nanos()) as u32;
                let mut calls = Vec::with_capacity(n as usize);
                for i in 0..n {
                    tokio::time::sleep_until(phase_start + every * i).await;
                    let (guard, dependency, outcomes) =
                        (guard.clone(), dependency.clone(), outcomes.clone());
                    calls.push(tokio::spawn(async move {
                        let began = Instant::now();
                        let at = began - start;
                        let result = match &guard {
                            Guard::Adaptive(l) => l.call(phase.priority, dependency.serve()).await,
                            Guard::Fixed(b) => b.call(dependency.serve()).await,
                        };
                        let mut o = outcomes.lock().unwrap();
                        match result {
                            Ok(()) => o.admitted.push((phase.priority, began.elapsed(), at)),
                            Err(_) => o.refused.push((phase.priority, at)),
                        }
                    }));
                }
                calls
            }));
        }
        for g in generators {
            calls.extend(g.await.unwrap());
        }
        offset += parallel.iter().map(|p| p.span).max().unwrap_or_default();
    }
    for c in calls {
        c.await.unwrap();
    }
    events.await.unwrap();
    if let Some(s) = sampler {
        s.await.unwrap();
    }
    Arc::try_unwrap(outcomes)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap()
}
