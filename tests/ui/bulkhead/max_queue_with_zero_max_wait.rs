use resilience::bulkhead;

#[bulkhead(max_concurrent = 10, max_wait = "0ms", max_queue = 5)]
async fn query() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
