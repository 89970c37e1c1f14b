use resilience::timeout;

#[timeout("2 seconds")]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {}
