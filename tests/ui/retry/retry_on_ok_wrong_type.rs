use resilience::retry;

struct Response {
    status: u16,
}

// Takes the status, not a `&Response`.
fn unavailable(status: u16) -> bool {
    status == 503
}

#[retry(retry_on_ok = unavailable)]
async fn fetch() -> Result<Response, std::io::Error> {
    Ok(Response { status: 200 })
}

fn main() {
    let _ = Response { status: 0 }.status;
}
