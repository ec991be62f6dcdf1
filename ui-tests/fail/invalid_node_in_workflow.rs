use flow_runtime::{node, workflow};

pub struct Request;
pub struct Items;

// The node's own error is the only one: the workflow that lists it reports nothing more.
#[node]
fn fetch(_req: &Request) -> Items {
    Items
}

#[workflow(fetch)]
pub async fn enrich(req: Request) -> Items;

async fn caller() -> Result<Items, flow_runtime::Error> {
    enrich(Request).await
}

fn main() {
    let _ = caller();
}
