use resilience::retry;

#[retry(3)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
