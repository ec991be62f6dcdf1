use flow_runtime::{node, workflow, ConcurrencyLimit};

pub struct Items;
pub struct Out;

#[derive(Debug)]
pub struct Oops;
impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}
impl std::error::Error for Oops {}

static POOL: ConcurrencyLimit = ConcurrencyLimit::new(2);

// A concurrency limit where a rate limiter belongs.
#[node(rate_limit = POOL)]
async fn wrong_limiter(_i: &Items) -> Out {
    Out
}

fn takes_string(_: &String) -> bool {
    true
}

// The predicate must take the node's error type.
#[node(retry(max_attempts = 2, retry_if = takes_string))]
async fn wrong_predicate(_i: &Items) -> Result<Out, Oops> {
    Ok(Out)
}

async fn undo(_: &Items) -> Result<(), Oops> {
    Ok(())
}

// The compensation must take the node's output.
#[node(compensate = undo)]
async fn wrong_compensation(_i: &Items) -> Out {
    Out
}

#[workflow(wrong_limiter)]
pub async fn uses(i: Items) -> Out;

fn main() {}
