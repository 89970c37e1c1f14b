use resilience::timeout;

#[timeout(adaptive, quantile = 1.5, multiplier = 0.5, min = "2s", max = "1s")]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {}
