use flow_runtime::{node, workflow};

pub struct Request;
pub struct Quote;
pub struct Done;

#[node]
async fn send_email(_r: &Request) {}

#[node(after(send_email, audit))]
async fn finalize(_r: &Request) -> Done {
    Done
}

// `audit` is not listed.
#[workflow(send_email, finalize)]
pub async fn unknown_in_node(r: Request) -> Done;

// The workflow's form: an unknown node on either side.
#[workflow(send_email, finalize, after(finalise: send_email), after(finalize: audit))]
pub async fn unknown_in_workflow(r: Request) -> Done;

// A node cannot run after itself, nor after a member of its own race.
#[node]
async fn primary(_r: &Request) -> Quote {
    Quote
}
#[node]
async fn mirror(_r: &Request) -> Quote {
    Quote
}
#[node]
async fn done(_q: &Quote) -> Done {
    Done
}
#[workflow(race(primary, mirror), done, after(done: done), after(mirror: primary))]
pub async fn itself(r: Request) -> Done;

// An ordering edge closes a cycle.
#[node]
async fn first(_r: &Request) -> Quote {
    Quote
}
#[node]
async fn second(_q: &Quote) -> Done {
    Done
}
#[workflow(first, second, after(first: second))]
pub async fn cycle(r: Request) -> Done;

// Malformed.
#[workflow(send_email, after(send_email))]
pub async fn malformed(r: Request);

#[node(after = send_email)]
async fn bad_option(_r: &Request) {}

#[node(after(send_email), after(finalize))]
async fn after_twice(_r: &Request) {}

#[node(after(send_email finalize))]
async fn after_malformed(_r: &Request) {}

#[workflow(send_email, after = send_email)]
pub async fn after_value(r: Request);

#[workflow(send_email, finalize, after(finalize:))]
pub async fn after_nothing(r: Request) -> Done;

// Two listed nodes answer to `step`: the workflow must say which.
mod left {
    use super::*;
    #[node]
    pub async fn step(_r: &Request) {}
}
mod right {
    use super::*;
    #[node]
    pub async fn step(_r: &Request) {}
}
#[workflow(left::step, right::step, send_email, after(send_email: step))]
pub async fn ambiguous(r: Request);

fn main() {}
