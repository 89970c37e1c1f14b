use resilience::fallback;

// Judges the `Ok` value, where `fallback_if` judges the error.
fn is_empty(items: &Vec<u32>) -> bool {
    items.is_empty()
}

#[fallback(fallback_if = is_empty, Ok(Vec::new()))]
async fn items() -> Result<Vec<u32>, std::io::Error> {
    Ok(vec![1])
}

fn main() {}
