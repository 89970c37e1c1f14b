use resilience::{adaptive_concurrency, AdaptiveConcurrency, LimitAlgorithm, Rejection};

static LIMIT: AdaptiveConcurrency = AdaptiveConcurrency::new("db", LimitAlgorithm::Vegas);

#[adaptive_concurrency(with = LIMIT, max = 10, priority = level)]
async fn call(level: u8) -> Result<u8, Rejection> {
    Ok(level)
}

fn main() {}
