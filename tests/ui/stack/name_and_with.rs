use resilience::{Timeout, timeout};

struct Client {
    limit: Timeout,
}

impl Client {
    #[timeout(name = "api", with = self.limit)]
    async fn fetch(&self) -> Result<u32, resilience::Rejection> {
        Ok(1)
    }
}

fn main() {}
