use resilience::retry;

#[retry(retry_if = |e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
