use resilience::hedge;

#[hedge(delay = p95)]
async fn lookup(key: u64) -> Result<u64, std::io::Error> {
    Ok(key)
}

fn main() {}
