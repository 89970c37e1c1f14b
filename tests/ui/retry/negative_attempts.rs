use resilience::retry;

#[retry(max_attempts = -3)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
