//! The run report: per node start, end, attempts and outcome; the critical path.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flow_runtime::events::{Recorder, RunOutcome};
use flow_runtime::{NodeOutcome, RunOptions, RunReport, node, workflow};
use tokio::time::sleep;

use super::events::{Joined, diamond, fails_fast, squares};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(start_paused = true)]
async fn every_node_has_its_start_end_attempts_and_outcome() {
    let recorder = Recorder::new();
    diamond::run(RunOptions::new().run_id("r-9").observe(recorder.clone()), 1)
        .await
        .unwrap();
    let report = recorder.report();
    assert_eq!(report.workflow, "diamond");
    assert_eq!(
        report.run_id.as_ref().map(|r| r.to_string()).as_deref(),
        Some("r-9")
    );
    assert_eq!(report.outcome, Some(RunOutcome::Succeeded));
    assert_eq!(report.duration, Some(MS(25)));
    type Row<'a> = (
        &'a str,
        Option<Duration>,
        Option<Duration>,
        u32,
        NodeOutcome,
    );
    let spans: Vec<Row> = report
        .nodes
        .iter()
        .map(|n| {
            (
                n.node.as_str(),
                n.start,
                n.end,
                n.attempt_count(),
                n.outcome,
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            ("left", Some(MS(0)), Some(MS(10)), 1, NodeOutcome::Finished),
            ("right", Some(MS(0)), Some(MS(20)), 1, NodeOutcome::Finished),
            ("join", Some(MS(20)), Some(MS(25)), 1, NodeOutcome::Finished),
        ]
    );
    assert_eq!(report.max_parallelism(), 2);
    // `right` ends as `join` starts: one step, no dip.
    assert_eq!(
        report.in_flight(),
        [(MS(0), 2), (MS(10), 1), (MS(20), 1), (MS(25), 0)]
    );
    let path: Vec<&str> = report
        .critical_path(Some(diamond::graph()))
        .into_iter()
        .map(|k| report.nodes[k].node.as_str())
        .collect();
    assert_eq!(path, ["right", "join"]);
    // The report serializes, and a report built from deserialized events is the same.
    let json = serde_json::to_string(&recorder.events()).unwrap();
    let events: Vec<flow_runtime::events::Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(RunReport::from_events(&events), report);
    let back: RunReport = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!(back, report);
}

static STEP_CALLS: AtomicU32 = AtomicU32::new(0);

pub struct Stepped(pub u32);

#[node(retry(max_attempts = 3, initial = "100ms", factor = 2.0, jitter = false))]
async fn step(j: &Joined) -> Result<Stepped, String> {
    sleep(MS(10)).await;
    if STEP_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        Err("not yet".to_string())
    } else {
        Ok(Stepped(j.0))
    }
}

#[workflow(super::events::left, super::events::right, super::events::join, step)]
async fn with_retries(seed: u32) -> Stepped;

#[tokio::test(start_paused = true)]
async fn attempts_are_bars_between_backoffs_and_lead_the_critical_path() {
    let recorder = Recorder::new();
    let out = with_retries::run(RunOptions::new().observe(recorder.clone()), 1)
        .await
        .unwrap();
    assert_eq!(out.0, 5);
    let report = recorder.report();
    let step = report.node("step").unwrap();
    let attempts: Vec<(u32, Duration, Option<Duration>, NodeOutcome)> = step
        .attempts
        .iter()
        .map(|a| (a.number, a.start, a.end, a.outcome))
        .collect();
    // Starts at 25; attempts of 10 ms with 100 and 200 ms between them.
    assert_eq!(
        attempts,
        [
            (1, MS(25), Some(MS(35)), NodeOutcome::Failed),
            (2, MS(135), Some(MS(145)), NodeOutcome::Failed),
            (3, MS(345), Some(MS(355)), NodeOutcome::Finished),
        ]
    );
    assert_eq!(step.outcome, NodeOutcome::Finished);
    let path: Vec<String> = report
        .critical_path(None)
        .into_iter()
        .map(|k| report.nodes[k].label())
        .collect();
    assert_eq!(path, ["right", "join", "step"]);
}

#[tokio::test(start_paused = true)]
async fn failed_and_cancelled_nodes_keep_their_outcome_and_error() {
    let recorder = Recorder::new();
    fails_fast::run(RunOptions::new().observe(recorder.clone()), 1)
        .await
        .err()
        .unwrap();
    let report = recorder.report();
    assert_eq!(report.outcome, Some(RunOutcome::Failed));
    let broken = report.node("broken").unwrap();
    assert_eq!(broken.outcome, NodeOutcome::Failed);
    assert_eq!(broken.error.as_deref(), Some("disk full"));
    let slow = report.node("slow").unwrap();
    assert_eq!(slow.outcome, NodeOutcome::Cancelled);
    assert_eq!((slow.start, slow.end), (Some(MS(0)), Some(MS(10))));
    assert!(
        report.node("both").is_none(),
        "never started, never reported"
    );
}

#[tokio::test(start_paused = true)]
async fn mapped_elements_each_have_a_report_and_parallelism_is_the_bound() {
    let recorder = Recorder::new();
    squares::run(RunOptions::new().observe(recorder.clone()), 6)
        .await
        .unwrap();
    let report = recorder.report();
    let elements = report.elements("square");
    assert_eq!(elements.len(), 6);
    assert_eq!(
        elements.iter().map(|e| e.element).collect::<Vec<_>>(),
        (0..6).map(Some).collect::<Vec<_>>()
    );
    assert_eq!(report.max_parallelism(), 2);
}

// ---- What an operator reads: kinds of failure, tolerated ones, times, the JSON ----------

pub struct Order(pub u32);
pub struct Quote(pub u32);
pub struct Stock(pub u32);
pub struct Label(pub u32);
pub struct Sent(pub u32);

#[node(timeout = "30ms", retry(max_attempts = 2, initial = "10ms"))]
async fn quote(o: &Order) -> Quote {
    sleep(MS(100)).await;
    Quote(o.0)
}

#[node(continue_on_error)]
async fn stock(_o: &Order) -> Result<Stock, String> {
    sleep(MS(5)).await;
    Err("warehouse offline".into())
}

#[node]
async fn label(o: &Order, stock: Option<&Stock>) -> Label {
    sleep(MS(10)).await;
    Label(o.0 + stock.map_or(0, |s| s.0))
}

#[node]
async fn send(l: &Label) -> Sent {
    sleep(MS(1_000)).await;
    Sent(l.0)
}

#[derive(Debug)]
pub struct Shipped;

#[node]
async fn shipped(q: &Quote, s: &Sent) -> Shipped {
    assert!(q.0 + s.0 > 0);
    Shipped
}

#[workflow(quote, stock, label, send, shipped)]
async fn ship(o: Order) -> Shipped;

#[tokio::test(start_paused = true)]
async fn failures_carry_their_kind_tolerated_ones_are_told_apart_and_the_json_has_it_all() {
    let before = std::time::SystemTime::now();
    let recorder = Recorder::new();
    let err = ship::run(
        RunOptions::new().run_id("r-ops").observe(recorder.clone()),
        Order(1),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), flow_runtime::ErrorKind::NodeTimedOut);
    let events = recorder.events();

    // The run's wall-clock start, the kind of every failure, who ended the run.
    use flow_runtime::ErrorKind;
    use flow_runtime::events::EventKind;
    match &events[0].kind {
        EventKind::RunStarted { started_at, .. } => {
            assert!(*started_at >= before && *started_at <= std::time::SystemTime::now())
        }
        other => panic!("{other:?}"),
    }
    let kinds: Vec<(&str, Option<&str>, Option<ErrorKind>)> = events
        .iter()
        .filter(|e| e.kind.error_kind().is_some())
        .map(|e| (e.kind.name(), e.kind.node(), e.kind.error_kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("node_failed", Some("stock"), Some(ErrorKind::NodeFailed)),
            (
                "node_retrying",
                Some("quote"),
                Some(ErrorKind::NodeTimedOut)
            ),
            ("node_failed", Some("quote"), Some(ErrorKind::NodeTimedOut)),
            ("run_finished", None, Some(ErrorKind::NodeTimedOut)),
        ]
    );
    match &events.last().unwrap().kind {
        EventKind::RunFinished { node, element, .. } => {
            assert_eq!(node.as_deref(), Some("quote"));
            assert_eq!(*element, None);
        }
        other => panic!("{other:?}"),
    }

    // The report: the timeout is a timeout, the tolerated failure is tolerated, the failed
    // attempt keeps its error, and the critical path ends at the failure, not at `send`
    // (cancelled when the run failed).
    let report = recorder.report();
    let quote = report.node("quote").unwrap();
    assert_eq!(quote.outcome, NodeOutcome::Failed);
    assert_eq!(quote.error_kind, Some(ErrorKind::NodeTimedOut));
    assert!(!quote.tolerated);
    assert_eq!(quote.attempts[0].error_kind, Some(ErrorKind::NodeTimedOut));
    assert_eq!(
        quote.attempts[0].error.as_deref(),
        Some("timed out after 30ms")
    );
    let stock = report.node("stock").unwrap();
    assert!(stock.tolerated);
    assert_eq!(stock.error.as_deref(), Some("warehouse offline"));
    assert_eq!(report.node("send").unwrap().outcome, NodeOutcome::Cancelled);
    assert_eq!(report.failed_node, Some(("quote".to_string(), None)));
    let path: Vec<String> = report
        .critical_path(Some(ship::graph()))
        .into_iter()
        .map(|k| report.nodes[k].label())
        .collect();
    assert_eq!(path, ["quote"]);

    // Its JSON: durations in milliseconds, the wall-clock start, and what the methods
    // compute; it reads back equal.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["duration_ms"], serde_json::json!(70.0));
    assert_eq!(json["error_kind"], "node_timed_out");
    assert_eq!(json["peak_in_flight"], 2);
    assert_eq!(json["critical_path"], serde_json::json!(["quote"]));
    assert!(json["started_at"].as_str().unwrap().ends_with('Z'));
    let quote_json = &json["nodes"].as_array().unwrap()[0];
    assert_eq!(quote_json["node"], "quote");
    assert_eq!(quote_json["start_ms"], serde_json::json!(0.0));
    assert_eq!(quote_json["end_ms"], serde_json::json!(70.0));
    let back: RunReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

#[tokio::test(start_paused = true)]
async fn a_bounded_channel_drops_what_does_not_fit_and_counts_it() {
    let (sender, mut stream) = flow_runtime::events::bounded(3);
    diamond::run(RunOptions::new().observe(sender), 1)
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(e) = stream.recv().await {
        got.push(e.kind.name());
    }
    assert_eq!(got, ["run_started", "node_started", "node_started"]);
    assert_eq!(stream.lost(), 5);
}
