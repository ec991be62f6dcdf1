use flow_runtime::{node, workflow};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Region(u32);
#[derive(Serialize, Deserialize)]
pub struct Sales(u32);
#[derive(Serialize, Deserialize)]
pub struct Report(u32);

#[node]
async fn sales(r: &Region) -> Sales {
    Sales(r.0)
}

// Not durable: its nodes' outputs would not be recorded.
#[workflow(sales)]
pub async fn region(r: Region) -> Sales;

#[node]
async fn report(s: &Sales) -> Report {
    Report(s.0)
}

#[workflow(region, report, durable)]
pub async fn company(r: Region) -> Report;

fn main() {}
