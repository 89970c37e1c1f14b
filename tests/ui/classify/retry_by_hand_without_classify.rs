use resilience::{Retry, RetryPolicy};

#[derive(Debug)]
struct ApiError;

async fn call(retry: &Retry) -> Result<u8, ApiError> {
    retry.call(|| async { Err(ApiError) }).await
}

fn main() {
    static RETRY: Retry = Retry::new("r", RetryPolicy::new());
    let _ = call(&RETRY);
}
