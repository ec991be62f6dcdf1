use flow_runtime::{node, workflow};

pub struct Seed;
pub struct A;
pub struct B;
pub struct C;

#[node]
async fn a(_seed: &Seed, _c: &C) -> A {
    A
}

#[node]
async fn b(_a: &A) -> B {
    B
}

#[node]
async fn c(_b: &B) -> C {
    C
}

#[workflow(a, b, c)]
pub async fn circular(seed: Seed) -> C;

fn main() {}
