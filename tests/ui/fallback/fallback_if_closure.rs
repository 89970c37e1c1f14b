use resilience::fallback;

#[fallback(fallback_if = |e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound, Ok(Vec::new()))]
async fn items() -> Result<Vec<u32>, std::io::Error> {
    Ok(vec![1])
}

fn main() {}
