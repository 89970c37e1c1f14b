use resilience::retry;

struct Connection;

#[retry(max_attempts = 3)]
async fn send(conn: Connection, bytes: Vec<u8>) -> Result<usize, std::io::Error> {
    let _ = conn;
    Ok(bytes.len())
}

fn main() {
    let _ = send(Connection, Vec::new());
}
