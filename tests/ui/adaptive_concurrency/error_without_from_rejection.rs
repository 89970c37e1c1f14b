use resilience::adaptive_concurrency;

#[derive(Debug)]
struct MyError;

#[adaptive_concurrency(algorithm = "vegas")]
async fn call() -> Result<u8, MyError> {
    Ok(1)
}

fn main() {}
