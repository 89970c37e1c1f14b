use resilience::circuit_breaker;

#[circuit_breaker(failure_rate = 1.5, window = 0, success_threshold = 0, open_for = "0s")]
async fn charge() -> std::io::Result<u32> {
    Ok(1)
}

// The function is still emitted, so callers keep type-checking.
fn caller() -> impl std::future::Future<Output = std::io::Result<u32>> {
    charge()
}

fn main() {}
