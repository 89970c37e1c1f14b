use resilience::{Rejection, circuit_breaker};

// Returns a status, not whether the value is a failure.
fn status(response: &u16) -> u16 {
    *response
}

#[circuit_breaker(failure_on_ok = status)]
async fn charge() -> Result<u16, Rejection> {
    Ok(200)
}

fn main() {}
