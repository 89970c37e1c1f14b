use resilience::timeout;
use std::time::Duration;

#[timeout(Duration::from_millis(800))]
async fn lookup() -> Result<u32, std::io::Error> {
    Ok(1)
}

const LIMIT: Duration = Duration::from_secs(2);

#[timeout(LIMIT)]
async fn search() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
