use resilience::timeout;

#[timeout("1s", duration = "2s")]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
