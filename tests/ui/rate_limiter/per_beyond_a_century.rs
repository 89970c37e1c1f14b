use resilience::rate_limiter;

// 1,000,000 h is 114 years: past the 100 years a rate limiter measures
// (six of them once overflowed its arithmetic, and every call was admitted).
#[rate_limiter(rate = 1, per = "1000000h", burst = 6)]
async fn call_api() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
