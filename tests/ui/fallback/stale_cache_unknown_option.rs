use resilience::fallback;

#[fallback(stale_cache(tll = "10m"))]
async fn load(key: u64) -> Result<u64, std::io::Error> {
    Ok(key)
}

fn main() {}
