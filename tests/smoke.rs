use resilience::{retry, timeout, Rejection};
use std::io;

#[retry(max_attempts = 3, base = "10ms")]
#[timeout("1s")]
async fn fetch(x: String, mut n: u32) -> io::Result<u32> {
    n += 1;
    Ok(n + x.len() as u32)
}

#[tokio::test(start_paused = true)]
async fn smoke() {
    assert_eq!(fetch("ab".into(), 1).await.unwrap(), 4);
    let _ = Rejection::bulkhead_full("x");
}
