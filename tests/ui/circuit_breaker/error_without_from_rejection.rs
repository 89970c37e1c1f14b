#[derive(Debug)]
struct PaymentError;

#[resilience::circuit_breaker(failure_threshold = 5)]
async fn charge() -> Result<u32, PaymentError> {
    Ok(1)
}

fn main() {}
