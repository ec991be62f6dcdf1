//! The first thing to run: two patterns from other workflow engines' guides written as
//! `flow` workflows, with simulated latencies.
//!
//! - Fan-out/fan-in: one step hands work to four processors that run at once, and a
//!   combiner waits for all four.
//! - A pipeline of parallel stages: preprocess, three stage-1 workers, a combiner, three
//!   stage-2 workers, a final combiner.
//!
//! Each node records when it started and ended; the program prints the result of each
//! workflow and a timeline in which the overlap is visible.
//!
//! ```text
//! cargo run --example pipeline
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

use flow_runtime::{node, workflow};

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
    Ok(())
}
