use flow_runtime::{node, workflow};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Order(u32);

// Serializable but not deserializable: a durable run could not read it back.
#[derive(Serialize)]
pub struct Quote(u32);

// Neither.
pub struct Charge(u32);

#[derive(Serialize, Deserialize)]
pub struct Receipt(u32);

pub struct Customer(u32);

#[node]
async fn quote(o: &Order) -> Quote {
    Quote(o.0)
}

#[node]
async fn charge(q: &Quote) -> Result<Charge, String> {
    Ok(Charge(q.0))
}

#[node]
async fn receipt(c: &Charge, _who: &Customer) -> Receipt {
    Receipt(c.0)
}

#[workflow(quote, charge, receipt, durable)]
pub async fn order(o: Order, who: Customer) -> Receipt;

fn main() {}
