use resilience::{AdaptiveTimeout, Timeout, timeout};
use std::time::Duration;

static FIXED: Timeout = Timeout::new("fixed", Duration::from_secs(1));
static ADAPTIVE: AdaptiveTimeout = AdaptiveTimeout::new(
    "adaptive",
    0.99,
    2.0,
    Duration::from_millis(50),
    Duration::from_secs(5),
);

#[timeout("2s", with = FIXED)]
async fn fixed() -> Result<u32, std::io::Error> {
    Ok(1)
}

// `adaptive` says which instance `with` passes, so it stays.
#[timeout(adaptive, with = ADAPTIVE, quantile = 0.9, max = "1s")]
async fn adaptive() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
