use resilience::bulkhead;

#[bulkhead(max_wait = "100ms")]
async fn query() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
