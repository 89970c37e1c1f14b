//! The same client stack under each network fault: a real server (axum), a
//! real client (reqwest, with its connection pool) and, between them, the
//! fault-injecting proxy of `resilience::chaos::proxy`. Nothing misbehaves
//! on purpose: the server always answers in a couple of milliseconds, and
//! every fault happens on the wire.
//!
//! ```text
//! cargo run --example network_chaos --features chaos,reqwest            # about 45 s
//! cargo run --example network_chaos --features chaos,reqwest -- --short # about 8 s
//! ```
//!
//! Each fault is one experiment: steady, then the fault, then recovery.
//! Per phase it prints fresh and fallback answers, failures, latency, when
//! the first fallback answer came after the fault started (fallback@), when
//! the breaker opened (open@), when the first fresh answer came (fresh@, in
//! recovery: the time to recover), the requests that reached the server
//! and the connections the proxy opened to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use resilience::chaos::experiment::{Answer, Experiment, Phase, Report};
use resilience::chaos::proxy::{Direction, Fault, FaultGuard, Proxy};
use resilience::http::RequestError;
use resilience::{BreakerPolicy, CircuitBreaker, circuit_breaker, fallback, retry, timeout};

/// The breaker of `quote`, watched by the experiments and reset between them.
static BREAKER: CircuitBreaker = CircuitBreaker::new(
    "network-chaos",
    BreakerPolicy::new()
        .failure_threshold(5)
        .open_for(Duration::from_millis(300)),
);

/// An answer, and whether the server gave it during this call.
#[derive(Debug, Clone)]
pub struct Quote {
    /// The price, or 0 in the fallback's default data.
    pub price: u32,
    /// `true` when the server answered; `false` for the fallback.
    pub fresh: bool,
}

/// A reqwest client for the quote server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// Default data when every layer gave up, then the breaker, two tries, and
/// 100 ms per try.
#[fallback(Ok(Quote { price: 0, fresh: false }))]
#[circuit_breaker(with = BREAKER)]
#[retry(
    max_attempts = 2,
    backoff = "fixed",
    base = "20ms",
    max_elapsed = "250ms"
)]
#[timeout("100ms")]
pub async fn quote(api: &Api, item: u32) -> Result<Quote, RequestError> {
    let response = api
        .http
        .get(format!("{}/quote/{item}", api.base))
        .send()
        .await?;
    let price = resilience::http::check(response)?
        .text()
        .await?
        .parse()
        .unwrap_or(0);
    Ok(Quote { price, fresh: true })
}

/// How long each phase lasts.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Before the fault.
    pub steady: Duration,
    /// With the fault on.
    pub fault: Duration,
    /// After it.
    pub recovery: Duration,
    /// Time between two calls.
    pub interval: Duration,
}

impl Config {
    /// The full run: 1 s steady, 3 s of fault, 3 s of recovery.
    pub fn full() -> Config {
        Config {
            steady: Duration::from_secs(1),
            fault: Duration::from_secs(3),
            recovery: Duration::from_secs(3),
            interval: Duration::from_millis(10),
        }
    }

    /// The CI run: 0.2 s, 0.5 s, 0.5 s.
    pub fn short() -> Config {
        Config {
            steady: Duration::from_millis(200),
            fault: Duration::from_millis(500),
            recovery: Duration::from_millis(500),
            ..Config::full()
        }
    }
}

type Inject = fn(&Proxy) -> Vec<FaultGuard>;

/// The network faults, one experiment each.
pub const FAULTS: [(&str, Inject); 6] = [
    ("latency 150 ms", |p| {
        vec![p.inject(Fault::latency(Duration::from_millis(150)).direction(Direction::Downstream))]
    }),
    ("bandwidth 2 kB/s", |p| {
        vec![p.inject(Fault::bandwidth(2_000))]
    }),
    ("black hole", |p| vec![p.inject(Fault::black_hole())]),
    ("reset mid-response", |p| {
        vec![p.inject(Fault::reset_after(40).direction(Direction::Downstream))]
    }),
    // A replica dies: its open connections reset, its port refuses.
    ("replica down", |p| {
        vec![p.inject(Fault::reset_after(0)), p.refuse_connections()]
    }),
    ("partition (responses)", |p| {
        vec![p.inject(Fault::partition(Direction::Downstream))]
    }),
];

/// Runs the server, the proxy and every experiment; one report per fault.
pub async fn run(config: Config) -> Vec<Report> {
    let hits = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/quote/{item}",
            get(
                |State(hits): State<Arc<AtomicU64>>, Path(item): Path<u32>| async move {
                    hits.fetch_add(1, Ordering::Relaxed);
                    (100 + item % 50).to_string()
                },
            ),
        )
        .with_state(Arc::clone(&hits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let upstream = listener.local_addr().expect("a bound address");
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut reports = Vec::new();
    for (name, inject) in FAULTS {
        // A fresh proxy and client pool per fault, so that one fault's
        // wedged connections do not spill into the next experiment.
        let proxy = Proxy::builder(upstream)
            .seed(7)
            .start()
            .await
            .expect("bind the proxy");
        let api = Api {
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("a plain HTTP client builds"),
            base: format!("http://{}", proxy.addr()),
        };
        BREAKER.reset();
        let item = Arc::new(AtomicU32::new(0));
        let workload = move || {
            let api = api.clone();
            let item = item.fetch_add(1, Ordering::Relaxed);
            async move {
                match quote(&api, item).await {
                    Ok(q) if q.fresh => Answer::Fresh,
                    Ok(_) => Answer::Fallback,
                    Err(_) => Answer::Failed,
                }
            }
        };
        let hits = Arc::clone(&hits);
        let report = Experiment::new(name, workload)
            .interval(config.interval)
            .call_timeout(Duration::from_secs(2))
            .breaker(&BREAKER)
            .proxy(&proxy)
            .reached(move || hits.load(Ordering::Relaxed))
            .phase(Phase::new("steady", config.steady))
            .phase(Phase::new("fault", config.fault).action(|| inject(&proxy)))
            .phase(Phase::new("recovery", config.recovery))
            .run()
            .await;
        proxy.stop().await;
        reports.push(report);
    }
    serving.abort();
    reports
}

#[tokio::main]
async fn main() {
    let short = std::env::args().any(|a| a == "--short")
        || std::env::var("NETWORK_CHAOS_SHORT").is_ok_and(|v| !v.is_empty() && v != "0");
    let config = if short {
        Config::short()
    } else {
        Config::full()
    };
    println!(
        "network chaos: #[fallback] #[circuit_breaker(5 failures, open 300 ms)] #[retry(2)] #[timeout(100 ms)] \
         over reqwest, through the proxy; {} calls/s\n",
        Duration::from_secs(1).as_nanos() / config.interval.as_nanos()
    );
    for report in run(config).await {
        println!("{report}");
    }
    println!(
        "fallback@ / open@ / fresh@: time from the phase's start to the first fallback answer, \
         the breaker opening, the first fresh answer.\n\
         reached: requests the server handled; conns: connections the proxy opened to it."
    );
}
