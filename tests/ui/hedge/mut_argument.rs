use resilience::hedge;

#[hedge(delay = "50ms")]
async fn fill(buffer: &mut Vec<u8>, len: usize) -> Result<usize, std::io::Error> {
    buffer.resize(len, 0);
    Ok(len)
}

fn main() {}
