use resilience::{fallback, retry};

#[retry(max_attempts = 3)]
#[fallback(Ok(0))]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
