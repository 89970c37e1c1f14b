use resilience::retry;

// A predicate on the error, where `retry_on_ok` judges `Ok` values.
fn is_timeout(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::TimedOut
}

#[retry(retry_on_ok = is_timeout)]
async fn fetch() -> Result<u16, std::io::Error> {
    Ok(200)
}

fn main() {}
