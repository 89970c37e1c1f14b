//! Without the `chaos` feature, `#[chaos]` expands to nothing: the function
//! is the plain function, byte for byte the same future.
#![cfg(not(feature = "chaos"))]

use resilience::{Rejection, chaos};

#[chaos(error_rate = 1.0, latency = "1h")]
async fn always_failing_under_chaos(x: u32) -> Result<u32, Rejection> {
    Ok(x)
}

async fn plain(x: u32) -> Result<u32, Rejection> {
    Ok(x)
}

#[tokio::test(start_paused = true)]
async fn the_attribute_is_inert() {
    let start = tokio::time::Instant::now();
    for x in 0..100 {
        assert_eq!(always_failing_under_chaos(x).await, Ok(x));
    }
    assert_eq!(start.elapsed(), std::time::Duration::ZERO);
}

#[test]
fn the_future_is_no_larger_than_the_plain_one() {
    assert_eq!(
        std::mem::size_of_val(&always_failing_under_chaos(1)),
        std::mem::size_of_val(&plain(1)),
    );
}
