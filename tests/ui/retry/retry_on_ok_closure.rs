use resilience::retry;

#[retry(retry_on_ok = |status: &u16| *status == 503)]
async fn fetch() -> Result<u16, std::io::Error> {
    Ok(200)
}

fn main() {}
