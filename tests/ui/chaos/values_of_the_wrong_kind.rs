use resilience::chaos;

#[chaos(error_rate = "0.1", latency = 200)]
async fn charge() -> Result<u32, std::io::Error> {
    Ok(1)
}

#[chaos(0.1)]
async fn refund() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
