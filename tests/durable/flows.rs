//! Durable workflows shared by the in-process tests and the child process the crash tests
//! kill. Every node notes each time it starts (and a compensation each time it ends), in
//! memory by run id and, when `FLOW_TEST_EFFECTS` names a file, in that file: one line
//! `node element pid` per start.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use flow_runtime::{RunContext, node, workflow};
use serde::{Deserialize, Serialize};

static NOTES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Notes that `what` happened in run `run`.
pub fn note(run: &str, what: &str) {
    NOTES
        .lock()
        .unwrap()
        .push((run.to_owned(), what.to_owned()));
    if let Ok(path) = std::env::var("FLOW_TEST_EFFECTS") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("effects file");
        // One write per line: lines of concurrent writers never interleave.
        f.write_all(format!("{what} {}\n", std::process::id()).as_bytes())
            .expect("effects written");
    }
}

/// What run `run` noted, in order.
pub fn notes(run: &str) -> Vec<String> {
    NOTES
        .lock()
        .unwrap()
        .iter()
        .filter(|(r, _)| r == run)
        .map(|(_, w)| w.clone())
        .collect()
}

/// An error and its causes, as `anyhow`'s `{:#}` writes them.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A pause of a few milliseconds that varies with `seed` and the process.
async fn pause(seed: u64, base: u64) {
    let h = (seed ^ u64::from(std::process::id())).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 59;
    tokio::time::sleep(Duration::from_millis(base + h)).await;
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Order {
    pub id: u32,
    pub lines: u32,
    pub express: bool,
    pub fail: bool,
    /// Milliseconds each node takes, at least.
    pub pace: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Line {
    pub index: u32,
    pub price: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Priced {
    pub index: u32,
    pub amount: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Hold(pub u32);
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Stock(pub u32);
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Quote(pub u32);
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Express;
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Fee(pub u32);
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Total(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Receipt {
    pub order: u32,
    pub total: u32,
}

fn id(ctx: &RunContext) -> String {
    ctx.run_id().to_string()
}

#[node]
async fn lines(o: &Order, ctx: &RunContext) -> Vec<Line> {
    note(&id(ctx), "lines -");
    pause(1, o.pace).await;
    (0..o.lines)
        .map(|index| Line {
            index,
            price: index + 1,
        })
        .collect()
}

#[node(compensate = release)]
async fn hold(o: &Order, ctx: &RunContext) -> Hold {
    note(&id(ctx), "hold -");
    pause(2, o.pace).await;
    Hold(o.id)
}

async fn release(h: &Hold) -> Result<(), String> {
    // Noted when it ends: a compensation that ended is recorded at once.
    note(&format!("order-{}", h.0), "release -");
    Ok(())
}

#[node]
async fn stock(o: &Order, ctx: &RunContext) -> Stock {
    note(&id(ctx), "stock -");
    pause(3, o.pace).await;
    Stock(o.lines)
}

#[node]
async fn price(line: &Line, o: &Order, ctx: &RunContext) -> Priced {
    note(&id(ctx), &format!("price {}", line.index));
    pause(u64::from(line.index) + 10, o.pace).await;
    Priced {
        index: line.index,
        amount: line.price * 10,
    }
}

#[node]
async fn fast_quote(o: &Order, ctx: &RunContext) -> Result<Quote, String> {
    note(&id(ctx), "fast_quote -");
    pause(4, o.pace).await;
    Ok(Quote(7))
}

#[node]
async fn slow_quote(o: &Order, ctx: &RunContext) -> Result<Quote, String> {
    note(&id(ctx), "slow_quote -");
    pause(5, o.pace * 3).await;
    Ok(Quote(7))
}

#[node]
async fn express(o: &Order, ctx: &RunContext) -> Option<Express> {
    note(&id(ctx), "express -");
    o.express.then_some(Express)
}

#[node]
async fn express_fee(_e: &Express, o: &Order, ctx: &RunContext) -> Fee {
    note(&id(ctx), "express_fee -");
    pause(6, o.pace).await;
    Fee(15)
}

#[node]
async fn total(
    priced: &[Priced],
    q: &Quote,
    fee: Option<&Fee>,
    _h: &Hold,
    s: &Stock,
    ctx: &RunContext,
) -> Total {
    note(&id(ctx), "total -");
    assert_eq!(
        priced.len() as u32,
        s.0,
        "every line is priced once, in order"
    );
    assert!(priced.iter().enumerate().all(|(i, p)| p.index == i as u32));
    Total(priced.iter().map(|p| p.amount).sum::<u32>() + q.0 + fee.map_or(0, |f| f.0))
}

#[node]
async fn receipt(t: &Total, o: &Order, ctx: &RunContext) -> Result<Receipt, String> {
    note(&id(ctx), "receipt -");
    pause(7, o.pace).await;
    if o.fail {
        return Err(format!("order {} was refused", o.id));
    }
    Ok(Receipt {
        order: o.id,
        total: t.0,
    })
}

/// A fan-out (`lines`, `hold`, `stock`, the race, `express`), a map of `lines`, a race, an
/// `Option` branch and a compensated node.
#[workflow(
    lines,
    hold,
    stock,
    map(price, concurrency = 8),
    race(fast_quote, slow_quote),
    express,
    express_fee,
    total,
    receipt,
    durable
)]
pub async fn shop(o: Order) -> Receipt;

/// What `shop` returns for `o`, computed by hand.
pub fn expected(o: &Order) -> Receipt {
    let lines: u32 = (0..o.lines).map(|i| (i + 1) * 10).sum();
    Receipt {
        order: o.id,
        total: lines + 7 + if o.express { 15 } else { 0 },
    }
}
