//! Durable workflows on a real Temporal server: the semantics are flow's.

mod server;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flow_runtime::{ErrorKind, RunOptions, node, workflow};
use flow_temporal::Worker;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Order(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Price(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Stock(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Discount(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Receipt(pub String);

static PRICED: AtomicU32 = AtomicU32::new(0);

#[node]
async fn price(o: &Order) -> Price {
    PRICED.fetch_add(1, Ordering::SeqCst);
    Price(o.0 * 10)
}

#[node]
async fn stock(o: &Order) -> Stock {
    Stock(o.0 + 1)
}

/// Only large orders get a discount.
#[node]
async fn discount(p: &Price) -> Option<Discount> {
    (p.0 >= 100).then_some(Discount(p.0 / 10))
}

#[node]
async fn receipt(p: &Price, s: &Stock, d: Option<&Discount>) -> Receipt {
    Receipt(format!(
        "price {} stock {} discount {}",
        p.0,
        s.0,
        d.map_or("none".to_owned(), |d| d.0.to_string())
    ))
}

#[workflow(price, stock, discount, receipt, durable)]
pub async fn checkout(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_runs_on_temporal_with_flows_semantics() {
    let client = server::client().await;
    let queue = server::queue("checkout");
    let worker = Worker::new(&client, &queue).register::<checkout>();
    let stop = worker.shutdown_handle();
    let run = async {
        let small = client
            .execute::<checkout>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-small")),
                (Order(3),),
            )
            .await
            .unwrap();
        assert_eq!(small, Receipt("price 30 stock 4 discount none".into()));
        let large = client
            .execute::<checkout>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-large")),
                (Order(20),),
            )
            .await
            .unwrap();
        assert_eq!(large, Receipt("price 200 stock 21 discount 20".into()));
        // The same run id again: the finished run's result, without running a node.
        let before = PRICED.load(Ordering::SeqCst);
        let again = client
            .execute::<checkout>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-large")),
                (Order(20),),
            )
            .await
            .unwrap();
        assert_eq!(again, large);
        assert_eq!(PRICED.load(Ordering::SeqCst), before);
        stop.shutdown();
    };
    let (worker, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(60), worker.run()),
        run
    );
    worker.expect("the worker stops when asked").unwrap();
}

#[derive(Debug)]
pub struct Declined(String);
impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "card declined: {}", self.0)
    }
}
impl std::error::Error for Declined {}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Charge(pub u32);

#[node]
async fn charge(p: &Price) -> Result<Charge, Declined> {
    Err(Declined(format!("{} is too much", p.0)))
}

#[workflow(price, charge, durable)]
pub async fn pay(o: Order) -> Charge;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_node_fails_the_run_with_flows_error() {
    let client = server::client().await;
    let queue = server::queue("pay");
    let worker = Worker::new(&client, &queue).register::<pay>();
    let stop = worker.shutdown_handle();
    let run = async {
        let err = client
            .execute::<pay>(&queue, RunOptions::new(), (Order(7),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NodeFailed);
        assert_eq!(err.node_name(), Some("charge"));
        assert_eq!(err.workflow(), "pay");
        assert_eq!(err.attempts(), 1);
        assert_eq!(err.to_string(), "node `charge` of workflow `pay` failed");
        let cause = std::error::Error::source(&err).expect("the node's error");
        assert_eq!(cause.to_string(), "card declined: 70 is too much");
        stop.shutdown();
    };
    let (worker, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(60), worker.run()),
        run
    );
    worker.expect("the worker stops when asked").unwrap();
}
