use resilience::{rate_limiter, Bulkhead, Rejection};

static POOL: Bulkhead = Bulkhead::new("pool", 4);

// A bulkhead where a rate limiter belongs.
#[rate_limiter(with = POOL)]
async fn query() -> Result<u32, Rejection> {
    Ok(1)
}

fn main() {}
