//! A run's report, built from its events: per node its start, end, attempts and outcome.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::events::{Event, EventKind, RunOutcome};
use crate::graph::Source;
use crate::observe::events::{millis, wall};
use crate::{ErrorKind, RunId, WorkflowGraph};

/// What happened in one run, node by node, built from its [`Event`]s with
/// [`RunReport::from_events`] (or [`Recorder::report`](crate::events::Recorder::report)).
///
/// ```
/// use std::time::Duration;
/// use flow_runtime::events::Recorder;
/// use flow_runtime::{node, workflow, NodeOutcome, RunOptions};
///
/// pub struct Page(String);
/// pub struct Words(usize);
///
/// #[node]
/// async fn fetch(url: &String) -> Page {
///     tokio::time::sleep(Duration::from_millis(30)).await;
///     Page(format!("<p>{url}</p>"))
/// }
///
/// #[node]
/// async fn count(page: &Page) -> Words { Words(page.0.split_whitespace().count()) }
///
/// #[workflow(fetch, count)]
/// async fn words(url: String) -> Words;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), flow_runtime::Error> {
/// let recorder = Recorder::new();
/// words::run(RunOptions::new().observe(recorder.clone()), "a.example".into()).await?;
/// let report = recorder.report();
/// let fetch = report.node("fetch").unwrap();
/// assert_eq!(fetch.outcome, NodeOutcome::Finished);
/// assert_eq!(fetch.end, Some(Duration::from_millis(30)));
/// assert_eq!(report.node("count").unwrap().start, Some(Duration::from_millis(30)));
/// # Ok(())
/// # }
/// ```
///
/// Serialized (`serde_json::to_string(&report)`) with its times in milliseconds
/// (`duration_ms`, `start_ms`, `end_ms`), the run's wall-clock `started_at` (RFC 3339), and
/// what its methods compute: `critical_path` (the labels of
/// [`critical_path`](Self::critical_path) without a graph, `"summarize[2]"` for an element)
/// and `peak_in_flight` ([`max_parallelism`](Self::max_parallelism)). Those two are left out
/// when a report is read back, and computed again.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct RunReport {
    /// The workflow's name (empty if the events had no `RunStarted`).
    pub workflow: String,
    /// The run's id, if there were events.
    pub run_id: Option<RunId>,
    /// When the run started, on the system's clock, if its `RunStarted` was seen.
    #[serde(default, with = "wall_option")]
    pub started_at: Option<SystemTime>,
    /// How the run ended; `None` while it runs.
    pub outcome: Option<RunOutcome>,
    /// The error the run returned, if it failed.
    pub error: Option<String>,
    /// The kind of that error.
    #[serde(default)]
    pub error_kind: Option<ErrorKind>,
    /// The node (and element) whose failure ended the run, when one did. Any other node
    /// that failed was tolerated ([`NodeReport::tolerated`]).
    #[serde(default)]
    pub failed_node: Option<(String, Option<usize>)>,
    /// How long the run took; `None` while it runs.
    #[serde(rename = "duration_ms", with = "millis::option")]
    pub duration: Option<Duration>,
    /// The nodes (and elements of mapped nodes) that started or were skipped, in the order
    /// of their first event.
    pub nodes: Vec<NodeReport>,
}

/// One node's (or one element's) part of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeReport {
    /// The node's name.
    pub node: String,
    /// The element's index, for a mapped node.
    pub element: Option<usize>,
    /// When its first attempt started; `None` if it was skipped.
    #[serde(rename = "start_ms", with = "millis::option")]
    pub start: Option<Duration>,
    /// When it ended (or was skipped); `None` while it runs.
    #[serde(rename = "end_ms", with = "millis::option")]
    pub end: Option<Duration>,
    /// Its attempts, in order.
    pub attempts: Vec<AttemptReport>,
    /// How it ended.
    pub outcome: NodeOutcome,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// How it failed, when it did: a node's error, a timeout, a panic, ...
    #[serde(default)]
    pub error_kind: Option<ErrorKind>,
    /// It failed and the run went on without it (`continue_on_error`): its failure is not
    /// the one that ended the run. Known once the run has ended.
    #[serde(default)]
    pub tolerated: bool,
}

/// One attempt of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttemptReport {
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started (a retry starts after its backoff).
    #[serde(rename = "start_ms", with = "millis")]
    pub start: Duration,
    /// When it ended; `None` while it runs.
    #[serde(rename = "end_ms", with = "millis::option")]
    pub end: Option<Duration>,
    /// How it ended.
    pub outcome: NodeOutcome,
    /// Why it failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
    /// How it failed, when it did.
    #[serde(default)]
    pub error_kind: Option<ErrorKind>,
}

impl Serialize for RunReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Ms(Option<Duration>);
        impl Serialize for Ms {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                millis::option::serialize(&self.0, s)
            }
        }
        let critical: Vec<String> = self
            .critical_path(None)
            .into_iter()
            .map(|k| self.nodes[k].label())
            .collect();
        let mut r = s.serialize_struct("RunReport", 11)?;
        r.serialize_field("workflow", &self.workflow)?;
        r.serialize_field("run_id", &self.run_id)?;
        r.serialize_field("started_at", &self.started_at.map(wall::format))?;
        r.serialize_field("outcome", &self.outcome)?;
        r.serialize_field("error", &self.error)?;
        r.serialize_field("error_kind", &self.error_kind)?;
        r.serialize_field("failed_node", &self.failed_node)?;
        r.serialize_field("duration_ms", &Ms(self.duration))?;
        r.serialize_field("nodes", &self.nodes)?;
        r.serialize_field("critical_path", &critical)?;
        r.serialize_field("peak_in_flight", &self.max_parallelism())?;
        r.end()
    }
}

/// An optional wall-clock time as RFC 3339 text.
mod wall_option {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer};

    use crate::observe::events::wall;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => wall::parse(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time in UTC"))
            }),
            None => Ok(None),
        }
    }
}

/// How a node (or an attempt) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NodeOutcome {
    /// Still running when the report was made.
    Running,
    /// Returned its output.
    Finished,
    /// Failed (an error, a timeout or a panic).
    Failed,
    /// Never ran: a value it needs was not produced.
    Skipped,
    /// Stopped before it ended.
    Cancelled,
}

impl NodeOutcome {
    /// The outcome's name: `running`, `finished`, `failed`, `skipped`, `cancelled`.
    pub fn name(self) -> &'static str {
        match self {
            NodeOutcome::Running => "running",
            NodeOutcome::Finished => "finished",
            NodeOutcome::Failed => "failed",
            NodeOutcome::Skipped => "skipped",
            NodeOutcome::Cancelled => "cancelled",
        }
    }
}

impl RunReport {
    /// The report of the events of one run, in the order they happened. Events of other
    /// runs (another run id than the first event's) are left out.
    pub fn from_events<'e>(events: impl IntoIterator<Item = &'e Event>) -> Self {
        let mut report = RunReport {
            workflow: String::new(),
            run_id: None,
            started_at: None,
            outcome: None,
            error: None,
            error_kind: None,
            failed_node: None,
            duration: None,
            nodes: Vec::new(),
        };
        let mut index: HashMap<(String, Option<usize>), usize> = HashMap::new();
        for event in events {
            match &report.run_id {
                Some(id) if *id != event.run_id => continue,
                Some(_) => {}
                None => report.run_id = Some(event.run_id.clone()),
            }
            let at = event.at;
            match &event.kind {
                EventKind::RunStarted {
                    workflow,
                    started_at,
                } => {
                    report.workflow = workflow.to_string();
                    report.started_at = Some(*started_at);
                }
                EventKind::RunFinished {
                    workflow,
                    outcome,
                    error,
                    error_kind,
                    node,
                    element,
                    duration,
                } => {
                    report.workflow = workflow.to_string();
                    report.outcome = Some(*outcome);
                    report.error = error.clone();
                    report.error_kind = *error_kind;
                    report.failed_node = node.as_ref().map(|n| (n.to_string(), *element));
                    report.duration = Some(*duration);
                }
                EventKind::NodeStarted { node, element } => {
                    let n = entry(&mut report.nodes, &mut index, node, *element);
                    n.start = Some(at);
                    n.attempts.push(AttemptReport {
                        number: 1,
                        start: at,
                        end: None,
                        outcome: NodeOutcome::Running,
                        error: None,
                        error_kind: None,
                    });
                }
                EventKind::NodeRetrying {
                    node,
                    element,
                    attempt,
                    delay,
                    error,
                    error_kind,
                } => {
                    let n = entry(&mut report.nodes, &mut index, node, *element);
                    if let Some(last) = n.attempts.last_mut() {
                        last.end = Some(at);
                        last.outcome = NodeOutcome::Failed;
                        last.error = Some(error.clone());
                        last.error_kind = Some(*error_kind);
                    }
                    n.attempts.push(AttemptReport {
                        number: attempt + 1,
                        start: at + *delay,
                        end: None,
                        outcome: NodeOutcome::Running,
                        error: None,
                        error_kind: None,
                    });
                }
                EventKind::NodeFinished { node, element, .. } => {
                    entry(&mut report.nodes, &mut index, node, *element).end_at(
                        at,
                        NodeOutcome::Finished,
                        None,
                    );
                }
                EventKind::NodeFailed {
                    node,
                    element,
                    error,
                    error_kind,
                    ..
                } => {
                    entry(&mut report.nodes, &mut index, node, *element).end_at(
                        at,
                        NodeOutcome::Failed,
                        Some((error.clone(), *error_kind)),
                    );
                }
                EventKind::NodeCancelled { node, element, .. } => {
                    entry(&mut report.nodes, &mut index, node, *element).end_at(
                        at,
                        NodeOutcome::Cancelled,
                        None,
                    );
                }
                EventKind::NodeSkipped { node } => {
                    let n = entry(&mut report.nodes, &mut index, node, None);
                    n.end = Some(at);
                    n.outcome = NodeOutcome::Skipped;
                }
            }
        }
        // Once the run has ended, a failure other than the one that ended it was tolerated.
        if report.outcome.is_some() {
            let ended_by = report.failed_node.clone();
            for n in &mut report.nodes {
                n.tolerated = n.outcome == NodeOutcome::Failed
                    && ended_by
                        .as_ref()
                        .is_none_or(|(node, element)| *node != n.node || *element != n.element);
            }
        }
        report
    }

    /// The report of a node that is not mapped (or the first element of a mapped one).
    pub fn node(&self, name: &str) -> Option<&NodeReport> {
        self.nodes.iter().find(|n| n.node == name)
    }

    /// Every report of `name`: one, or one per element of a mapped node, in element order.
    pub fn elements(&self, name: &str) -> Vec<&NodeReport> {
        let mut all: Vec<&NodeReport> = self.nodes.iter().filter(|n| n.node == name).collect();
        all.sort_by_key(|n| n.element);
        all
    }

    /// How many nodes (and elements) were running, as steps: from each instant on (in
    /// order, one step per instant at which a node started or ended), the count. A node
    /// still running counts until [`end`](Self::end).
    pub fn in_flight(&self) -> Vec<(Duration, usize)> {
        let mut changes: Vec<(Duration, i64)> = Vec::new();
        let end = self.end();
        for n in &self.nodes {
            if let Some(start) = n.start {
                changes.push((start, 1));
                changes.push((n.end.unwrap_or(end), -1));
            }
        }
        changes.sort();
        let mut steps: Vec<(Duration, usize)> = Vec::new();
        let mut now = 0i64;
        for (at, change) in changes {
            now += change;
            // Every change at one instant makes one step: a node that starts when another
            // ends does not overlap it.
            match steps.last_mut() {
                Some(last) if last.0 == at => last.1 = now as usize,
                _ => steps.push((at, now as usize)),
            }
        }
        steps
    }

    /// The most nodes (and elements) that were running at one time.
    pub fn max_parallelism(&self) -> usize {
        self.in_flight().iter().map(|s| s.1).max().unwrap_or(0)
    }

    /// When the run ended, or the last event's time while it runs.
    pub fn end(&self) -> Duration {
        self.duration.unwrap_or_else(|| {
            self.nodes
                .iter()
                .filter_map(|n| n.end.or(n.start))
                .max()
                .unwrap_or_default()
        })
    }

    /// The critical path: the chain of nodes (indexes into [`nodes`](Self::nodes)) that
    /// decided how long the run took, first to last. It ends at the node that ended last;
    /// each node before it is the dependency that ended last before it started. With the
    /// workflow's `graph`, dependencies are its edges; without, any node that ended by the
    /// time the next one started. An element of a mapped node may also have waited for an
    /// earlier element of the same node (for a free slot under its concurrency bound).
    pub fn critical_path(&self, graph: Option<&WorkflowGraph>) -> Vec<usize> {
        // A node stopped from outside did not decide the run's length: its failure did.
        let ran = |n: &NodeReport| {
            n.start.is_some() && n.end.is_some() && n.outcome != NodeOutcome::Cancelled
        };
        let ended_by = self.failed_node.as_ref().and_then(|(node, element)| {
            (0..self.nodes.len()).find(|&k| {
                let n = &self.nodes[k];
                n.node == *node && n.element == *element && ran(n)
            })
        });
        let Some(mut current) = ended_by.or_else(|| {
            (0..self.nodes.len())
                .filter(|&k| ran(&self.nodes[k]))
                .max_by_key(|&k| (self.nodes[k].end, std::cmp::Reverse(k)))
        }) else {
            return Vec::new();
        };
        // An element of a mapped node may also have waited for an earlier element's slot.
        let depends = |later: &NodeReport, earlier: &NodeReport| -> bool {
            if later.node == earlier.node {
                return later.element.is_some();
            }
            let (later, earlier) = (later.node.as_str(), earlier.node.as_str());
            let Some(graph) = graph else {
                return true;
            };
            let position = |name: &str| graph.nodes().iter().position(|n| n.name() == name);
            match (position(later), position(earlier)) {
                (Some(l), Some(e)) => {
                    graph
                        .edges()
                        .iter()
                        .any(|edge| edge.to() == l && edge.from() == Source::Node(e))
                        || graph
                            .order_edges()
                            .iter()
                            .any(|o| o.to() == l && o.from() == e)
                }
                _ => false,
            }
        };
        let mut path = vec![current];
        loop {
            let node = &self.nodes[current];
            let start = node.start.expect("ran");
            let before = (0..self.nodes.len())
                .filter(|&k| !path.contains(&k) && ran(&self.nodes[k]))
                .filter(|&k| self.nodes[k].end.is_some_and(|end| end <= start))
                .filter(|&k| depends(node, &self.nodes[k]))
                .max_by_key(|&k| (self.nodes[k].end, std::cmp::Reverse(k)));
            match before {
                Some(k) => {
                    path.push(k);
                    current = k;
                }
                None => break,
            }
        }
        path.reverse();
        path
    }
}

/// The report of `node` (element `element`), added on its first event.
fn entry<'n>(
    nodes: &'n mut Vec<NodeReport>,
    index: &mut HashMap<(String, Option<usize>), usize>,
    node: &str,
    element: Option<usize>,
) -> &'n mut NodeReport {
    let next = nodes.len();
    let k = *index.entry((node.to_string(), element)).or_insert(next);
    if k == next {
        nodes.push(NodeReport {
            node: node.to_string(),
            element,
            start: None,
            end: None,
            attempts: Vec::new(),
            outcome: NodeOutcome::Running,
            error: None,
            error_kind: None,
            tolerated: false,
        });
    }
    &mut nodes[k]
}

impl NodeReport {
    fn end_at(&mut self, at: Duration, outcome: NodeOutcome, error: Option<(String, ErrorKind)>) {
        self.end = Some(at);
        self.outcome = outcome;
        self.error = error.as_ref().map(|e| e.0.clone());
        self.error_kind = error.as_ref().map(|e| e.1);
        // Cancelled during a backoff: the next attempt never started.
        if self.attempts.last().is_some_and(|a| a.start > at) {
            self.attempts.pop();
        }
        if let Some(last) = self.attempts.last_mut() {
            last.end = Some(at);
            last.outcome = outcome;
            if let Some((text, kind)) = error {
                last.error = Some(text);
                last.error_kind = Some(kind);
            }
        }
    }

    /// How many attempts it made.
    pub fn attempt_count(&self) -> u32 {
        self.attempts.len() as u32
    }

    /// The label of its lane: the node's name, with `[i]` for element `i`.
    pub fn label(&self) -> String {
        match self.element {
            Some(i) => format!("{}[{i}]", self.node),
            None => self.node.clone(),
        }
    }
}
