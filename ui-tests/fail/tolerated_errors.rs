use flow_runtime::{NodeError, node, workflow};

pub struct Query;
pub struct Hit;
pub struct Digest;

#[node(continue_on_error)]
async fn web(_q: &Query) -> Result<Hit, String> {
    Ok(Hit)
}
#[node(continue_on_error)]
async fn news(_q: &Query) -> Result<Hit, String> {
    Ok(Hit)
}

// Tolerated producers' values may be failures: collect them as `Result`s.
#[node]
async fn digest(_hits: &[Hit]) -> Digest {
    Digest
}
#[workflow(web, news, digest)]
pub async fn plain_list(q: Query) -> Digest;

// One list, one form.
#[node]
async fn digest_all(_hits: &[Result<Hit, NodeError>]) -> Digest {
    Digest
}
pub struct Count;
#[node]
async fn count(_hits: &Vec<Hit>) -> Count {
    Count
}
#[node]
async fn both(_d: &Digest, _c: &Count) {}
#[workflow(web, news, digest_all, count, both)]
pub async fn two_forms(q: Query);

// A tolerant race's value may be missing.
#[node]
async fn primary(_q: &Query) -> Result<Hit, String> {
    Ok(Hit)
}
#[node]
async fn mirror(_q: &Query) -> Result<Hit, String> {
    Ok(Hit)
}
#[node]
async fn use_hit(_h: &Hit) -> Digest {
    Digest
}
#[workflow(race(primary, mirror, continue_on_error), use_hit)]
pub async fn raced(q: Query) -> Digest;

// A node on another thread cannot be handed a node's error.
#[node(spawn)]
async fn spawned(_h: Option<Result<&Hit, &NodeError>>) {}

fn main() {}
