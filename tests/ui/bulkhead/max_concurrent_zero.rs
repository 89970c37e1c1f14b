use resilience::bulkhead;

#[bulkhead(max_concurrent = 0)]
async fn query() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
