use resilience::{retry, timeout};

// Three mistakes, three errors; the function is still emitted, so the call
// in `main` type-checks and adds no error of its own.
#[retry(max_attempts = 0, base = "2s", max_delay = "1s")]
#[timeout("0s")]
async fn fetch() -> Result<u32, resilience::Rejection> {
    Ok(1)
}

fn main() {
    let _: u32 = takes_the_future(fetch());
}

fn takes_the_future<F: std::future::Future<Output = Result<u32, resilience::Rejection>>>(_: F) -> u32 {
    0
}
