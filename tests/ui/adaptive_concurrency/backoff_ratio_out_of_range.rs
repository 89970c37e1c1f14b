use resilience::{adaptive_concurrency, Rejection};

#[adaptive_concurrency(algorithm = "aimd", backoff_ratio = 1.5)]
async fn call(priority: u8) -> Result<u8, Rejection> {
    Ok(priority)
}

fn main() {}
