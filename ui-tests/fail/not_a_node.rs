use flow_runtime::{node, workflow};

pub struct Request;
pub struct Items;

#[node]
async fn fetch(_req: &Request) -> Items {
    Items
}

async fn plain(_items: &Items) -> u32 {
    1
}

#[workflow(fetch, plain)]
pub async fn enrich(req: Request) -> u32;

fn main() {
    let _ = enrich(Request);
}
