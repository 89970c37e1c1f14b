use resilience::bulkhead;

#[bulkhead(max_concurrency = 10)]
async fn query() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
