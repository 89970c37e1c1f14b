use resilience::fallback;

struct Request {
    path: String,
}

async fn cached(path: &str) -> Result<String, std::io::Error> {
    Ok(path.to_owned())
}

#[fallback(cached(&request.path).await)]
async fn get(request: Request) -> Result<String, std::io::Error> {
    Ok(request.path)
}

fn main() {
    let _ = get(Request { path: String::new() });
}
