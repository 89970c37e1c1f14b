use resilience::retry;

#[retry(base = "100millis")]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
