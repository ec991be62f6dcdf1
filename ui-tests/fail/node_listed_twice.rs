use flow_runtime::{node, workflow};

pub struct Request;
pub struct Items;

#[node]
async fn fetch(_req: &Request) -> Items {
    Items
}

#[workflow(fetch, fetch)]
pub async fn enrich(req: Request) -> Items;

fn main() {}
