//! A durable workflow with every node option and shape compiles and runs journaled:
//! policies, `blocking`, `spawn`, the run context, `continue_on_error`, a branch, a map,
//! a collect, a race, compensation, an input by reference, a sub-workflow.
use flow_runtime::store::{RunStatus, SqliteStore};
use flow_runtime::{NodeError, RunContext, RunOptions, node, workflow};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone)]
pub struct Order(pub u32);
#[derive(Serialize, Deserialize, Clone)]
pub struct Limit(pub u32);
#[derive(Serialize, Deserialize, Clone)]
pub struct Fetched(pub Vec<u32>);
#[derive(Serialize, Deserialize)]
pub struct Checked(pub u32);
#[derive(Serialize, Deserialize)]
pub struct Hashed(pub u64);
#[derive(Serialize, Deserialize)]
pub struct Maybe(pub u32);
#[derive(Serialize, Deserialize)]
pub struct Finding(pub u32);
#[derive(Serialize, Deserialize)]
pub struct Quote(pub u32);
#[derive(Serialize, Deserialize)]
pub struct Hold(pub u32);
#[derive(Serialize, Deserialize)]
pub struct Tax(pub u32);
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Receipt(pub u32);

#[node(timeout = "5s", retry(max_attempts = 2, initial = "1ms"))]
async fn fetch(o: &Order, ctx: &RunContext) -> Result<Fetched, String> {
    let _ = ctx.idempotency_key();
    Ok(Fetched(vec![o.0, 1, 2]))
}

#[node]
async fn items(f: &Fetched) -> Vec<u32> {
    f.0.clone()
}

#[node]
async fn check(x: &u32, _limit: &Limit) -> Checked {
    Checked(*x)
}

#[node(blocking)]
fn hash(f: &Fetched) -> Hashed {
    Hashed(f.0.iter().map(|&x| u64::from(x)).sum())
}

#[node(spawn)]
async fn maybe(o: &Order) -> Option<Maybe> {
    (o.0 > 100).then_some(Maybe(o.0))
}

#[node(continue_on_error)]
async fn flaky(_o: &Order) -> Result<Finding, String> {
    Err("down".into())
}

#[node]
async fn q1(_o: &Order) -> Result<Quote, String> {
    Err("busy".into())
}

#[node]
async fn q2(_o: &Order) -> Result<Quote, String> {
    Ok(Quote(2))
}

#[node(compensate = release)]
async fn hold(o: &Order) -> Hold {
    Hold(o.0)
}

async fn release(_h: &Hold) -> Result<(), String> {
    Ok(())
}

#[node]
async fn rate(o: &Order) -> Tax {
    Tax(o.0 / 10)
}

#[workflow(rate, durable)]
pub async fn taxes(o: &Order) -> Tax;

#[node]
async fn total(
    c: &[Checked],
    h: &Hashed,
    m: Option<&Maybe>,
    f: Result<&Finding, &NodeError>,
    q: &Quote,
    _hold: &Hold,
    t: &Tax,
) -> Receipt {
    Receipt(
        c.iter().map(|c| c.0).sum::<u32>()
            + h.0 as u32
            + m.map_or(0, |m| m.0)
            + f.map_or(0, |f| f.0)
            + q.0
            + t.0,
    )
}

#[workflow(
    fetch,
    items,
    map(check, concurrency = 2),
    hash,
    maybe,
    flaky,
    race(q1, q2),
    hold,
    taxes,
    total,
    durable
)]
pub async fn buy(o: Order, limit: &Limit) -> Receipt;

/// The output from a branch, and a map of a branch.
#[node]
async fn pick(o: &Order) -> Option<Receipt> {
    (o.0 > 0).then_some(Receipt(o.0))
}

#[node]
async fn odd(x: &u32) -> Option<Checked> {
    (x % 2 == 1).then_some(Checked(*x))
}

#[node]
async fn odds(all: &[Option<Checked>]) -> Hashed {
    Hashed(all.iter().flatten().count() as u64)
}

#[workflow(pick, durable)]
pub async fn picked(o: Order) -> Receipt;

#[workflow(fetch, items, map(odd), odds, durable)]
pub async fn counted(o: Order) -> Hashed;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("flow-ui-durable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let limit = Limit(9);
    // A journaled run's future can move between threads.
    fn send<T: Send>(t: T) -> T {
        t
    }
    let out = send(buy::run(RunOptions::new().run_id("b").store(&store), Order(40), &limit))
        .await
        .unwrap();
    let again = send(buy::resume(RunOptions::new().run_id("b").store(&store)))
        .await
        .unwrap();
    assert_eq!(out, again);
    assert_eq!(store.run("b").unwrap().unwrap().status(), RunStatus::Succeeded);
    for _ in 0..2 {
        let p = picked::run(RunOptions::new().run_id("p").store(&store), Order(3)).await;
        assert_eq!(p.unwrap(), Receipt(3));
        let c = counted::run(RunOptions::new().run_id("c").store(&store), Order(3)).await;
        assert_eq!(c.unwrap().0, 2);
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
