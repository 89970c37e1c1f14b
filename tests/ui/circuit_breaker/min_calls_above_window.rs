use resilience::circuit_breaker;

#[circuit_breaker(failure_rate = 0.5, window = 20, min_calls = 50)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
