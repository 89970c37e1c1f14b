use resilience::circuit_breaker;

#[circuit_breaker(failure_if = |e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound)]
async fn charge() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
