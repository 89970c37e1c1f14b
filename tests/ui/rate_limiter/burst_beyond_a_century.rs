use resilience::rate_limiter;

// Each call takes 100,000 h (11.4 years) to earn back: a burst of 10, 114 years.
#[rate_limiter(rate = 1, per = "100000h", burst = 10)]
async fn call_api() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
