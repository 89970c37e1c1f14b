use resilience::circuit_breaker;

#[circuit_breaker(failure_rate = 0.5, window = 0.5)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
