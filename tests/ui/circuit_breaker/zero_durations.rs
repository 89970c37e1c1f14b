use resilience::circuit_breaker;

#[circuit_breaker(open_for = "0s", slow_call = "0ms", half_open_max_wait = "0s")]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
