use resilience::rate_limiter;

#[rate_limiter(rate = "100", per = 1)]
async fn send() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
