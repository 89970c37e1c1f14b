use resilience::timeout;

#[derive(Debug)]
enum ApiError {
    NotFound,
}

#[timeout("2s")]
async fn fetch() -> Result<u32, ApiError> {
    Err(ApiError::NotFound)
}

fn main() {
    let _ = fetch();
}
