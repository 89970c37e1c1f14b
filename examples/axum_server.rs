//! An axum server protected by a bulkhead and a rate limiter (feature
//! `axum`): a burst of requests arrives, the ones over the limits are
//! answered at once with 429 or 503 and a `Retry-After`, the others are
//! served.
//!
//! ```text
//! cargo run --example axum_server --features axum            # the burst, then exits
//! cargo run --example axum_server --features axum -- --serve # keeps serving on 127.0.0.1:3000
//! ```

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use resilience::axum::LoadShedLayer;
use resilience::tower::{BulkheadLayer, RateLimiterLayer};
use resilience::{Bulkhead, RateLimiter};
use tokio::task::JoinSet;
use tower::ServiceBuilder;

/// At most 4 searches at once; a fifth waits up to 50 ms for a place.
static SEARCH_POOL: Bulkhead = Bulkhead::new("search-pool", 4).max_wait(Duration::from_millis(50));
/// 20 searches a second, 8 at once after a quiet spell.
static SEARCH_RATE: RateLimiter =
    RateLimiter::new("search-rate", 20, Duration::from_secs(1)).burst(8);

async fn search() -> &'static str {
    // The expensive part: an index lookup.
    tokio::time::sleep(Duration::from_millis(200)).await;
    "3 results"
}

fn app() -> Router {
    Router::new().route("/search", get(search)).layer(
        ServiceBuilder::new()
            // Outermost: rejections become 429 / 503 responses.
            .layer(LoadShedLayer::new())
            .layer(RateLimiterLayer::new(&SEARCH_RATE))
            .layer(BulkheadLayer::new(&SEARCH_POOL)),
    )
}

#[tokio::main]
async fn main() {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let address = if serve_forever {
        "127.0.0.1:3000"
    } else {
        "127.0.0.1:0"
    };
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let addr = listener.local_addr().unwrap();
    println!("serving http://{addr}/search");
    let server = tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
    if serve_forever {
        server.await.unwrap();
        return;
    }

    // A burst of 12 requests at once.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut burst = JoinSet::new();
    for i in 0..12 {
        let client = client.clone();
        let url = format!("http://{addr}/search");
        burst.spawn(async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (i, status, retry_after, response.text().await.unwrap())
        });
    }
    let mut answers = burst.join_all().await;
    answers.sort_by_key(|a| a.0);
    for (i, status, retry_after, body) in answers {
        let retry_after = retry_after
            .map(|s| format!(" (Retry-After: {s})"))
            .unwrap_or_default();
        println!("request {i:>2}: {status}{retry_after} {body}");
    }
    let pool = SEARCH_POOL.snapshot();
    println!(
        "bulkhead: {} in use, {} refused; rate limiter: {} refused",
        pool.in_use,
        pool.rejected,
        SEARCH_RATE.snapshot().rejected
    );
}
