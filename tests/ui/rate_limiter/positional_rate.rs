use resilience::rate_limiter;

#[rate_limiter(100)]
async fn call_api() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
