use resilience::fallback;

#[derive(Clone, PartialEq)]
struct Area {
    radius: f64,
}

#[fallback(stale_cache(key = Area { radius }))]
async fn nearby(radius: f64, request_id: u64) -> Result<Vec<u64>, std::io::Error> {
    let _ = (radius, request_id);
    Ok(Vec::new())
}

fn main() {
    let _ = nearby(1.0, 7);
}
