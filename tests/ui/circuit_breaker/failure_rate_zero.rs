use resilience::circuit_breaker;

#[circuit_breaker(failure_rate = 0.0, window = "10s")]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
