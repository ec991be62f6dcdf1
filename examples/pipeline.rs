//! The first thing to run: two patterns from other workflow engines' guides written as
//! `flow` workflows, with simulated latencies.
//!
//! - Fan-out/fan-in: one step hands work to four processors that run at once, and a
//!   combiner waits for all four.
//! - A pipeline of parallel stages: preprocess, three stage-1 workers, a combiner, three
//!   stage-2 workers, a final combiner.
//! - Failure handling, run twice: an order whose flaky inventory source fails twice and is
//!   retried with backoff, a payment that is compensated (refunded) when a later step fails,
//!   and a recommendation service that may fail without failing the order.
//!
//! Each node records when it started and ended; the program prints the result of each
//! workflow and a timeline in which the overlap is visible.
//!
//! ```text
//! cargo run --example pipeline
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

use flow_runtime::{NodeError, RunContext, node, workflow};

/// When each node started and ended, relative to the start of the run.
pub struct Timeline {
    start: Instant,
    spans: Mutex<Vec<(&'static str, Duration, Duration)>>,
}

impl Timeline {
    fn new() -> Self {
        Timeline {
            start: Instant::now(),
            spans: Mutex::new(Vec::new()),
        }
    }

    /// Simulates `ms` milliseconds of work by node `name`, recording its span.
    async fn work(&self, name: &'static str, ms: u64) {
        let started = self.start.elapsed();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let ended = self.start.elapsed();
        self.spans.lock().unwrap().push((name, started, ended));
    }

    fn print(&self) {
        let mut spans = self.spans.lock().unwrap().clone();
        spans.sort_by_key(|&(name, start, end)| (start, end, name));
        let total = spans.iter().map(|s| s.2).max().unwrap_or_default();
        let scale = |d: Duration| (d.as_millis() / 50) as usize;
        println!("  {:<16} {:>7} {:>7}", "node", "start", "end");
        for (name, start, end) in spans {
            let bar = "█".repeat(scale(end).saturating_sub(scale(start)).max(1));
            println!(
                "  {:<16} {:>5}ms {:>5}ms  {}{}",
                name,
                start.as_millis(),
                end.as_millis(),
                " ".repeat(scale(start)),
                bar
            );
        }
        println!("  total {} ms\n", total.as_millis());
    }
}

// ---------------------------------------------------------------------------------------
// Fan-out / fan-in: start → {A, B, C, D} → combine
// ---------------------------------------------------------------------------------------

/// The batch to process.
pub struct WorkItems(pub Vec<String>);
/// The batch, accepted for processing.
pub struct Distributed(pub Vec<String>);
pub struct ResultA(pub String);
pub struct ResultB(pub String);
pub struct ResultC(pub String);
pub struct ResultD(pub String);
/// What the combiner reports.
#[derive(Debug)]
pub struct Summary(pub String);

#[node]
async fn distribute(items: &WorkItems, t: &Timeline) -> Distributed {
    t.work("distribute", 20).await;
    Distributed(items.0.clone())
}

#[node]
async fn processor_a(work: &Distributed, t: &Timeline) -> ResultA {
    t.work("processor_a", 300).await;
    ResultA(format!("A processed {} items in 0.3s", work.0.len()))
}

#[node]
async fn processor_b(work: &Distributed, t: &Timeline) -> ResultB {
    t.work("processor_b", 500).await;
    ResultB(format!("B processed {} items in 0.5s", work.0.len()))
}

#[node]
async fn processor_c(work: &Distributed, t: &Timeline) -> ResultC {
    t.work("processor_c", 200).await;
    ResultC(format!("C processed {} items in 0.2s", work.0.len()))
}

#[node]
async fn processor_d(work: &Distributed, t: &Timeline) -> ResultD {
    t.work("processor_d", 400).await;
    ResultD(format!("D processed {} items in 0.4s", work.0.len()))
}

#[node]
async fn combine(a: &ResultA, b: &ResultB, c: &ResultC, d: &ResultD, t: &Timeline) -> Summary {
    t.work("combine", 20).await;
    let results = [&a.0, &b.0, &c.0, &d.0];
    Summary(format!(
        "{} results: {}",
        results.len(),
        results.map(String::as_str).join("; ")
    ))
}

/// Four processors at once; the combiner sees all four results, in a fixed order.
#[workflow(
    distribute,
    processor_a,
    processor_b,
    processor_c,
    processor_d,
    combine
)]
pub async fn fan_out(items: WorkItems, t: &Timeline) -> Summary;

// ---------------------------------------------------------------------------------------
// Pipeline of parallel stages:
// preprocess → {s1_a, s1_b, s1_c} → stage1_combine → {s2_x, s2_y, s2_z} → final_combine
// ---------------------------------------------------------------------------------------

/// Raw input of the pipeline.
pub struct RawInput(pub String);
/// The cleaned input every stage-1 worker reads.
pub struct Cleaned(pub String);
pub struct Stage1A(pub String);
pub struct Stage1B(pub String);
pub struct Stage1C(pub String);
/// Stage 1's results, combined.
pub struct Stage1(pub Vec<String>);
pub struct Stage2X(pub String);
pub struct Stage2Y(pub String);
pub struct Stage2Z(pub String);
/// The pipeline's result.
#[derive(Debug)]
pub struct FinalResult {
    pub stage1_count: usize,
    pub stage2_count: usize,
    pub combined: String,
}

#[node]
async fn preprocess(raw: &RawInput, t: &Timeline) -> Cleaned {
    t.work("preprocess", 50).await;
    Cleaned(format!("cleaned({})", raw.0.trim()))
}

#[node]
async fn s1_a(input: &Cleaned, t: &Timeline) -> Stage1A {
    t.work("s1_a", 150).await;
    Stage1A(format!("A:{}", input.0))
}

#[node]
async fn s1_b(input: &Cleaned, t: &Timeline) -> Stage1B {
    t.work("s1_b", 250).await;
    Stage1B(format!("B:{}", input.0))
}

#[node]
async fn s1_c(input: &Cleaned, t: &Timeline) -> Stage1C {
    t.work("s1_c", 100).await;
    Stage1C(format!("C:{}", input.0))
}

#[node]
async fn stage1_combine(a: &Stage1A, b: &Stage1B, c: &Stage1C, t: &Timeline) -> Stage1 {
    t.work("stage1_combine", 30).await;
    Stage1(vec![a.0.clone(), b.0.clone(), c.0.clone()])
}

#[node]
async fn s2_x(stage1: &Stage1, t: &Timeline) -> Stage2X {
    t.work("s2_x", 200).await;
    Stage2X(format!("X[{}]", stage1.0.len()))
}

#[node]
async fn s2_y(stage1: &Stage1, t: &Timeline) -> Stage2Y {
    t.work("s2_y", 100).await;
    Stage2Y(format!("Y[{}]", stage1.0.len()))
}

#[node]
async fn s2_z(stage1: &Stage1, t: &Timeline) -> Stage2Z {
    t.work("s2_z", 150).await;
    Stage2Z(format!("Z[{}]", stage1.0.len()))
}

#[node]
async fn final_combine(
    stage1: &Stage1,
    x: &Stage2X,
    y: &Stage2Y,
    z: &Stage2Z,
    t: &Timeline,
) -> FinalResult {
    t.work("final_combine", 30).await;
    FinalResult {
        stage1_count: stage1.0.len(),
        stage2_count: 3,
        combined: [&x.0, &y.0, &z.0].map(String::as_str).join(" | "),
    }
}

/// Two fan-out/fan-in stages in a row.
#[workflow(
    preprocess,
    s1_a,
    s1_b,
    s1_c,
    stage1_combine,
    s2_x,
    s2_y,
    s2_z,
    final_combine
)]
pub async fn staged(raw: RawInput, t: &Timeline) -> FinalResult;

// ---------------------------------------------------------------------------------------
// Failure handling: reserve (flaky, retried) → charge (compensated) → {ship, recommend
// (may fail)} → confirm
// ---------------------------------------------------------------------------------------

/// An order to fulfil.
pub struct Order {
    pub id: u32,
    pub shipping_works: bool,
    /// What the program did, in order.
    pub log: Mutex<Vec<String>>,
}

impl Order {
    fn note(&self, line: String) {
        println!("  {line}");
        self.log.lock().unwrap().push(line);
    }
}

/// Stock reserved for the order.
pub struct Reservation(pub u32);
/// A payment taken for the order.
pub struct Payment(pub u32);
/// A parcel on its way.
pub struct Shipment(pub String);
/// Suggestions shown with the confirmation.
pub struct Recommendations(pub Vec<String>);
/// What the customer is told.
#[derive(Debug)]
pub struct Confirmation(pub String);

/// A failure of one of the services the order calls.
#[derive(Debug)]
pub struct ServiceError(pub String);

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServiceError {}

/// The inventory service fails its first two calls; each attempt gets 200 ms, and attempts
/// are spaced 50 ms, then 100 ms apart.
#[node(
    timeout = "200ms",
    retry(max_attempts = 3, initial = "50ms", factor = 2.0)
)]
async fn reserve(order: &Order, ctx: &RunContext) -> Result<Reservation, ServiceError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    if ctx.attempt() < 3 {
        order.note(format!("reserve: attempt {} failed", ctx.attempt()));
        return Err(ServiceError("inventory service unavailable".into()));
    }
    order.note(format!("reserve: attempt {} reserved stock", ctx.attempt()));
    Ok(Reservation(order.id))
}

/// Refunds a payment: runs if the order fails after the charge went through.
async fn refund(payment: &Payment) -> Result<(), ServiceError> {
    println!("  refund: payment {} refunded", payment.0);
    Ok(())
}

#[node(compensate = refund)]
async fn charge(order: &Order, r: &Reservation) -> Payment {
    order.note(format!("charge: order {} charged", r.0));
    Payment(order.id * 100)
}

#[node]
async fn ship(order: &Order, _p: &Payment) -> Result<Shipment, ServiceError> {
    tokio::time::sleep(Duration::from_millis(30)).await;
    if order.shipping_works {
        Ok(Shipment(format!("parcel-{}", order.id)))
    } else {
        Err(ServiceError("no courier available".into()))
    }
}

/// Optional: the order goes through without suggestions.
#[node(continue_on_error)]
async fn recommend(_p: &Payment) -> Result<Recommendations, ServiceError> {
    Err(ServiceError("recommendations are down".into()))
}

#[node]
async fn confirm(s: &Shipment, recs: Result<&Recommendations, &NodeError>) -> Confirmation {
    let extra = match recs {
        Ok(r) => format!("; you may also like {}", r.0.join(", ")),
        Err(e) => format!(" (no suggestions: {})", e.node_name().unwrap_or("?")),
    };
    Confirmation(format!("{} is on its way{extra}", s.0))
}

/// An order: retried, compensated, and tolerant of an optional service.
#[workflow(reserve, charge, ship, recommend, confirm)]
pub async fn fulfil(order: &Order) -> Confirmation;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), flow_runtime::Error> {
    println!("== fan-out / fan-in ==\n");
    let timeline = Timeline::new();
    let items = WorkItems(vec!["item1".into(), "item2".into(), "item3".into()]);
    let summary = fan_out(items, &timeline).await?;
    println!("result: {}\n", summary.0);
    timeline.print();

    println!("== pipeline of parallel stages ==\n");
    let timeline = Timeline::new();
    let result = staged(RawInput("  user data ".into()), &timeline).await?;
    println!("result: {result:#?}\n");
    timeline.print();

    println!("== failure handling: a good order ==\n");
    let order = Order {
        id: 7,
        shipping_works: true,
        log: Mutex::new(Vec::new()),
    };
    let confirmation = fulfil(&order).await?;
    println!("result: {}\n", confirmation.0);

    println!("== failure handling: shipping fails, the charge is refunded ==\n");
    let order = Order {
        id: 8,
        shipping_works: false,
        log: Mutex::new(Vec::new()),
    };
    match fulfil(&order).await {
        Ok(c) => println!("result: {}", c.0),
        Err(e) => {
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            println!("error: {e}: {}", cause.unwrap_or_default());
            for other in e.others() {
                println!("  also: {other}");
            }
        }
    }
    Ok(())
}
