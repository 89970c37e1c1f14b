use resilience::retry;

#[retry(jitter = true)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
