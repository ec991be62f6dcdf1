use flow_runtime::{node, RateLimiter};

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

static API: RateLimiter = RateLimiter::per_second(5);

#[node(timeout = "0s")]
async fn zero_timeout(_i: &Items) -> Out {
    Out
}

#[node(timeout = "250")]
async fn no_unit(_i: &Items) -> Out {
    Out
}

#[node(timeout = "2 weeks")]
async fn bad_unit(_i: &Items) -> Out {
    Out
}

#[node(timeout = 250)]
async fn not_a_string(_i: &Items) -> Out {
    Out
}

#[node(retry(max_attempts = 0))]
async fn zero_attempts(_i: &Items) -> Result<Out, Oops> {
    Ok(Out)
}

#[node(retry(initial = "100ms"))]
async fn no_attempts(_i: &Items) -> Result<Out, Oops> {
    Ok(Out)
}

#[node(retry(max_attempts = 3, factor = 0.5, jitter = "yes", backoff = "1s"))]
async fn bad_settings(_i: &Items) -> Result<Out, Oops> {
    Ok(Out)
}

#[node(retry(max_attempts = 3, initial = "2s", max_delay = "1s"))]
async fn delays_backwards(_i: &Items) -> Result<Out, Oops> {
    Ok(Out)
}

#[node(retry = 3)]
async fn retry_not_a_list(_i: &Items) -> Result<Out, Oops> {
    Ok(Out)
}

#[node(retry)]
async fn bare_retry(_i: &Items) -> Result<Out, Oops> {
    Ok(Out)
}

fn always(_: &std::convert::Infallible) -> bool {
    true
}

#[node(retry(max_attempts = 2, retry_if = always))]
async fn retry_if_without_errors(_i: &Items) -> Out {
    Out
}

#[node(continue_on_error = true, compensate = "undo", rate_limit = API, rate_limit = API)]
async fn flags(_i: &Items) -> Out {
    Out
}

#[node(blocking, spawn)]
async fn both_threads(_i: &Items) -> Out {
    Out
}

#[node(spawn)]
async fn spawned_result(_i: Result<&Items, &flow_runtime::NodeError>) -> Out {
    Out
}

fn main() {}
