use resilience::{bulkhead, Bulkhead};

static POOL: Bulkhead = Bulkhead::new("pool", 4);

#[bulkhead(with = POOL, max_concurrent = 8)]
async fn query() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
