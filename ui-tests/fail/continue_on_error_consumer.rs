use flow_runtime::{node, workflow, NodeError};

pub struct Request;
pub struct Quote;
pub struct Page;
pub struct Other;

#[derive(Debug)]
pub struct Down;
impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("down")
    }
}
impl std::error::Error for Down {}

#[node(continue_on_error)]
async fn quote(_r: &Request) -> Result<Quote, Down> {
    Err(Down)
}

// Takes `&Quote` from a node whose output may be missing.
#[node]
async fn page(_q: &Quote) -> Page {
    Page
}

// These two are fine.
#[node]
async fn other(_q: Option<&Quote>, _r: Result<&Quote, &NodeError>) -> Other {
    Other
}

#[workflow(quote, page, other)]
pub async fn shop(req: Request) -> Page;

fn main() {}
