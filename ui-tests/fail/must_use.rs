#![deny(unused_must_use)]

use flow_runtime::{Limiters, RunOptions, node, workflow};

pub struct Input;
pub struct Output;

#[node]
async fn step(_i: &Input) -> Output {
    Output
}

#[workflow(step)]
pub async fn flow_of(i: Input) -> Output;

async fn caller() {
    // Options built and dropped.
    RunOptions::new().run_id("x");
    Limiters::new();
    // A run that is never awaited does nothing.
    flow_of(Input);
    flow_of::run(RunOptions::new(), Input);
}

fn main() {
    let _ = caller();
}
