use resilience::hedge;

fn unavailable(status: &u32) -> bool {
    *status == 503
}

#[hedge(delay = "50ms", retry_on_ok = unavailable)]
async fn fetch() -> Result<u16, std::io::Error> {
    Ok(200)
}

fn main() {}
