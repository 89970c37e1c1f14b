use resilience::hedge;

#[hedge("50ms")]
async fn search() -> Result<u32, std::io::Error> {
    Ok(1)
}

#[hedge(delay = "adaptive", max_hedges = 1.5)]
async fn lookup() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
