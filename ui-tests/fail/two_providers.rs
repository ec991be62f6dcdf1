use flow_runtime::{node, workflow};

pub struct Request;
pub struct Items;
pub struct Report;

#[node]
async fn fetch(_req: &Request) -> Items {
    Items
}

#[node]
async fn fetch_cached(_req: &Request) -> Items {
    Items
}

#[node]
async fn report(_items: &Items) -> Report {
    Report
}

#[workflow(fetch, fetch_cached, report)]
pub async fn enrich(req: Request) -> Report;

fn main() {}
