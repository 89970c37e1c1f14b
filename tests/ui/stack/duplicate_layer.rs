use resilience::{retry, timeout};

#[retry(max_attempts = 3)]
#[timeout("1s")]
#[retry(max_attempts = 2)]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
