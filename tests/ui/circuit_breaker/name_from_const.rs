use resilience::circuit_breaker;

const PAYMENTS: &str = "payments";

#[circuit_breaker(name = PAYMENTS)]
async fn charge() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
