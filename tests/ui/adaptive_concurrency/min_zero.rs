use resilience::{adaptive_concurrency, Rejection};

#[adaptive_concurrency(min = 0)]
async fn call(priority: u8) -> Result<u8, Rejection> {
    Ok(priority)
}

fn main() {}
