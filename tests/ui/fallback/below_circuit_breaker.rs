use resilience::{circuit_breaker, fallback};

#[circuit_breaker(failure_threshold = 5)]
#[fallback(Ok(0))]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {}
