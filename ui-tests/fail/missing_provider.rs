use flow_runtime::{node, workflow};

pub struct Request;
pub struct Items;
pub struct Jira;
pub struct Report;

#[node]
async fn fetch(_req: &Request) -> Items {
    Items
}

#[node]
async fn merge(_items: &Items, _jira: &Jira) -> Report {
    Report
}

#[workflow(fetch, merge)]
pub async fn enrich(req: Request) -> Report;

// No follow-on errors: the workflow function still exists with its declared signature.
async fn caller() -> Result<Report, flow_runtime::Error> {
    enrich(Request).await
}

fn main() {
    let _ = caller();
}
