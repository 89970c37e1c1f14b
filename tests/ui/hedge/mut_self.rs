use resilience::hedge;

struct Cache {
    hits: u64,
}

impl Cache {
    #[hedge(delay = "50ms")]
    async fn lookup(&mut self, key: u64) -> Result<u64, std::io::Error> {
        self.hits += 1;
        Ok(key)
    }
}

fn main() {}
