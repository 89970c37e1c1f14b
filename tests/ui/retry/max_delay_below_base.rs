use resilience::retry;

#[retry(base = "2s", max_delay = "500ms")]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
