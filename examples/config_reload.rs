//! Configuration from a file, reloaded live (feature `config`):
//!
//! ```text
//! cargo run --example config_reload --features config [path/to/resilience.toml]
//! ```
//!
//! Reads `resilience.toml` (or the path given) when present, else writes
//! a sample one to a temporary directory, and watches it: the attribute
//! says `failure_threshold = 5`, the file says 2, so the breaker opens
//! after two failures; the file is then edited while the circuit is open,
//! and the circuit stays open (a reload keeps state) under the new values.
//! Environment variables beat the file:
//! `RESILIENCE_CIRCUIT_BREAKER__RECOMMENDATIONS__FAILURE_THRESHOLD=3`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use resilience::{
    CircuitBreaker, Classify, Outcome, Rejection, bulkhead, circuit_breaker, registry,
};

#[derive(Debug)]
enum ApiError {
    Unavailable,
    Rejected(Rejection),
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejected(r)
    }
}

impl Classify for ApiError {
    fn classify(&self) -> Outcome {
        match self {
            ApiError::Unavailable => Outcome::TRANSIENT,
            ApiError::Rejected(r) => r.classify(),
        }
    }
}

#[circuit_breaker(name = "recommendations", failure_threshold = 5, open_for = "60s")]
#[bulkhead(name = "recommendations", max_concurrent = 32)]
async fn recommendations(up: bool) -> Result<&'static str, ApiError> {
    if up {
        Ok("items")
    } else {
        Err(ApiError::Unavailable)
    }
}

const SAMPLE: &str = r#"# Overrides the attributes of the instances named "recommendations".
[circuit_breaker.recommendations]
failure_threshold = 2
open_for = "30s"

[bulkhead.recommendations]
max_concurrent = 8
"#;

/// The file to read: the argument, `resilience.toml` when present, or a
/// sample written to a temporary directory.
fn config_file() -> PathBuf {
    if let Some(path) = std::env::args().nth(1) {
        return path.into();
    }
    let local = PathBuf::from("resilience.toml");
    if local.exists() {
        return local;
    }
    let dir = std::env::temp_dir().join(format!("resilience-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("resilience.toml");
    std::fs::write(&path, SAMPLE).expect("the sample file");
    path
}

#[tokio::main]
async fn main() {
    let path = config_file();
    println!("configuration: {}", path.display());
    let watcher = match resilience::config::watch(&path) {
        Ok(watcher) => watcher,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    for _ in 0..6 {
        let out = recommendations(false).await;
        let breaker = registry::get::<CircuitBreaker>("recommendations").unwrap();
        println!(
            "failing call: {:<70} circuit {}",
            format!("{out:?}"),
            breaker.state()
        );
    }
    let breaker = registry::get::<CircuitBreaker>("recommendations").unwrap();
    let policy = breaker.policy();
    println!(
        "in force: failure_threshold = {:?}, open_for = {:?} (the attribute says 5 and 60s)",
        policy.get_failure_threshold(),
        policy.get_open_for()
    );

    if path.starts_with(std::env::temp_dir()) {
        println!("\nediting the file while the circuit is open: open_for = \"10s\"");
        std::fs::write(&path, SAMPLE.replace("\"30s\"", "\"10s\"")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while watcher.reloads() == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!(
            "reloaded ({} reload): open_for = {:?}, circuit still {}; {:?}",
            watcher.reloads(),
            breaker.policy().get_open_for(),
            breaker.state(),
            recommendations(true).await
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
