use flow_runtime::{node, workflow};

pub struct Items;
pub struct Report;

// The hidden item a node adds under its name would shadow the primitive type `f64`.
#[node]
async fn f64(_items: &Items) -> Report {
    Report
}

#[node]
async fn report(_items: &Items) -> Report {
    Report
}

#[workflow(report)]
pub async fn u8(items: Items) -> Report;

fn main() {}
