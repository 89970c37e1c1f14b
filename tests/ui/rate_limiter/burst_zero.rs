use resilience::rate_limiter;

#[rate_limiter(rate = 100, per = "1s", burst = 0)]
async fn call_api() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
