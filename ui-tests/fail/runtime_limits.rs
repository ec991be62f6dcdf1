use flow_runtime::{node, workflow};

pub struct Item;
pub struct Out;
pub struct Total;

#[node]
async fn items(_n: &usize) -> Vec<Item> {
    Vec::new()
}
#[node]
async fn each(_i: &Item) -> Out {
    Out
}
#[node]
async fn total(_o: &[Out]) -> Total {
    Total
}

// No input of that name.
#[workflow(items, map(each, concurrency = workers), total)]
pub async fn unknown(n: usize) -> Total;

// An input that could be 0.
#[workflow(items, map(each, concurrency = n), total)]
pub async fn zero_allowed(n: usize) -> Total;

// Given twice.
#[workflow(items, map(each, concurrency = 2, concurrency = n), total)]
pub async fn twice(n: usize) -> Total;

#[node(limit = "")]
async fn unnamed(_i: &Item) {}

#[node(limit = "db", limit = "other")]
async fn two_limits(_i: &Item) {}

#[node(limit = 5)]
async fn numbered(_i: &Item) {}

fn main() {}
