use resilience::fallback;

#[derive(Clone, PartialEq)]
struct Query {
    radius: f64,
}

#[fallback(stale_cache(ttl = "10m"))]
async fn nearby(user: u64, query: Query) -> Result<Vec<u64>, std::io::Error> {
    let _ = (user, query.radius);
    Ok(Vec::new())
}

fn main() {
    let _ = nearby(1, Query { radius: 1.0 });
}
