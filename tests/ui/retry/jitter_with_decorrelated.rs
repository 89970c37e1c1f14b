use resilience::retry;

#[retry(backoff = "decorrelated", jitter = "full")]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
