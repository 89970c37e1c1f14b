use resilience::timeout;

#[timeout("0ms")]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {}
