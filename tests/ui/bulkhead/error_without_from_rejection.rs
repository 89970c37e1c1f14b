#[derive(Debug)]
struct DbError;

#[resilience::bulkhead(max_concurrent = 10)]
async fn query() -> Result<u32, DbError> {
    Ok(1)
}

fn main() {}
