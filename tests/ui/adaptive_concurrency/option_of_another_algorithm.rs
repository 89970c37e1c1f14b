use resilience::{adaptive_concurrency, Rejection};

#[adaptive_concurrency(algorithm = "vegas", tolerance = 1.2)]
async fn call(priority: u8) -> Result<u8, Rejection> {
    Ok(priority)
}

fn main() {}
