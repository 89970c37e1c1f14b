use resilience::fallback;

#[fallback(stale_cache(ttl = "10m"))]
async fn load<K: Clone + std::hash::Hash + Eq + Send + Sync + 'static>(key: K) -> Result<u64, std::io::Error> {
    let _ = key;
    Ok(1)
}

fn main() {}
