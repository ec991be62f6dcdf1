use flow_runtime::{node, workflow};

pub struct Order(u32);
pub struct Receipt(u32);

#[node]
async fn charge(o: &Order) -> Receipt {
    Receipt(o.0)
}

#[workflow(charge, durable = true)]
pub async fn order(o: Order) -> Receipt;

#[workflow(charge, durable, durable)]
pub async fn twice(o: Order) -> Receipt;

fn main() {}
