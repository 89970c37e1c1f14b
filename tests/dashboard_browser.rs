//! The dashboard in a real browser: the outage demo's short mode runs with
//! the dashboard mounted under `/ops/resilience`, headless Chromium opens
//! the page through chromedriver, and the DOM must show the breaker's card
//! Open (first, as the most troubled) during the outage and Closed after
//! recovery; then 500 instances must render and the filter must narrow
//! them. Saves a screenshot to `target/dashboard.png`.
//!
//! A browser runs on the real clock, so this test does too (about 10 s).
//! It needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them); without them it fails under CI (`CI=true`) and is skipped, with
//! a message, elsewhere. `CHROMIUM` and `CHROMEDRIVER` override the paths.

#![cfg(all(
    feature = "dashboard",
    feature = "reqwest",
    feature = "metrics",
    feature = "serde"
))]

#[allow(dead_code)]
#[path = "../examples/outage.rs"]
mod outage;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::registry;
use serde_json::{Value, json};

/// The first of `candidates` that exists, or the one in `$PATH`.
fn locate(var: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    candidates
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .chain(candidates.iter().flat_map(|name| {
            std::env::split_paths(&path)
                .map(move |dir| dir.join(name))
                .collect::<Vec<_>>()
        }))
        .find(|p| p.is_file())
}

/// Kills chromedriver (and with it the browser) and removes the profile.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(driver: &Path, port: u16, profile: PathBuf) -> Driver {
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // Killed and waited for on drop, on every path.
    let driver = Driver { child, profile };
    // Bounded: chromedriver listens within a few hundred milliseconds.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not listen on port {port} within 5 s");
}

async fn browser(chromium: &Path, driver_port: u16, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.display()),
                "--window-size=1120,700",
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session")
}

/// The text of the protected client's breaker card, its position among
/// the cards, and how many cards there are.
const BREAKER_CARD: &str = r#"
    const cards = [...document.querySelectorAll('#cards > .card')];
    const i = cards.findIndex(c => c.dataset.kind === 'circuit_breaker' && c.dataset.name.endsWith('protected_quote'));
    return i < 0 ? null : { state: cards[i].querySelector('.state').textContent, index: i, cards: cards.length };
"#;

async fn breaker_card(client: &Client) -> Option<(String, u64)> {
    let v = client.execute(BREAKER_CARD, vec![]).await.unwrap();
    (!v.is_null()).then(|| {
        (
            v["state"].as_str().unwrap().to_owned(),
            v["index"].as_u64().unwrap(),
        )
    })
}

/// Polls the DOM until the breaker's card reads `state`; returns when it
/// did, and its index among the cards.
async fn until_state(client: &Client, state: &str, within: Duration) -> (Duration, u64) {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < within {
        if let Some((now, index)) = breaker_card(client).await {
            if now == state {
                return (start.elapsed(), index);
            }
            last = Some(now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the breaker's card never read {state} within {within:?} (last: {last:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_breaker_open_in_the_outage_and_closed_after() {
    let chromium = locate(
        "CHROMIUM",
        &["/usr/bin/chromium", "chromium", "chromium-browser"],
    );
    let chromedriver = locate("CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        let hint = "needs chromium and chromedriver: apt-get install -y chromium chromium-driver";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{hint}");
        }
        eprintln!("skipped: {hint}");
        return;
    };

    let (url, _dashboard) = outage::serve_dashboard().await;
    let port = free_port();
    let profile = std::env::temp_dir().join(format!(
        "resilience-dashboard-{}-{port}",
        std::process::id()
    ));
    let _driver = start_driver(&chromedriver, port, profile.clone()).await;
    let client = browser(&chromium, port, &profile).await;

    let started = Instant::now();
    let run = tokio::spawn(outage::run(outage::Config {
        progress: false,
        ..outage::Config::short()
    }));
    client.goto(&url).await.unwrap();
    let title = client.title().await.unwrap();
    assert!(title.contains("resilience"), "{title}");
    // Everything the page loaded came from under the mount point.
    let loaded = client
        .execute(
            "return performance.getEntriesByType('resource').map(r => r.name);",
            vec![],
        )
        .await
        .unwrap();
    let loaded: Vec<&str> = loaded
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        loaded.len() >= 2,
        "the script and the style sheet: {loaded:?}"
    );
    for resource in &loaded {
        assert!(
            resource.starts_with(&format!("{url}/")),
            "{resource} is not under {url}"
        );
    }

    // Phases of 1 s: healthy, slow from 1 s, failing from 2 s, rate
    // limited, down, recovering from 5 s. The breaker opens once the
    // dependency goes bad: in the failing phase, or already in the slow
    // one when enough calls there time out (the demo's table shows both);
    // never while it is healthy. The page shows it within a frame or two
    // (a second of slack for a loaded machine).
    let phase = outage::Config::short().phase_len;
    let (_, index) = until_state(&client, "Open", phase * 4).await;
    let open_at = started.elapsed();
    assert!(
        open_at >= phase && open_at < phase * 4,
        "open seen at {open_at:?}: the slow and failing phases are {:?}..{:?}",
        phase,
        phase * 3
    );
    assert_eq!(index, 0, "the open breaker's card comes first");
    let summary = client
        .find(Locator::Id("summary"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(summary.contains("1 circuit not closed"), "{summary}");
    let png = client.screenshot().await.unwrap();
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png");
    std::fs::write(&shot, &png).unwrap();

    // From the start of the recovering phase: Closed once a half-open
    // trial succeeds. In the short run the recovering phase lasts one
    // `open_for` (1 s) and still fails half its calls at first, so the
    // last trial of the run can fail and leave the breaker open with
    // nobody calling: then the dependency answers again (a healthy server,
    // as after an outage) and the protected client's next call, once the
    // open period is over, is the trial that closes it.
    let recovery = phase * 5;
    tokio::time::sleep(recovery.saturating_sub(started.elapsed())).await;
    let report = run.await.unwrap();
    if breaker_card(&client)
        .await
        .is_none_or(|(state, _)| state != "Closed")
    {
        let healthy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", healthy.local_addr().unwrap());
        let app = axum::Router::new().route("/quote/{item}", axum::routing::get(|| async { "42" }));
        let server = tokio::spawn(async move { axum::serve(healthy, app).await });
        let api = outage::Api::new(&base, "protected");
        let deadline = Instant::now() + Duration::from_secs(5);
        // Until a call reaches the server (the trial) and succeeds: at most
        // one open period (1 s), calls 100 ms apart.
        while api.protected_quote(1).await.map_or(true, |q| q.price != 42)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.abort();
    }
    until_state(&client, "Closed", Duration::from_secs(3)).await;
    let closed_at = started.elapsed();
    eprintln!(
        "open seen at {open_at:?}, closed seen at {closed_at:?}, run over at {:?}; screenshot {}",
        started.elapsed(),
        shot.display()
    );
    assert!(report.total[1].calls() > 0);

    // 500 more instances: every one gets its card, in place.
    for i in 0..500 {
        let name = format!("browser-load-{i:03}");
        registry::get_or_register(name.clone(), || {
            CircuitBreaker::named(name, BreakerPolicy::new())
        });
    }
    let expected = registry::instances().len() as u64;
    let deadline = Instant::now() + Duration::from_secs(3);
    let (cards, render_ms) = loop {
        let v: Value = client
            .execute(
                "return { cards: document.querySelectorAll('#cards > .card').length, ms: document.body.dataset.renderMs };",
                vec![],
            )
            .await
            .unwrap();
        let cards = v["cards"].as_u64().unwrap();
        if cards >= expected || Instant::now() > deadline {
            break (cards, v["ms"].as_str().unwrap_or("?").to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(cards, expected, "one card per instance");
    // Then frames update those cards in place; report (not assert) the
    // time the page takes per frame.
    let seq = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let at = seq(&client
        .execute("return document.body.dataset.seq;", vec![])
        .await
        .unwrap());
    let deadline = Instant::now() + Duration::from_secs(3);
    while seq(&client
        .execute("return document.body.dataset.seq;", vec![])
        .await
        .unwrap())
        < at + 2
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let steady = client
        .execute("return document.body.dataset.renderMs;", vec![])
        .await
        .unwrap();
    eprintln!(
        "{cards} cards: created in a frame of {render_ms} ms, then updated in place in {steady} ms per frame"
    );

    // The filter narrows the cards to the protected client's instances.
    let filter = client
        .find(Locator::Css("label[for=filter] + input#filter"))
        .await;
    let filter = filter.expect("the filter box has its label");
    filter.send_keys("protected_quote").await.unwrap();
    let shown = client
        .execute(
            "return [...document.querySelectorAll('#cards > .card')].filter(c => !c.hidden).map(c => c.dataset.name);",
            vec![],
        )
        .await
        .unwrap();
    let shown = shown.as_array().unwrap();
    let matching = registry::instances()
        .iter()
        .filter(|i| i.name.contains("protected_quote"))
        .count();
    assert!(matching >= 4, "breaker, retry, timeout, bulkhead at least");
    assert_eq!(shown.len(), matching, "{shown:?}");
    assert!(
        shown
            .iter()
            .all(|n| n.as_str().unwrap().contains("protected_quote"))
    );

    client.close().await.unwrap();
}
