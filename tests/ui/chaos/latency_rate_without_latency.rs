use resilience::chaos;

#[chaos(latency_rate = 0.2)]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {}
