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
