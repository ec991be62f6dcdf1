//! Observing runs: the event stream (order, contents, serialization), the run report, the
//! pictures. The `tracing` spans are tested in their own binary (`tests/spans.rs`).

use std::collections::HashMap;
use std::time::Duration;

use flow_runtime::events::{Event, EventKind, RunOutcome};

mod events;
mod pictures;
mod report;

/// A compact view of an event: its kind, node (with `[i]` for an element) and time in ms.
fn line(e: &Event) -> String {
    let who = match (e.kind.node(), e.kind.element()) {
        (Some(n), Some(i)) => format!(" {n}[{i}]"),
        (Some(n), None) => format!(" {n}"),
        (None, _) => String::new(),
    };
    format!("{}{} @{}", e.kind.name(), who, e.at.as_millis())
}

fn lines(events: &[Event]) -> Vec<String> {
    events.iter().map(line).collect()
}

/// Checks the contract of every event stream: `run_started` first and once, `run_finished`
/// last and once, and per node (per element) `node_started`, then `node_retrying` for
/// attempts 1, 2, ..., then exactly one terminal event, or `node_skipped` alone.
pub fn assert_well_ordered(events: &[Event]) {
    assert!(
        matches!(
            events.first().map(|e| &e.kind),
            Some(EventKind::RunStarted { .. })
        ),
        "the first event is run_started: {:#?}",
        lines(events)
    );
    assert!(
        matches!(
            events.last().map(|e| &e.kind),
            Some(EventKind::RunFinished { .. })
        ),
        "the last event is run_finished: {:#?}",
        lines(events)
    );
    let runs = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::RunStarted { .. } | EventKind::RunFinished { .. }
            )
        })
        .count();
    assert_eq!(runs, 2, "one run_started and one run_finished");
    let mut at = Duration::ZERO;
    let mut per_node: HashMap<(String, Option<usize>), Vec<&EventKind>> = HashMap::new();
    for e in events {
        assert!(e.at >= at, "times never go back: {:#?}", lines(events));
        at = e.at;
        assert_eq!(e.run_id, events[0].run_id, "one run id");
        if let Some(node) = e.kind.node() {
            per_node
                .entry((node.to_string(), e.kind.element()))
                .or_default()
                .push(&e.kind);
        }
    }
    for ((node, element), kinds) in per_node {
        let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        if names == ["node_skipped"] {
            continue;
        }
        assert_eq!(names[0], "node_started", "{node}{element:?}: {names:?}");
        let last = kinds.last().unwrap();
        assert!(
            last.is_terminal() && !matches!(last, EventKind::NodeSkipped { .. }),
            "{node}{element:?} ends with one terminal event: {names:?}"
        );
        for (k, kind) in kinds[1..kinds.len() - 1].iter().enumerate() {
            match kind {
                EventKind::NodeRetrying { attempt, .. } => {
                    assert_eq!(*attempt as usize, k + 1, "{node}: {names:?}")
                }
                other => panic!(
                    "{node}{element:?}: unexpected {} in {names:?}",
                    other.name()
                ),
            }
        }
    }
}

/// The run's outcome, from its last event.
fn outcome(events: &[Event]) -> RunOutcome {
    match events.last().map(|e| &e.kind) {
        Some(EventKind::RunFinished { outcome, .. }) => *outcome,
        other => panic!("no run_finished at the end: {other:?}"),
    }
}
