use resilience::circuit_breaker;

#[circuit_breaker(failure_threshold = 5, failure_rate = 0.5, window = 100)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
