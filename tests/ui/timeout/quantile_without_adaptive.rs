use resilience::timeout;

#[timeout("2s", quantile = 0.99)]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {}
