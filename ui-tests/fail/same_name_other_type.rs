use flow_runtime::{node, workflow};

mod a {
    pub struct Items;
}
mod b {
    pub struct Items;
}
pub struct Request;
pub struct Report;

#[node]
async fn fetch(_req: &Request) -> a::Items {
    a::Items
}

#[node]
async fn report(_items: &b::Items) -> Report {
    Report
}

#[workflow(fetch, report)]
pub async fn enrich(req: Request) -> Report;

fn main() {}
