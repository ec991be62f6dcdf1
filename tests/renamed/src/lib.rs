//! `flow-runtime` depended on as `flow`: every macro finds it by that name, found in this
//! crate's `Cargo.toml` or given with `crate = "..."` (as a facade crate that re-exports
//! the runtime would).

use std::time::Duration;

use flow::{node, workflow};

/// A facade: the runtime re-exported under a path of this crate's own.
pub mod facade {
    pub use flow as runtime;
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
pub struct Order(pub u32);
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Line(pub u32);
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Priced(pub u32);
#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
pub struct Total(pub u32);

#[node]
async fn lines(o: &Order) -> Vec<Line> {
    (1..=o.0).map(Line).collect()
}

#[node(timeout = "1s", retry(max_attempts = 2))]
async fn price(line: &Line) -> Result<Priced, String> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(Priced(line.0 * 10))
}

#[node(crate = "crate::facade::runtime")]
async fn total(p: &[Priced]) -> Total {
    Total(p.iter().map(|p| p.0).sum())
}

/// Found by the dependency's name in `Cargo.toml`.
#[workflow(lines, map(price, concurrency = 2), total, durable)]
pub async fn order(o: Order) -> Total;

/// Given the path.
#[workflow(lines, map(price), total, crate = "::flow")]
pub async fn order_again(o: Order) -> Total;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_renamed_runtime_runs_every_shape() {
        assert_eq!(order(Order(3)).await.unwrap(), Total(60));
        assert_eq!(order_again(Order(2)).await.unwrap(), Total(30));
        let store = flow::store::SqliteStore::open(
            std::env::temp_dir().join(format!("flow-renamed-{}.db", std::process::id())),
        )
        .unwrap();
        let options = flow::RunOptions::new().run_id("r-1").store(&store);
        assert_eq!(order::run(options, Order(4)).await.unwrap(), Total(100));
        assert_eq!(order::graph().nodes().len(), 3);
    }
}
