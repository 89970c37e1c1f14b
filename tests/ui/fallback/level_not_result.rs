use resilience::fallback;

#[fallback(Ok(0), 42)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
