use resilience::retry;

#[retry(backoff = exponential)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
