use flow_runtime::{node, workflow};

pub struct Counter(u32);

#[node]
async fn increment(c: &Counter) -> Counter {
    Counter(c.0 + 1)
}

#[workflow(increment)]
pub async fn count() -> Counter;

fn main() {}
