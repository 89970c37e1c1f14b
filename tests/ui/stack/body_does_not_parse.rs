use resilience::retry;

#[retry]
async fn fetch() -> Result<u32, std::io::Error> {
    let attempts = ;
    Ok(attempts)
}

fn main() {}
