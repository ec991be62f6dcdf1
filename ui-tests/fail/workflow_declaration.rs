use flow_runtime::{node, workflow};

pub struct Request;
pub struct Items;

#[node]
async fn fetch(_req: &Request) -> Items {
    Items
}

#[workflow(fetch)]
pub async fn with_body(req: Request) -> Items {
    todo!()
}

#[workflow(fetch)]
pub fn not_async(req: Request) -> Items;

#[workflow(fetch)]
pub async fn pattern((a, b): (Request, u8)) -> Items;

#[workflow(fetch)]
pub async fn generic<T>(req: Request, t: T) -> Items;

#[workflow()]
pub async fn no_nodes(req: Request) -> Items;

#[workflow(fetch)]
pub struct NotAFunction;

fn main() {}
