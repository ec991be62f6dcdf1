//! The event stream of every shape: parallel nodes, retries, failures, skips, maps, races,
//! sub-workflows, deadlines, drops and panics.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flow_runtime::events::{self, Event, EventKind, Recorder, RunOutcome};
use flow_runtime::{ErrorKind, RunOptions, node, workflow};
use futures_util::StreamExt;
use tokio::time::sleep;

use super::{assert_well_ordered, lines, outcome};

pub struct Left(u32);
pub struct Right(u32);
pub struct Joined(pub u32);

#[node]
pub async fn left(seed: &u32) -> Left {
    sleep(Duration::from_millis(10)).await;
    Left(seed + 1)
}

#[node]
pub async fn right(seed: &u32) -> Right {
    sleep(Duration::from_millis(20)).await;
    Right(seed + 2)
}

#[node]
pub async fn join(l: &Left, r: &Right) -> Joined {
    sleep(Duration::from_millis(5)).await;
    Joined(l.0 + r.0)
}

#[workflow(left, right, join)]
pub async fn diamond(seed: u32) -> Joined;

#[tokio::test(start_paused = true)]
async fn parallel_nodes_report_in_order_with_their_times() {
    let recorder = Recorder::new();
    let options = RunOptions::new().run_id("r-1").observe(recorder.clone());
    let out = diamond::run(options, 1).await.unwrap();
    assert_eq!(out.0, 5);
    let events = recorder.events();
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started left @0",
            "node_started right @0",
            "node_finished left @10",
            "node_finished right @20",
            "node_started join @20",
            "node_finished join @25",
            "run_finished @25",
        ]
    );
    assert_well_ordered(&events);
    assert!(events.iter().all(|e| e.run_id.to_string() == "r-1"));
    assert_eq!(
        events[4].kind,
        EventKind::NodeFinished {
            node: "right".into(),
            element: None,
            attempts: 1,
            duration: Duration::from_millis(20),
        }
    );
    assert_eq!(
        events[7].kind,
        EventKind::RunFinished {
            workflow: "diamond".into(),
            outcome: RunOutcome::Succeeded,
            error: None,
            error_kind: None,
            node: None,
            element: None,
            duration: Duration::from_millis(25),
        }
    );
}

#[tokio::test(start_paused = true)]
async fn events_serialize_and_come_back_equal() {
    let recorder = Recorder::new();
    let options = RunOptions::new().run_id("r-2").observe(recorder.clone());
    diamond::run(options, 1).await.unwrap();
    let events = recorder.events();
    let json = serde_json::to_string(&events).unwrap();
    let back: Vec<Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, events);
    assert_eq!(
        serde_json::to_value(&events[3]).unwrap(),
        serde_json::json!({
            "run_id": "r-2",
            "at_ms": 10.0,
            "kind": {
                "type": "node_finished",
                "node": "left",
                "attempts": 1,
                "duration_ms": 10.0,
            },
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_channel_streams_the_events_and_ends_with_the_run() {
    let (sender, stream) = events::channel();
    let consumer = tokio::spawn(stream.map(|e| e.kind.name()).collect::<Vec<_>>());
    diamond::run(RunOptions::new().observe(sender), 1)
        .await
        .unwrap();
    let names = consumer.await.unwrap();
    assert_eq!(names.len(), 8);
    assert_eq!(names.first(), Some(&"run_started"));
    assert_eq!(names.last(), Some(&"run_finished"));
}

#[tokio::test(start_paused = true)]
async fn a_closure_observes_and_runs_without_options_report_nothing() {
    let seen = std::sync::Arc::new(AtomicU32::new(0));
    let count = seen.clone();
    let options = RunOptions::new().observe(move |_: &Event| {
        count.fetch_add(1, Ordering::SeqCst);
    });
    diamond::run(options, 1).await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 8);
    diamond(1).await.unwrap();
    diamond::run(RunOptions::new(), 1).await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 8);
}

pub struct Fetched(pub u32);

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[node(retry(max_attempts = 3, initial = "100ms", factor = 2.0, jitter = false))]
async fn flaky(x: &u32) -> Result<Fetched, String> {
    sleep(Duration::from_millis(10)).await;
    if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        Err("try again".to_string())
    } else {
        Ok(Fetched(*x))
    }
}

#[workflow(flaky)]
pub async fn retried(x: u32) -> Fetched;

#[tokio::test(start_paused = true)]
async fn retries_report_each_failed_attempt_with_its_delay() {
    let recorder = Recorder::new();
    let out = retried::run(RunOptions::new().observe(recorder.clone()), 7)
        .await
        .unwrap();
    assert_eq!(out.0, 7);
    let events = recorder.events();
    assert_well_ordered(&events);
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started flaky @0",
            "node_retrying flaky @10",
            "node_retrying flaky @120",
            "node_finished flaky @330",
            "run_finished @330",
        ]
    );
    assert_eq!(
        events[2].kind,
        EventKind::NodeRetrying {
            node: "flaky".into(),
            element: None,
            attempt: 1,
            delay: Duration::from_millis(100),
            error: "try again".into(),
            error_kind: ErrorKind::NodeFailed,
        }
    );
    assert!(matches!(
        events[3].kind,
        EventKind::NodeRetrying { attempt: 2, delay, .. } if delay == Duration::from_millis(200)
    ));
    assert!(matches!(
        events[4].kind,
        EventKind::NodeFinished { attempts: 3, duration, .. } if duration == Duration::from_millis(330)
    ));
}

pub struct Slow;
pub struct Broken;
pub struct Both;

#[node]
async fn slow(_x: &u32) -> Slow {
    sleep(Duration::from_millis(100)).await;
    Slow
}

#[node]
async fn broken(_x: &u32) -> Result<Broken, String> {
    sleep(Duration::from_millis(10)).await;
    Err("disk full".to_string())
}

#[node]
async fn both(_s: &Slow, _b: &Broken) -> Both {
    Both
}

#[workflow(slow, broken, both)]
pub async fn fails_fast(x: u32) -> Both;

#[tokio::test(start_paused = true)]
async fn a_failure_cancels_the_siblings_before_the_run_finishes() {
    let recorder = Recorder::new();
    let err = fails_fast::run(RunOptions::new().observe(recorder.clone()), 1)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    let events = recorder.events();
    assert_well_ordered(&events);
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started slow @0",
            "node_started broken @0",
            "node_failed broken @10",
            "node_cancelled slow @10",
            "run_finished @10",
        ]
    );
    assert!(matches!(
        &events[3].kind,
        EventKind::NodeFailed { error, attempts: 1, .. } if error == "disk full"
    ));
    assert!(matches!(
        &events[5].kind,
        EventKind::RunFinished { outcome: RunOutcome::Failed, error: Some(e), .. } if *e == err.to_string()
    ));
}

pub struct Found(u32);
pub struct Rendered;
pub struct Note(Option<u32>);

#[node]
async fn lookup(key: &u32) -> Option<Found> {
    (*key != 0).then_some(Found(*key))
}

#[node]
async fn render(_f: &Found) -> Rendered {
    Rendered
}

#[node]
async fn note(f: Option<&Found>, _r: Option<&Rendered>) -> Note {
    Note(f.map(|f| f.0))
}

#[workflow(lookup, render, note)]
pub async fn find(key: u32) -> Note;

#[tokio::test]
async fn a_skipped_node_reports_skipped_alone() {
    let recorder = Recorder::new();
    let out = find::run(RunOptions::new().observe(recorder.clone()), 0)
        .await
        .unwrap();
    assert_eq!(out.0, None);
    let events = recorder.events();
    assert_well_ordered(&events);
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started lookup @0",
            "node_finished lookup @0",
            "node_skipped render @0",
            "node_started note @0",
            "node_finished note @0",
            "run_finished @0",
        ]
    );
}

pub struct Square(u64);
pub struct Total(u64);

#[node]
async fn items(n: &u64) -> Vec<u64> {
    (1..=*n).collect()
}

#[node]
async fn square(x: &u64) -> Square {
    sleep(Duration::from_millis(10 * x)).await;
    Square(x * x)
}

#[node]
async fn total(squares: &[Square]) -> Total {
    Total(squares.iter().map(|s| s.0).sum())
}

#[workflow(items, map(square, concurrency = 2), total)]
pub async fn squares(n: u64) -> Total;

#[tokio::test(start_paused = true)]
async fn map_elements_report_one_sequence_each_with_their_index() {
    let recorder = Recorder::new();
    let out = squares::run(RunOptions::new().observe(recorder.clone()), 4)
        .await
        .unwrap();
    assert_eq!(out.0, 1 + 4 + 9 + 16);
    let events = recorder.events();
    assert_well_ordered(&events);
    // Elements take 10, 20, 30, 40 ms, two at a time.
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started items @0",
            "node_finished items @0",
            "node_started square[0] @0",
            "node_started square[1] @0",
            "node_finished square[0] @10",
            "node_started square[2] @10",
            "node_finished square[1] @20",
            "node_started square[3] @20",
            "node_finished square[2] @40",
            "node_finished square[3] @60",
            "node_started total @60",
            "node_finished total @60",
            "run_finished @60",
        ]
    );
}

pub struct Answer(&'static str);

#[node]
async fn primary(_q: &u32) -> Result<Answer, String> {
    sleep(Duration::from_millis(50)).await;
    Ok(Answer("primary"))
}

#[node]
async fn mirror(_q: &u32) -> Result<Answer, String> {
    sleep(Duration::from_millis(20)).await;
    Ok(Answer("mirror"))
}

#[node]
async fn broken_mirror(_q: &u32) -> Result<Answer, String> {
    sleep(Duration::from_millis(5)).await;
    Err("unreachable host".into())
}

#[workflow(race(primary, mirror, broken_mirror))]
pub async fn fastest(q: u32) -> Answer;

#[tokio::test(start_paused = true)]
async fn race_losers_are_cancelled_and_failed_members_fail() {
    let recorder = Recorder::new();
    let out = fastest::run(RunOptions::new().observe(recorder.clone()), 1)
        .await
        .unwrap();
    assert_eq!(out.0, "mirror");
    let events = recorder.events();
    assert_well_ordered(&events);
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started primary @0",
            "node_started mirror @0",
            "node_started broken_mirror @0",
            "node_failed broken_mirror @5",
            "node_finished mirror @20",
            "node_cancelled primary @20",
            "run_finished @20",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_cancels_the_nodes_in_flight() {
    let recorder = Recorder::new();
    let options = RunOptions::new()
        .timeout(Duration::from_millis(15))
        .observe(recorder.clone());
    let err = diamond::run(options, 1).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    let events = recorder.events();
    assert_well_ordered(&events);
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started left @0",
            "node_started right @0",
            "node_finished left @10",
            "node_cancelled right @15",
            "run_finished @15",
        ]
    );
    assert_eq!(super::outcome(&events), RunOutcome::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_run_reports_its_nodes_cancelled_and_itself_dropped() {
    let recorder = Recorder::new();
    let run = diamond::run(RunOptions::new().observe(recorder.clone()), 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(12), run)
            .await
            .is_err()
    );
    let events = recorder.events();
    assert_well_ordered(&events);
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started left @0",
            "node_started right @0",
            "node_finished left @10",
            "node_cancelled right @12",
            "run_finished @12",
        ]
    );
    assert_eq!(outcome(&events), RunOutcome::Dropped);
}

pub struct Boom;

#[node]
async fn explode(_x: &u32) -> Boom {
    sleep(Duration::from_millis(1)).await;
    panic!("kaboom");
}

#[node(timeout = "1s")]
async fn explode_with_policy(_x: &u32) -> Boom {
    panic!("kaboom");
}

#[workflow(explode)]
async fn panics(x: u32) -> Boom;

#[workflow(explode_with_policy)]
async fn panics_under_policy(x: u32) -> Boom;

#[tokio::test(start_paused = true)]
async fn a_panicking_node_is_reported_failed() {
    for policy in [false, true] {
        let recorder = Recorder::new();
        let options = RunOptions::new().observe(recorder.clone());
        let err = if policy {
            panics_under_policy::run(options, 1).await.err().unwrap()
        } else {
            panics::run(options, 1).await.err().unwrap()
        };
        assert_eq!(err.kind(), ErrorKind::NodePanicked);
        let events = recorder.events();
        assert_well_ordered(&events);
        let names: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
        assert_eq!(
            names,
            ["run_started", "node_started", "node_failed", "run_finished"],
            "policy: {policy}"
        );
        assert!(matches!(
            &events[2].kind,
            EventKind::NodeFailed { error, .. } if error.contains("panicked") || error.contains("kaboom")
        ));
    }
}

#[workflow(left, right, join)]
async fn inner(seed: u32) -> Joined;

pub struct Outer(u32);

#[node]
async fn wrap(j: &Joined) -> Outer {
    Outer(j.0 * 10)
}

#[workflow(inner, wrap)]
pub async fn outer(seed: u32) -> Outer;

#[tokio::test(start_paused = true)]
async fn a_sub_workflow_is_one_node_of_its_parent() {
    let recorder = Recorder::new();
    let out = outer::run(RunOptions::new().observe(recorder.clone()), 1)
        .await
        .unwrap();
    assert_eq!(out.0, 50);
    let events = recorder.events();
    assert_well_ordered(&events);
    assert_eq!(
        lines(&events),
        [
            "run_started @0",
            "node_started inner @0",
            "node_finished inner @25",
            "node_started wrap @25",
            "node_finished wrap @25",
            "run_finished @25",
        ]
    );
}

pub struct Wobbly;
#[derive(Debug)]
pub struct Done;

#[node(retry(max_attempts = 3, initial = "10ms", jitter = false))]
pub async fn wobbly(_x: &u32) -> Result<Wobbly, String> {
    sleep(Duration::from_millis(5)).await;
    Err("still down".into())
}

#[node]
pub async fn done(_l: &Left, _w: &Wobbly) -> Done {
    Done
}

#[workflow(left, wobbly, done)]
pub async fn with_failure_and_retry(seed: u32) -> Done;
