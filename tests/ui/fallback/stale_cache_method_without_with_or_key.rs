use resilience::fallback;

struct InventoryClient {
    host: String,
}

impl InventoryClient {
    // One cache for every client: client A's stock would be served to B.
    #[fallback(stale_cache(ttl = "10m"), Ok(0))]
    async fn stock_level(&self, sku: u32) -> Result<u32, std::io::Error> {
        let _ = (&self.host, sku);
        Ok(1)
    }
}

fn main() {
    let client = InventoryClient { host: "a.example".to_owned() };
    let _ = client.stock_level(1);
}
