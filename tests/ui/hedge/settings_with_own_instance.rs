use resilience::{Hedge, hedge};

static HEDGE: Hedge = Hedge::adaptive("search", 1);

#[hedge(with = HEDGE, delay = "50ms", max_hedges = 2)]
async fn search() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
