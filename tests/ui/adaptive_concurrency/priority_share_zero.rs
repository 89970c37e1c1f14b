use resilience::{adaptive_concurrency, Rejection};

#[adaptive_concurrency(priority_share = 0.0)]
async fn call(priority: u8) -> Result<u8, Rejection> {
    Ok(priority)
}

fn main() {}
