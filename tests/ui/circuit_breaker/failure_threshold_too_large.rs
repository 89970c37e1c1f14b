use resilience::circuit_breaker;

#[circuit_breaker(failure_threshold = 1000000000)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
