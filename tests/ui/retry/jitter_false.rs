use resilience::retry;

#[retry(jitter = false)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
