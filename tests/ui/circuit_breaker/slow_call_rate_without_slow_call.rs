use resilience::circuit_breaker;

#[circuit_breaker(failure_rate = 0.5, window = 100, slow_call_rate = 0.8)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
