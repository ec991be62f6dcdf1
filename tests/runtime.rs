use flow_runtime::{node, workflow};

pub struct Request(u32);
pub struct Items(Vec<u32>);
pub struct Jira(usize);
pub struct Slack(usize);
#[derive(Debug, PartialEq)]
pub struct Report(String);

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
    Ok(Items((0..req.0).collect()))
}
#[node]
async fn jira(items: &Items) -> Jira {
    Jira(items.0.len())
}
#[node]
async fn slack(items: &Items) -> Slack {
    Slack(items.0.len() * 2)
}
#[node]
async fn merge(items: &Items, j: &Jira, s: &Slack) -> Report {
    Report(format!("{} {} {}", items.0.len(), j.0, s.0))
}

#[workflow(fetch, jira, slack, merge)]
pub async fn enrich(req: Request) -> Report;

#[tokio::test]
async fn diamond() {
    assert_eq!(enrich(Request(3)).await.unwrap(), Report("3 3 6".into()));
}
