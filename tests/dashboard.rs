//! The dashboard over HTTP, as a service mounts it: under a prefix, its
//! page and assets by relative URL, `snapshot.json`, `health`, and the
//! stream, with a stalled client that holds back nobody.

#![cfg(feature = "dashboard")]

use std::time::Duration;

use axum::Router;
use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::registry;
use resilience::{Bulkhead, RateLimiter};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The dashboard nested as a service would, under `/ops/resilience`;
/// returns `http://addr`.
async fn serve() -> String {
    let app = Router::new()
        .route("/", axum::routing::get(|| async { "the service" }))
        .nest("/ops/resilience", resilience::dashboard::router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Every `src="…"` and `href="…"` of the page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let end = rest.find('"').unwrap();
            out.push(rest[..end].to_owned());
        }
    }
    out
}

#[tokio::test]
async fn under_a_prefix_the_page_loads_everything_by_relative_url() {
    let base = serve().await;
    let http = client();

    // Nested, the page is at the prefix itself, without a trailing slash:
    // a relative base puts its relative URLs under the prefix.
    let page = http
        .get(format!("{base}/ops/resilience"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>") && html.contains("<label for=\"filter\""));
    assert!(html.contains("aria-live=\"polite\""));

    assert!(
        html.contains("<base href=\"resilience/\">"),
        "a relative base"
    );
    let links: Vec<String> = links(&html)
        .into_iter()
        .filter(|l| l != "resilience/")
        // No icon to fetch: else the browser asks the service for /favicon.ico.
        .filter(|l| l != "data:,")
        .collect();
    assert_eq!(links.len(), 2, "the script and the style sheet: {links:?}");
    for link in &links {
        assert!(
            !link.starts_with('/') && !link.contains(':'),
            "{link} is not relative to the page"
        );
        let asset = http
            .get(format!("{base}/ops/resilience/{link}"))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{link}");
        assert!(!asset.text().await.unwrap().is_empty());
    }
    let script = http
        .get(format!("{base}/ops/resilience/dashboard.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        script.contains("new EventSource(\"stream\")"),
        "the stream, relatively"
    );
    // The service's own routes are untouched.
    let root = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.text().await.unwrap(), "the service");
}

async fn snapshot(http: &reqwest::Client, base: &str) -> Value {
    let response = http
        .get(format!("{base}/ops/resilience/snapshot.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

fn find<'a>(frame: &'a Value, kind: &str, name: &str) -> &'a Value {
    frame["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == kind && i["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[tokio::test]
async fn snapshot_json_has_every_instance_with_its_policy_and_counters() {
    let breaker = registry::get_or_register("dash-json-breaker", || {
        CircuitBreaker::named(
            "dash-json-breaker",
            BreakerPolicy::new().failure_threshold(4),
        )
    });
    let bulkhead = registry::get_or_register("dash-json-bulkhead", || {
        Bulkhead::named("dash-json-bulkhead", 3)
    });
    registry::get_or_register("dash-json-limiter", || {
        RateLimiter::named("dash-json-limiter", 10, Duration::from_secs(1))
    });
    let _ = breaker
        .call(async { Err::<(), _>(std::io::Error::other("down")) })
        .await;
    let _ = breaker.call(async { Ok::<_, std::io::Error>(()) }).await;
    let permit = bulkhead.try_acquire().unwrap();

    let base = serve().await;
    let frame = snapshot(&client(), &base).await;
    assert!(frame["seq"].as_u64().unwrap() >= 1);
    let b = find(&frame, "circuit_breaker", "dash-json-breaker");
    assert_eq!(b["snapshot"]["state"], "closed");
    assert_eq!(b["snapshot"]["calls"]["succeeded"], 1);
    assert_eq!(b["snapshot"]["calls"]["failed"], 1);
    assert_eq!(b["status"], "UP");
    assert!(
        b["policy"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["key"] == "failure_threshold" && s["value"] == "4")
    );
    let k = find(&frame, "bulkhead", "dash-json-bulkhead");
    assert_eq!(k["snapshot"]["in_use"], 1);
    assert_eq!(k["snapshot"]["max_concurrent"], 3);
    let r = find(&frame, "rate_limiter", "dash-json-limiter");
    assert_eq!(
        r["snapshot"]["burst"].as_u64(),
        r["snapshot"]["available"].as_u64()
    );
    drop(permit);
}

#[tokio::test]
async fn health_is_200_only_when_every_instance_is_up() {
    let base = serve().await;
    let http = client();
    let health = || async {
        let r = http
            .get(format!("{base}/ops/resilience/health"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        (status, body)
    };
    let breaker = registry::get_or_register("dash-health", || {
        CircuitBreaker::named("dash-health", BreakerPolicy::new())
    });
    // No other test of this file leaves an instance down or degraded.
    let (status, body) = health().await;
    assert_eq!((status, body["status"].as_str()), (200, Some("UP")));

    breaker.force_open();
    let (status, body) = health().await;
    assert_eq!((status, body["status"].as_str()), (503, Some("DEGRADED")));
    let mine = body["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "dash-health")
        .unwrap();
    assert_eq!(mine["reason"], "circuit forced open");

    breaker.reset();
    assert_eq!(health().await.0, 200);
}

/// The `seq` of every complete frame in `bytes` (an SSE body, chunked).
fn seqs(bytes: &[u8]) -> Vec<u64> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("data: {\"seq\":")
        .filter_map(|(at, m)| {
            let digits: String = text[at + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// A browser that asks for the stream and then stops reading.
async fn stalled_client(base: &str) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            format!("GET /ops/resilience/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    socket
}

#[tokio::test(start_paused = true)]
async fn a_stalled_or_closed_page_holds_back_no_one() {
    // 500 instances make a frame of a few hundred kilobytes: a client
    // that does not read fills its socket within a few frames.
    for i in 0..500 {
        let name = format!("dash-stall-{i}");
        registry::get_or_register(name.clone(), || {
            CircuitBreaker::named(name, BreakerPolicy::new())
        });
    }
    let base = serve().await;
    let mut stalled = stalled_client(&base).await;

    let mut live = client()
        .get(format!("{base}/ops/resilience/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let mut body = Vec::new();
    let mut seen = Vec::new();
    while seen.len() < 20 {
        let chunk = live.chunk().await.unwrap().expect("the stream goes on");
        body.extend_from_slice(&chunk);
        seen = seqs(&body);
    }
    // The live page got frame after frame while the other sat on a full
    // socket: the snapshot never waited for it.
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let last_live = *seen.last().unwrap();
    eprintln!(
        "{} bytes per frame of {} instances",
        body.len() / seen.len(),
        registry::instances().len()
    );

    // The stalled page, read at last: what was in flight, then the latest
    // frame, not the backlog.
    let mut got = Vec::new();
    let mut buf = vec![0; 1 << 16];
    let newest = loop {
        let n = stalled.read(&mut buf).await.unwrap();
        assert!(n > 0, "the stream goes on");
        got.extend_from_slice(&buf[..n]);
        let mine = seqs(&got);
        if let Some(&s) = mine.last().filter(|&&s| s >= last_live) {
            break (mine.len(), s);
        }
    };
    assert!(
        newest.0 < newest.1 as usize,
        "the stalled page skipped frames: {} received up to frame {}",
        newest.0,
        newest.1
    );

    // Both pages close: the snapshot task stops (no frame is built but the
    // one this request asks for).
    drop(stalled);
    drop(live);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let http = client();
    let before = snapshot(&http, &base).await["seq"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = snapshot(&http, &base).await["seq"].as_u64().unwrap();
    assert_eq!(after, before + 1, "no frames built while nobody watches");
}
