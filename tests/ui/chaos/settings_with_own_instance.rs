use resilience::chaos;

#[chaos(with = resilience::chaos::Chaos::new("payments"), error_rate = 0.5)]
async fn charge() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
