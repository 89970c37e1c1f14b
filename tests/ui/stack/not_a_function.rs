use resilience::timeout;

#[timeout("1s")]
struct Client;

fn main() {}
