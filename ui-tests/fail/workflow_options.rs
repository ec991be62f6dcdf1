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

#[workflow(fetch, max_concurrency = 0)]
pub async fn no_concurrency(req: Request) -> Items;

#[workflow(fetch, timeout = "0s", max_concurrency = "4")]
pub async fn zero_timeout(req: Request) -> Items;

#[workflow(fetch, timeout = "1 fortnight")]
pub async fn bad_unit(req: Request) -> Items;

fn main() {}
