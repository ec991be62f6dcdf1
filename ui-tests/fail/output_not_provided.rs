use flow_runtime::{node, workflow};

pub struct Request;
pub struct Items;
pub struct Report;

#[node]
async fn fetch(_req: &Request) -> Items {
    Items
}

#[workflow(fetch)]
pub async fn enrich(req: Request) -> Report;

#[workflow(fetch)]
pub async fn wrapped(req: Request) -> Result<Items, flow_runtime::Error>;

#[workflow(fetch)]
pub async fn echo(req: Request) -> Request;

fn main() {}
