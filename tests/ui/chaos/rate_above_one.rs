use resilience::chaos;

#[chaos(error_rate = 1.5)]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {}
