use resilience::bulkhead;

#[bulkhead(max_concurrent = 10, max_wait = "100 millis")]
async fn query() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
