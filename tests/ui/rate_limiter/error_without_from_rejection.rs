#[derive(Debug)]
struct ApiError;

#[resilience::rate_limiter(rate = 10, per = "1s")]
async fn call_api() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
