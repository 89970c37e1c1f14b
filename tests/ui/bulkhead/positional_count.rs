use resilience::bulkhead;

#[bulkhead(10)]
async fn query() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
