//! A flaky dependency that fails twice, then answers: `#[retry]` carries the
//! call through, and `#[timeout]` bounds each attempt.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::{Rejection, retry, timeout};
use tokio::time::Instant;

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Fails with a connection reset on the first two calls, then answers.
async fn flaky_inventory_service(sku: &str) -> io::Result<u32> {
    let attempt = ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(20)).await;
    if attempt <= 2 {
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            format!("connection reset (attempt {attempt})"),
        ))
    } else {
        Ok(sku.len() as u32 * 7)
    }
}

/// Three attempts at most, 100 ms then 200 ms apart; each attempt may take
/// 500 ms before it is dropped.
#[retry(max_attempts = 3, backoff = "exp", base = "100ms", max_delay = "1s")]
#[timeout("500ms")]
async fn stock_level(
    sku: &str,
    started: Instant,
    last: &std::sync::Mutex<Instant>,
) -> io::Result<u32> {
    let now = Instant::now();
    let gap = now - *last.lock().unwrap();
    let attempt = ATTEMPTS.load(Ordering::SeqCst) + 1;
    println!(
        "attempt {attempt} at {:>4} ms (backoff before it: {:>3} ms)",
        (now - started).as_millis(),
        gap.as_millis()
    );
    let answer = flaky_inventory_service(sku).await;
    *last.lock().unwrap() = Instant::now();
    match &answer {
        Ok(level) => println!("  -> ok: {level} in stock"),
        Err(error) => println!("  -> failed: {error}"),
    }
    answer
}

/// A dependency that hangs: the timeout drops it and reports which guard fired.
#[timeout("150ms")]
async fn hanging_dependency() -> Result<(), Rejection> {
    std::future::pending().await
}

#[tokio::main]
async fn main() {
    println!("calling a flaky service under #[retry] + #[timeout]:");
    let started = Instant::now();
    let last = std::sync::Mutex::new(started);
    match stock_level("A-1234", started, &last).await {
        Ok(level) => println!(
            "stock_level answered {level} after {} ms\n",
            started.elapsed().as_millis()
        ),
        Err(error) => println!("stock_level failed: {error}\n"),
    }

    println!("calling a dependency that never answers under #[timeout(\"150ms\")]:");
    let started = Instant::now();
    let error = hanging_dependency().await.unwrap_err();
    println!("  -> {error} (after {} ms)", started.elapsed().as_millis());
}
