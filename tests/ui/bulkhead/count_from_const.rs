use resilience::bulkhead;

const POOL_SIZE: u64 = 8;

#[bulkhead(max_concurrent = POOL_SIZE)]
async fn query() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
