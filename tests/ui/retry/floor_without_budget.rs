use resilience::retry;

#[retry(min_retries_per_sec = 10)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
