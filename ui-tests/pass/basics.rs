//! The shapes users write compile: the example, inputs by reference, unit
//! workflows, nodes inside a function body, renamed nodes.
use flow_runtime::{node, workflow};

pub struct Request(pub u32);
pub struct Items(pub Vec<u32>);
pub struct Jira;
pub struct Slack;
pub struct Report;

#[derive(Debug)]
pub struct FetchError;
impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fetch failed")
    }
}
impl std::error::Error for FetchError {}

#[node]
async fn fetch(req: &Request) -> Result<Items, FetchError> {
    Ok(Items(vec![req.0]))
}
#[node]
async fn jira(_items: &Items) -> Jira {
    Jira
}
#[node]
async fn slack(_items: &Items) -> Slack {
    Slack
}
#[node(name = "merge-all")]
async fn merge(_items: &Items, _j: &Jira, _s: &Slack) -> Report {
    Report
}

/// Enrich one request from two sources at once.
#[workflow(fetch, jira, slack, merge)]
pub async fn enrich(req: Request) -> Report;

#[workflow(fetch, jira, name = "by-ref")]
pub(crate) async fn by_ref(req: &Request) -> Jira;

#[node]
async fn log(_items: &Items) {}

#[workflow(fetch, log)]
async fn effects(req: Request);

async fn use_them() -> Result<(), flow_runtime::Error> {
    let _report: Report = enrich(Request(1)).await?;
    let _jira: Jira = by_ref(&Request(1)).await?;
    let (): () = effects(Request(1)).await?;
    Ok(())
}

fn main() {
    #[node]
    async fn local(req: &Request) -> Items {
        Items(vec![req.0])
    }
    #[workflow(local)]
    async fn local_flow(req: Request) -> Items;

    let _ = local_flow(Request(1));
    assert_eq!(local_flow::graph().nodes()[0].name(), "local");
    let _ = use_them();
    let _ = enrich::graph();
}
