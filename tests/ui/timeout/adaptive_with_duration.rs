use resilience::timeout;

#[timeout("2s", adaptive)]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {}
