use resilience::timeout;

#[timeout(800)]
async fn lookup() -> Result<u32, std::io::Error> {
    Ok(1)
}

#[timeout(adaptive = true, max = 5)]
async fn search() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
