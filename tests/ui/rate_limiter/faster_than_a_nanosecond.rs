use resilience::rate_limiter;

#[rate_limiter(rate = 1000, per = "100ns")]
async fn call_api() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
