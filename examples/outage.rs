//! The outage demo: one local server going through an outage, two clients
//! calling it under the same load. One is bare (a plain
//! `tokio::time::timeout`), the other carries the full stack: stale-cache
//! fallback, circuit breaker, retry with jitter and budget, adaptive
//! per-attempt timeout, bulkhead.
//!
//! ```text
//! cargo run --example outage --features reqwest,metrics,serde            # about 50 s
//! cargo run --example outage --features reqwest,metrics,serde -- --short # about 6 s (or OUTAGE_SHORT=1)
//! ```
//!
//! With `--features dashboard` as well, it serves the live dashboard
//! (`resilience::dashboard`) and prints its address first.
//!
//! While it runs, the client side serves `/metrics` (Prometheus text, through
//! `metrics-exporter-prometheus`) and `/health` (`resilience::health()` as
//! JSON) on the address it prints: watch the breaker open during the outage.
//!
//! The server's endpoint follows a timeline: healthy, slow, failing (503),
//! rate limiting (429 + Retry-After), down (accepts and hangs), recovering.
//! At the end it prints, per phase, one row per client: calls answered
//! fresh, answered by the fallback, failed, hung, client-side latency, and
//! the requests that reached the server.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use resilience::http::RequestError;
use resilience::{bulkhead, circuit_breaker, fallback, retry, rng, timeout};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Header naming the client, so the server can count each one's requests.
const CLIENT_HEADER: &str = "x-demo-client";
/// How many distinct items the load cycles through (the stale cache's keys).
const ITEMS: u32 = 16;
/// The bare client's only protection.
pub const BARE_TIMEOUT: Duration = Duration::from_secs(2);
/// A call still running after this long is counted as hung and dropped.
pub const HUNG_AFTER: Duration = Duration::from_secs(5);
/// The longest a protected call can take by construction: no retry starts
/// after `max_elapsed` (500 ms) and each attempt, bulkhead wait included, is
/// cut at the adaptive timeout's `max` (250 ms). Keep in step with the
/// attributes on `protected_quote`.
pub const PROTECTED_BUDGET: Duration = Duration::from_millis(500 + 250);

/// A stage of the outage, in timeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Answers in a few milliseconds.
    Healthy,
    /// Three answers in four take 80–200 ms, the rest 0.4–1.5 s.
    Slow,
    /// `503 Service Unavailable`, at once.
    Failing,
    /// 20 requests per second per client; the rest get `429` with
    /// `Retry-After` (alternately in seconds and as an HTTP date).
    RateLimited,
    /// Accepts the connection and does not answer for 5 s.
    Down,
    /// Errors fade from 50 % to none, latency 10–40 ms.
    Recovering,
}

impl Phase {
    /// Every phase, in the order the server goes through them.
    pub const ALL: [Phase; 6] = [
        Phase::Healthy,
        Phase::Slow,
        Phase::Failing,
        Phase::RateLimited,
        Phase::Down,
        Phase::Recovering,
    ];

    /// A short name for the table.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Healthy => "healthy",
            Phase::Slow => "slow",
            Phase::Failing => "failing 503",
            Phase::RateLimited => "limiting 429",
            Phase::Down => "down (hangs)",
            Phase::Recovering => "recovering",
        }
    }
}

/// How long the demo runs and how hard it pushes.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long each phase lasts.
    pub phase_len: Duration,
    /// Each client starts one call per interval (open loop: a slow answer
    /// does not slow the load down, as with real users).
    pub interval: Duration,
    /// Print a progress line on stderr while running.
    pub progress: bool,
}

impl Config {
    /// The full demo: six phases of 8 s, 100 calls per second per client.
    pub fn full() -> Self {
        Config {
            phase_len: Duration::from_secs(8),
            interval: Duration::from_millis(10),
            progress: true,
        }
    }

    /// The CI run: six phases of 1 s, same load.
    pub fn short() -> Self {
        Config {
            phase_len: Duration::from_secs(1),
            ..Config::full()
        }
    }

    /// `short()` with `--short` or `OUTAGE_SHORT=1`, else `full()`.
    pub fn from_env() -> Self {
        let short = std::env::args().any(|a| a == "--short")
            || std::env::var("OUTAGE_SHORT").is_ok_and(|v| !v.is_empty() && v != "0");
        if short {
            Config::short()
        } else {
            Config::full()
        }
    }
}

// ---------------------------------------------------------------- server --

/// The two clients, as indexes into per-client counters.
const BARE: usize = 0;
const PROTECTED: usize = 1;
const CLIENTS: [&str; 2] = ["bare", "protected"];

struct Server {
    start: Instant,
    phase_len: Duration,
    /// Requests that reached the handler, per phase and client.
    reached: [[AtomicU64; 2]; 6],
    /// Fixed-window rate limiting per client: (window number, admitted).
    windows: Mutex<[(u64, u32); 2]>,
    throttled: AtomicU64,
}

impl Server {
    /// The phase at `now` and how far into it (0..1); `None` after the end.
    fn phase_at(&self, now: Instant) -> Option<(usize, f64)> {
        let elapsed = now.duration_since(self.start);
        let index = (elapsed.as_nanos() / self.phase_len.as_nanos()) as usize;
        let into = elapsed.as_secs_f64() / self.phase_len.as_secs_f64() - index as f64;
        (index < Phase::ALL.len()).then_some((index, into))
    }

    /// 2 requests per 100 ms window per client: 20 per second.
    fn admit(&self, client: usize) -> bool {
        let window = (Instant::now().duration_since(self.start).as_millis() / 100) as u64;
        let mut windows = self.windows.lock().unwrap();
        let (current, admitted) = &mut windows[client];
        if *current != window {
            *current = window;
            *admitted = 0;
        }
        *admitted += 1;
        *admitted <= 2
    }
}

fn fresh(item: u32) -> Response {
    // A made-up price that changes with the item.
    (100 + item * 7).to_string().into_response()
}

fn unavailable() -> Response {
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

async fn quote(
    State(server): State<Arc<Server>>,
    Path(item): Path<u32>,
    headers: HeaderMap,
) -> Response {
    let client = match headers.get(CLIENT_HEADER).and_then(|v| v.to_str().ok()) {
        Some("bare") => BARE,
        Some("protected") => PROTECTED,
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    let arrived = Instant::now();
    let Some((index, into)) = server.phase_at(arrived) else {
        return fresh(item);
    };
    server.reached[index][client].fetch_add(1, Ordering::Relaxed);
    let ms = Duration::from_millis;
    match Phase::ALL[index] {
        Phase::Healthy => {
            tokio::time::sleep(rng::uniform(ms(2), ms(8))).await;
            fresh(item)
        }
        Phase::Slow => {
            let latency = if rng::chance(0.75) {
                rng::uniform(ms(80), ms(200))
            } else {
                rng::uniform(ms(400), ms(1500))
            };
            tokio::time::sleep(latency).await;
            fresh(item)
        }
        Phase::Failing => {
            tokio::time::sleep(rng::uniform(ms(1), ms(3))).await;
            unavailable()
        }
        Phase::RateLimited => {
            if server.admit(client) {
                tokio::time::sleep(rng::uniform(ms(2), ms(8))).await;
                return fresh(item);
            }
            // Both forms RFC 9110 allows, so the demo exercises both parsers.
            let retry_after = if server.throttled.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
                "1".to_owned()
            } else {
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(1))
            };
            let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
            response.headers_mut().insert(
                RETRY_AFTER,
                HeaderValue::from_str(&retry_after).expect("ASCII"),
            );
            response
        }
        Phase::Down => {
            // Hold the connection, as a wedged server does: longer than any
            // client waits, but bounded so the demo ends.
            tokio::time::sleep(HUNG_AFTER).await;
            unavailable()
        }
        Phase::Recovering => {
            tokio::time::sleep(rng::uniform(ms(10), ms(40))).await;
            if rng::chance(0.5 * (1.0 - into)) {
                unavailable()
            } else {
                fresh(item)
            }
        }
    }
}

// --------------------------------------------------------------- clients --

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The server, during this call (or, from the stale cache, an earlier one).
    Server,
    /// The fallback's default data.
    Default,
}

/// What a client gets back.
#[derive(Debug, Clone)]
pub struct Quote {
    /// The item asked for.
    pub item: u32,
    /// Its price, or 0 in default data.
    pub price: u32,
    /// When the server's answer arrived: before the call started means the
    /// stale cache served it.
    pub fetched_at: Instant,
    /// Where the answer came from.
    pub source: Source,
}

impl Quote {
    fn placeholder(item: u32) -> Self {
        Quote {
            item,
            price: 0,
            fetched_at: Instant::now(),
            source: Source::Default,
        }
    }
}

/// A reqwest client that names itself to the server.
pub struct Api {
    http: reqwest::Client,
    base: String,
    name: &'static str,
}

impl Api {
    /// A client of the server at `base` that names itself `name`
    /// (`"bare"` or `"protected"`).
    pub fn new(base: &str, name: &'static str) -> Self {
        Api {
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("a plain HTTP client builds"),
            base: base.to_owned(),
            name,
        }
    }

    /// One request, nothing else: the body both clients share.
    async fn fetch(&self, item: u32) -> Result<Quote, RequestError> {
        let response = self
            .http
            .get(format!("{}/quote/{item}", self.base))
            .header(CLIENT_HEADER, self.name)
            .send()
            .await?;
        let price = resilience::http::check(response)?
            .text()
            .await?
            .parse()
            .unwrap_or(0);
        Ok(Quote {
            item,
            price,
            fetched_at: Instant::now(),
            source: Source::Server,
        })
    }

    /// What most code does: one attempt under a generous timeout.
    pub async fn bare_quote(&self, item: u32) -> Result<Quote, String> {
        match tokio::time::timeout(BARE_TIMEOUT, self.fetch(item)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("timed out after {BARE_TIMEOUT:?}")),
        }
    }

    /// The same request with the full stack, outermost first: serve the last
    /// good answer (then default data) when the call fails; stop calling a
    /// service that keeps failing; retry passing failures a little, within a
    /// budget, honouring Retry-After; cut each attempt at twice the observed
    /// P99, between 100 and 250 ms; let at most 32 attempts in at once.
    /// The stale cache is keyed by the server as well as the item, so a
    /// client of another server is never served this one's quotes.
    #[fallback(
        stale_cache(ttl = "30s", key = (self.base.clone(), item)),
        Ok(Quote::placeholder(item))
    )]
    #[circuit_breaker(failure_threshold = 5, open_for = "1s")]
    #[retry(
        max_attempts = 3,
        backoff = "exp",
        base = "25ms",
        max_delay = "200ms",
        jitter,
        max_elapsed = "500ms",
        budget = 0.2
    )]
    #[timeout(
        adaptive,
        quantile = 0.99,
        multiplier = 2.0,
        min = "100ms",
        max = "250ms"
    )]
    #[bulkhead(max_concurrent = 32, max_wait = "20ms")]
    pub async fn protected_quote(&self, item: u32) -> Result<Quote, RequestError> {
        self.fetch(item).await
    }
}

// ------------------------------------------------------------------ load --

/// How one call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Ok,
    Degraded,
    Failed,
    Hung,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    phase: usize,
    ending: Ending,
    latency: Duration,
}

/// One client's outcome over one phase (or the whole run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// Answered by the server within this call.
    pub ok: u64,
    /// Answered by the fallback (stale cache or default data).
    pub degraded: u64,
    /// Returned an error to the caller.
    pub failed: u64,
    /// Still running after [`HUNG_AFTER`]; dropped.
    pub hung: u64,
    /// Median client-side latency.
    pub p50: Duration,
    /// 99th percentile client-side latency.
    pub p99: Duration,
    /// Slowest call.
    pub max: Duration,
    /// Requests that reached the server (retries included).
    pub reached: u64,
}

impl Row {
    fn from_samples(samples: &[Sample], reached: u64) -> Self {
        let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
        latencies.sort_unstable();
        let quantile = |q: f64| {
            if latencies.is_empty() {
                return Duration::ZERO;
            }
            let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            latencies[rank - 1]
        };
        let count = |ending| samples.iter().filter(|s| s.ending == ending).count() as u64;
        Row {
            ok: count(Ending::Ok),
            degraded: count(Ending::Degraded),
            failed: count(Ending::Failed),
            hung: count(Ending::Hung),
            p50: quantile(0.50),
            p99: quantile(0.99),
            max: latencies.last().copied().unwrap_or_default(),
            reached,
        }
    }

    /// Calls made.
    pub fn calls(&self) -> u64 {
        self.ok + self.degraded + self.failed + self.hung
    }
}

/// The outcome of a run: per phase, one [`Row`] per client.
#[derive(Debug, Clone)]
pub struct Report {
    /// Per phase: `[bare, protected]`.
    pub phases: Vec<(Phase, [Row; 2])>,
    /// The whole run: `[bare, protected]`.
    pub total: [Row; 2],
}

impl Report {
    /// The bare client's row for `phase`.
    pub fn bare(&self, phase: Phase) -> &Row {
        &self.row(phase)[BARE]
    }

    /// The protected client's row for `phase`.
    pub fn protected(&self, phase: Phase) -> &Row {
        &self.row(phase)[PROTECTED]
    }

    fn row(&self, phase: Phase) -> &[Row; 2] {
        &self
            .phases
            .iter()
            .find(|(p, _)| *p == phase)
            .expect("every phase ran")
            .1
    }
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<13} {:<10} {:>6} {:>9} {:>7} {:>5} {:>8} {:>8} {:>15}",
            "phase", "client", "ok", "degraded", "failed", "hung", "p50", "p99", "reached server"
        )?;
        let rows = self
            .phases
            .iter()
            .map(|(phase, rows)| (phase.name(), rows))
            .chain(std::iter::once(("total", &self.total)));
        for (name, rows) in rows {
            for (client, row) in CLIENTS.iter().zip(rows) {
                let phase = if *client == CLIENTS[BARE] { name } else { "" };
                writeln!(
                    f,
                    "{:<13} {:<10} {:>6} {:>9} {:>7} {:>5} {:>8} {:>8} {:>15}",
                    phase,
                    client,
                    row.ok,
                    row.degraded,
                    row.failed,
                    row.hung,
                    millis(row.p50),
                    millis(row.p99),
                    row.reached
                )?;
            }
        }
        Ok(())
    }
}

// ----------------------------------------------------------------- admin --

/// Where `/metrics` and `/health` are served, once `run` has bound it.
static ADMIN: Mutex<Option<std::net::SocketAddr>> = Mutex::new(None);

/// The address of the running demo's `/metrics` and `/health`.
pub fn admin_addr() -> Option<std::net::SocketAddr> {
    *ADMIN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The Prometheus recorder: installed once per process.
fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder in this process")
        })
        .clone()
}

/// `/metrics`: every instance's counters and gauges, in Prometheus text.
/// `/health`: `resilience::health()` as JSON, 503 when an instance is Down.
fn admin_router() -> Router {
    let handle = prometheus();
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    resilience::metrics::publish();
                    handle.render()
                }
            }),
        )
        .route(
            "/health",
            get(|| async {
                let health = resilience::health();
                let status = if health.status == resilience::health::Status::Down {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                };
                let json = serde_json::to_string(&health).expect("health serializes");
                let mut headers = HeaderMap::new();
                headers.insert(
                    axum::http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                (status, headers, json)
            }),
        )
}

// ------------------------------------------------------------- dashboard --

/// Serves `resilience::dashboard::router()` under `/ops/resilience/` on a
/// local port (feature `dashboard`); returns the page's URL and the server.
#[cfg(feature = "dashboard")]
pub async fn serve_dashboard() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let url = format!(
        "http://{}/ops/resilience",
        listener.local_addr().expect("a bound address")
    );
    let app = Router::new().nest("/ops/resilience", resilience::dashboard::router());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the dashboard serves");
    });
    (url, task)
}

/// Runs the server and both clients through every phase and reports.
pub async fn run(config: Config) -> Report {
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    *ADMIN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some(admin.local_addr().expect("a bound address"));
    let admin = tokio::spawn(async move { axum::serve(admin, admin_router()).await });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().expect("a bound address"));
    let start = Instant::now();
    let server = Arc::new(Server {
        start,
        phase_len: config.phase_len,
        reached: Default::default(),
        windows: Mutex::new([(u64::MAX, 0); 2]),
        throttled: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/quote/{item}", get(quote))
        .with_state(Arc::clone(&server));
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let clients = Arc::new([
        Api::new(&base, CLIENTS[BARE]),
        Api::new(&base, CLIENTS[PROTECTED]),
    ]);
    let samples = Arc::new(Mutex::new([Vec::new(), Vec::new()]));
    let in_flight = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let total = config.phase_len * Phase::ALL.len() as u32;
    let ticks = (total.as_nanos() / config.interval.as_nanos()) as u64;

    let progress = config.progress.then(|| {
        let server = Arc::clone(&server);
        let in_flight = Arc::clone(&in_flight);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            loop {
                every.tick().await;
                let phase = server
                    .phase_at(Instant::now())
                    .map_or("draining", |(i, _)| Phase::ALL[i].name());
                eprint!(
                    "\r{:>5.1}s / {:.0}s  {:<13} in flight: bare {:>4}, protected {:>4}   ",
                    start.elapsed().as_secs_f64(),
                    total.as_secs_f64(),
                    phase,
                    in_flight[BARE].load(Ordering::Relaxed),
                    in_flight[PROTECTED].load(Ordering::Relaxed),
                );
            }
        })
    });

    let mut calls = JoinSet::new();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for n in 0..ticks {
        ticker.tick().await;
        let Some((phase, _)) = server.phase_at(Instant::now()) else {
            break;
        };
        let item = (n % u64::from(ITEMS)) as u32;
        for client in [BARE, PROTECTED] {
            let (clients, samples, in_flight) = (
                Arc::clone(&clients),
                Arc::clone(&samples),
                Arc::clone(&in_flight),
            );
            calls.spawn(async move {
                in_flight[client].fetch_add(1, Ordering::Relaxed);
                let called = Instant::now();
                let api = &clients[client];
                let ending = if client == BARE {
                    match tokio::time::timeout(HUNG_AFTER, api.bare_quote(item)).await {
                        Ok(Ok(_)) => Ending::Ok,
                        Ok(Err(_)) => Ending::Failed,
                        Err(_) => Ending::Hung,
                    }
                } else {
                    match tokio::time::timeout(HUNG_AFTER, api.protected_quote(item)).await {
                        Ok(Ok(q)) if q.source == Source::Server && q.fetched_at >= called => {
                            Ending::Ok
                        }
                        Ok(Ok(_)) => Ending::Degraded,
                        Ok(Err(_)) => Ending::Failed,
                        Err(_) => Ending::Hung,
                    }
                };
                let latency = called.elapsed();
                in_flight[client].fetch_sub(1, Ordering::Relaxed);
                samples.lock().unwrap()[client].push(Sample {
                    phase,
                    ending,
                    latency,
                });
            });
        }
        // Reap finished calls as we go so the set stays small.
        while calls.try_join_next().is_some() {}
    }
    // Every call is bounded by HUNG_AFTER, so this ends.
    while calls.join_next().await.is_some() {}
    if let Some(progress) = progress {
        progress.abort();
        eprintln!();
    }
    serving.abort();
    admin.abort();

    let samples = samples.lock().unwrap();
    let reached =
        |phase: usize, client: usize| server.reached[phase][client].load(Ordering::Relaxed);
    let phases = Phase::ALL
        .iter()
        .enumerate()
        .map(|(i, &phase)| {
            let row = |client: usize| {
                let in_phase: Vec<Sample> = samples[client]
                    .iter()
                    .filter(|s| s.phase == i)
                    .copied()
                    .collect();
                Row::from_samples(&in_phase, reached(i, client))
            };
            (phase, [row(BARE), row(PROTECTED)])
        })
        .collect();
    let whole = |client: usize| {
        let reached = (0..Phase::ALL.len()).map(|i| reached(i, client)).sum();
        Row::from_samples(&samples[client], reached)
    };
    Report {
        phases,
        total: [whole(BARE), whole(PROTECTED)],
    }
}

#[tokio::main]
async fn main() {
    let config = Config::from_env();
    #[cfg(feature = "dashboard")]
    let _dashboard = {
        let (url, task) = serve_dashboard().await;
        println!(
            "dashboard: {url}  (open it now: the breaker opens when the server starts failing, a third of the way in)"
        );
        task
    };
    println!(
        "outage demo: {} phases of {:?}, {} calls/s per client; bare = {:?} timeout, protected = full stack\n",
        Phase::ALL.len(),
        config.phase_len,
        Duration::from_secs(1).as_nanos() / config.interval.as_nanos(),
        BARE_TIMEOUT,
    );
    let report = tokio::spawn(run(config));
    // `run` binds the admin address first thing.
    while admin_addr().is_none() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if let Some(addr) = admin_addr() {
        println!("metrics: http://{addr}/metrics   health: http://{addr}/health\n");
    }
    let report = report.await.expect("the demo ran");
    println!("{report}");
    println!(
        "degraded = answered by #[fallback] (stale cache or default data); reached server includes retries.\n\
         The protected client's calls are bounded by construction at {:?} (max_elapsed + one attempt).",
        PROTECTED_BUDGET
    );
}
