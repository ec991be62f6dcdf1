use flow_runtime::{node, workflow};

pub struct Request;
pub struct Items;

#[node]
async fn fetch(_req: &Request) -> Items {
    Items
}

#[workflow(fetch, max_parallel = 4)]
pub async fn unknown(req: Request) -> Items;

#[workflow(fetch, name(x))]
pub async fn malformed_name(req: Request) -> Items;

#[workflow(fetch fetch)]
pub async fn malformed(req: Request) -> Items;

fn main() {}
