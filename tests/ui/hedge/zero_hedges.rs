use resilience::hedge;

#[hedge(delay = "50ms", max_hedges = 0)]
async fn lookup(key: u64) -> Result<u64, std::io::Error> {
    Ok(key)
}

fn main() {}
