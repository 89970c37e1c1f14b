use resilience::circuit_breaker;

fn is_outage(status: u16) -> bool {
    status >= 500
}

#[circuit_breaker(failure_if = is_outage)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
