//! The outage demo's `/metrics` and `/health` (#15), scraped over HTTP
//! while the server fails, the text format read with a Prometheus parser.

#![cfg(all(feature = "reqwest", feature = "metrics", feature = "serde"))]

#[allow(dead_code)]
#[path = "../examples/outage.rs"]
mod outage;

use std::time::Duration;

use outage::Config;
use prometheus_parse::{Scrape, Value};

fn sample<'a>(
    scrape: &'a Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<&'a prometheus_parse::Sample> {
    scrape.samples.iter().find(|s| {
        s.metric == metric
            && labels.iter().all(|(k, v)| match s.labels.get(k) {
                // A private instance's name is its path: `…::protected_quote`.
                Some(value) if *k == "name" => value.ends_with(v),
                Some(value) => value == *v,
                None => false,
            })
    })
}

fn number(value: &Value) -> f64 {
    match value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("not a number: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_show_the_open_breaker_during_the_outage() {
    // Half-second phases: failing from 1.0 s to 1.5 s. The breaker opens in
    // its first tens of milliseconds (5 failures at 100 calls/s) and stays
    // open for `open_for = "1s"`.
    let phase_len = Duration::from_millis(500);
    let started = tokio::time::Instant::now();
    let demo = tokio::spawn(outage::run(Config {
        phase_len,
        progress: false,
        ..Config::short()
    }));
    let addr = loop {
        if let Some(addr) = outage::admin_addr() {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tokio::time::sleep_until(started + phase_len * 2 + phase_len / 2).await;

    let client = reqwest::Client::new();
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .unwrap();
    let health = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .expect("/health answers");
    assert_eq!(health.status(), 200, "Degraded is not Down");
    let health: serde_json::Value = serde_json::from_str(&health.text().await.unwrap()).unwrap();

    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    let breaker = "protected_quote";
    let state = |state| {
        sample(
            &scrape,
            "resilience_circuit_breaker_state",
            &[("name", breaker), ("state", state)],
        )
        .map(|s| number(&s.value))
    };
    assert_eq!(state("open"), Some(1.0), "open during the outage:\n{text}");
    assert_eq!(state("closed"), Some(0.0));
    let rejected = sample(
        &scrape,
        "resilience_calls_total",
        &[
            ("layer", "circuit_breaker"),
            ("name", breaker),
            ("outcome", "rejected"),
        ],
    )
    .expect("calls by outcome");
    assert!(
        number(&rejected.value) > 0.0,
        "the open breaker rejects calls"
    );
    let retried = sample(
        &scrape,
        "resilience_retry_calls_total",
        &[("name", breaker), ("kind", "failed_with_retry")],
    );
    assert!(retried.is_some(), "the retry's four kinds are exported");
    assert!(
        sample(&scrape, "resilience_bulkhead_max", &[("name", breaker)])
            .is_some_and(|s| number(&s.value) == 32.0)
    );
    let timeout = sample(&scrape, "resilience_timeout_seconds", &[("name", breaker)])
        .map(|s| number(&s.value))
        .expect("the adaptive timeout in force");
    assert!(
        (0.1..=0.25).contains(&timeout),
        "within min and max: {timeout}"
    );

    assert_eq!(health["status"], "DEGRADED");
    let instances = health["instances"].as_array().unwrap();
    let b = instances
        .iter()
        .find(|i| i["kind"] == "circuit_breaker" && i["name"].as_str().unwrap().ends_with(breaker))
        .expect("the private breaker is listed");
    assert_eq!(b["status"], "DEGRADED");
    assert_eq!(b["reason"], "circuit open");

    // The rest of the timeline is tests/outage.rs's business.
    demo.abort();
}
