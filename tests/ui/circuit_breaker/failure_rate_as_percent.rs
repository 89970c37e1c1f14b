use resilience::circuit_breaker;

#[circuit_breaker(failure_rate = 50, window = 100)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
