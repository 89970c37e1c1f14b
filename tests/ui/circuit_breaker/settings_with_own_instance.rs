use resilience::{BreakerPolicy, CircuitBreaker, circuit_breaker};

static PAYMENTS: CircuitBreaker = CircuitBreaker::new("payments", BreakerPolicy::new());

#[circuit_breaker(with = PAYMENTS, failure_threshold = 3, open_for = "10s")]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
