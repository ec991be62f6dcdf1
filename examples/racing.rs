//! Racing: ask three price sources at once and take the first answer that succeeds. The
//! slower sources are cancelled (their futures dropped) as soon as one wins; a source that
//! fails does not end the race; if every source fails, the error lists every cause.
//!
//! ```text
//! cargo run --example racing
//! ```

use std::time::Duration;

use flow_runtime::{ErrorKind, node, workflow};

pub struct Symbol(pub &'static str);
/// Per source: latency in ms and whether it is down.
pub struct Sources(pub [(u64, bool); 3]);
#[derive(Debug)]
pub struct Quote {
    pub source: &'static str,
    pub price: u32,
}
#[derive(Debug)]
pub struct Order(pub String);

#[derive(Debug)]
pub struct Down(&'static str);
impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is unavailable", self.0)
    }
}
impl std::error::Error for Down {}

/// Prints when a losing source is cancelled.
struct Cancelled(&'static str);
impl Drop for Cancelled {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            println!("    {} cancelled", self.0);
        }
    }
}

async fn ask(sources: &Sources, k: usize, name: &'static str) -> Result<Quote, Down> {
    let guard = Cancelled(name);
    let (ms, down) = sources.0[k];
    tokio::time::sleep(Duration::from_millis(ms)).await;
    std::mem::forget(guard);
    if down {
        println!("    {name} failed after {ms} ms");
        return Err(Down(name));
    }
    println!("    {name} answered after {ms} ms");
    Ok(Quote {
        source: name,
        price: 100 + k as u32,
    })
}

#[node]
async fn exchange(_s: &Symbol, sources: &Sources) -> Result<Quote, Down> {
    ask(sources, 0, "exchange").await
}
#[node(timeout = "200ms")]
async fn broker(_s: &Symbol, sources: &Sources) -> Result<Quote, Down> {
    ask(sources, 1, "broker").await
}
#[node]
async fn cache(_s: &Symbol, sources: &Sources) -> Result<Quote, Down> {
    ask(sources, 2, "cache").await
}
#[node]
async fn place(symbol: &Symbol, quote: &Quote) -> Order {
    Order(format!(
        "buy {} at {} (from {})",
        symbol.0, quote.price, quote.source
    ))
}

#[workflow(race(exchange, broker, cache), place)]
pub async fn buy(symbol: Symbol, sources: Sources) -> Order;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for sources in [
        [(80, false), (30, false), (50, false)],
        [(80, false), (10, true), (50, false)],
        [(20, true), (10, true), (30, true)],
    ] {
        println!("sources {sources:?}:");
        match buy(Symbol("ACME"), Sources(sources)).await {
            Ok(order) => println!("  {}", order.0),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::RaceFailed);
                println!("  {e}");
                for cause in e.causes() {
                    let why = std::error::Error::source(cause).map(|s| s.to_string());
                    println!(
                        "    - {}: {}",
                        cause.node_name().unwrap_or("?"),
                        why.unwrap_or_default()
                    );
                }
            }
        }
    }
}
