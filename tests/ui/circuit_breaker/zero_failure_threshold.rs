use resilience::circuit_breaker;

#[circuit_breaker(failure_threshold = 0)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
