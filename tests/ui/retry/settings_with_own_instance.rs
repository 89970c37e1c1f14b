use resilience::{Retry, RetryPolicy, retry};

static RETRY: Retry = Retry::new("lookup", RetryPolicy::new());

fn is_busy(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock
}

// `retry_if` classifies errors where the call is made, so it stays.
#[retry(with = RETRY, max_attempts = 5, base = "10ms", retry_if = is_busy)]
async fn lookup() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
