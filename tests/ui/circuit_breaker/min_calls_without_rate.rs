use resilience::circuit_breaker;

#[circuit_breaker(min_calls = 10)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
