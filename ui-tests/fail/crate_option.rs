use flow_runtime::{node, workflow};

pub struct A;
pub struct B;

#[node(crate = "not a path")]
async fn a(x: &u32) -> A {
    let _ = x;
    A
}

#[node(crate = flow_runtime)]
async fn b(_a: &A) -> B {
    B
}

#[workflow(a, b, crate = "::flow_runtime", crate = "::flow_runtime")]
pub async fn twice(x: u32) -> B;

fn main() {}
