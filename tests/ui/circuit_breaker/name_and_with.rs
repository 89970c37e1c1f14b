use resilience::{BreakerPolicy, CircuitBreaker, circuit_breaker};

static PAYMENTS: CircuitBreaker = CircuitBreaker::new("payments", BreakerPolicy::new());

#[circuit_breaker(name = "payments", with = PAYMENTS)]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
