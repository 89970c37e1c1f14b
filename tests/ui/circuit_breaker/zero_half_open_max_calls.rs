use resilience::circuit_breaker;

#[circuit_breaker(half_open_max_calls = 0, success_threshold = 0)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
