use resilience::hedge;

#[hedge(max_hedges = 2)]
async fn lookup(key: u64) -> Result<u64, std::io::Error> {
    Ok(key)
}

fn main() {}
