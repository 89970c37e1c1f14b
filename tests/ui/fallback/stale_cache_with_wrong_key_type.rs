use resilience::fallback;
use resilience::fallback::StaleCache;
use std::time::Duration;

struct Profiles {
    // Keyed by `u64`, but a function of `(id: u64)` keys by the tuple `(u64,)`.
    cache: StaleCache<u64, String>,
}

impl Profiles {
    #[fallback(stale_cache(with = self.cache))]
    async fn name(&self, id: u64) -> Result<String, std::io::Error> {
        Ok(id.to_string())
    }
}

fn main() {
    let p = Profiles { cache: StaleCache::new("p", Duration::from_secs(1), 1) };
    let _ = p.name(1);
}
