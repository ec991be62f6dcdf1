use flow_runtime::{node, workflow};

pub struct Request;
pub struct Done;

#[node]
async fn step(_r: &Request) -> Done {
    Done
}

fn transient(_: &String) -> bool {
    true
}

#[workflow(step, defaults(limit = DATABASE, timeout = "0s"))]
pub async fn unknown(r: Request) -> Done;

#[workflow(step, defaults(retry(max_attempts = 3, retry_if = transient)))]
pub async fn retry_if(r: Request) -> Done;

#[workflow(step, defaults())]
pub async fn empty(r: Request) -> Done;

#[workflow(step, defaults(timeout = "1s"), defaults(continue_on_error))]
pub async fn twice(r: Request) -> Done;

#[workflow(step, defaults = "5s")]
pub async fn not_a_list(r: Request) -> Done;

#[workflow(step, defaults(retry))]
pub async fn bare_retry(r: Request) -> Done;

fn main() {}
