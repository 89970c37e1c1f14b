use resilience::rate_limiter;

#[rate_limiter(rate = 0, per = "0s", burst = 0)]
async fn call_api() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
