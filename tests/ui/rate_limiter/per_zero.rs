use resilience::rate_limiter;

#[rate_limiter(rate = 10, per = "0s")]
async fn call_api() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
