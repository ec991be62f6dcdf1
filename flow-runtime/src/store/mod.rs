//! Where durable runs keep their journal: the [`Store`] trait and its SQLite implementation,
//! [`SqliteStore`], and what a store records about a run ([`RunRecord`]).
//!
//! A `#[workflow(..., durable)]` run given a store ([`RunOptions::store`](crate::RunOptions::store))
//! records its start (workflow, graph, inputs), every node (and map element) that completes
//! with its output, the winner of each race, skipped nodes, compensations, and its end.
//! Calling the same run id again continues the run: what completed is read back, not run
//! again.
//!
//! ```
//! use flow_runtime::{node, workflow, RunOptions};
//! use flow_runtime::store::{RunStatus, SqliteStore};
//! # use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct Order(u32);
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! pub struct Receipt(u32);
//!
//! #[node]
//! async fn charge(o: &Order) -> Receipt { Receipt(o.0 * 2) }
//!
//! #[workflow(charge, durable)]
//! pub async fn order(o: Order) -> Receipt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("flow-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let path = dir.join("runs.db");
//! let store = SqliteStore::open(&path)?;                 // created if missing
//! let options = RunOptions::new().run_id("order-42").store(&store);
//! assert_eq!(order::run(options, Order(21)).await?, Receipt(42));
//!
//! let rec = store.run("order-42")?.expect("recorded");
//! assert_eq!(rec.status(), RunStatus::Succeeded);
//! assert_eq!(rec.completed_nodes(), vec![("charge".to_string(), None)]);
//!
//! // The same run id again returns the recorded output; nothing runs.
//! let options = RunOptions::new().run_id("order-42").store(&store);
//! assert_eq!(order::resume(options).await?, Receipt(42));
//! # drop(store);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

#[doc(hidden)]
pub mod backend;
pub(crate) mod journal;
pub use journal::Recorded;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};

/// Where durable runs are journaled. [`SqliteStore`] is the one this crate provides; the
/// trait lets other stores follow.
///
/// A store keeps, per run id, the run's start ([`NewRun`]), its [`Entry`]s (unique per node
/// path, map element and [`EntryKind`]; a second write of the same key is ignored), and its
/// end. Every method is called from the run's task and should return promptly: a run's
/// nodes wait for [`append`](Store::append) before their consumers start.
pub trait Store: Send + Sync {
    /// Takes run `id` for this caller until the returned [`Claim`] is dropped. Fails with
    /// [`StoreErrorKind::InUse`] while another caller (in this process or another) holds it.
    fn claim(&self, id: &str) -> Result<Claim, StoreError>;

    /// What the store holds about run `id`, if anything.
    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;

    /// Every run the store holds, oldest first.
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError>;

    /// Records the start of a run that has no record yet.
    fn create(&self, run: &NewRun<'_>) -> Result<(), StoreError>;

    /// Records `entries` of run `id` at once (one transaction, for a store that has them).
    fn append(&self, id: &str, entries: &[Entry]) -> Result<(), StoreError>;

    /// Records `entries` and the end of run `id` at once.
    fn finish(&self, id: &str, entries: &[Entry], end: &RunEnd) -> Result<(), StoreError>;

    /// The largest serialized node output the store accepts, in bytes: a larger output
    /// fails its node with [`ErrorKind::OutputTooLarge`](crate::ErrorKind::OutputTooLarge).
    fn max_output(&self) -> usize {
        DEFAULT_MAX_OUTPUT
    }
}

/// The default of [`Store::max_output`]: 4 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 4 << 20;

/// A run taken by one caller (see [`Store::claim`]); dropping it releases the run.
#[must_use = "the run is released when the claim is dropped"]
pub struct Claim(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Claim {
    /// A claim that releases the run when `guard` is dropped.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Claim(Box::new(guard))
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Claim")
    }
}

/// The start of a run, as a store records it.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// The run id.
    pub id: &'a str,
    /// The workflow's name.
    pub workflow: &'a str,
    /// A hash of the workflow's graph (its nodes, their types, its edges).
    pub fingerprint: &'a str,
    /// The graph's nodes and their output types, as JSON.
    pub graph: &'a str,
    /// The run's inputs, as JSON (an array, in declaration order).
    pub inputs: &'a str,
    /// When the run started.
    pub started: SystemTime,
}

/// How a run ended, as a store records it.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// [`RunStatus::Succeeded`] or [`RunStatus::Failed`].
    pub status: RunStatus,
    /// The output (for a success) or the error (for a failure), as JSON.
    pub value: String,
    /// When the run ended.
    pub finished: SystemTime,
}

/// Where a run stands in its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunStatus {
    /// Started and not finished: running now, or stopped by a crash (then the same call, or
    /// `resume`, continues it).
    Unfinished,
    /// Finished with its output.
    Succeeded,
    /// Finished with an error.
    Failed,
}

impl RunStatus {
    /// `unfinished`, `succeeded` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Unfinished => "unfinished",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn code(self) -> i64 {
        match self {
            RunStatus::Unfinished => 0,
            RunStatus::Succeeded => 1,
            RunStatus::Failed => 2,
        }
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => RunStatus::Unfinished,
            1 => RunStatus::Succeeded,
            2 => RunStatus::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one journal entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// The node (or map element, or the winning member of a race) completed; the payload
    /// is its output.
    Completed,
    /// A `continue_on_error` node (or element) failed; the payload is its error, which its
    /// consumers saw.
    Tolerated,
    /// The node was skipped: a value it needs was not produced. No payload.
    Skipped,
    /// The node's failure ended the run; the payload is the error.
    Failed,
    /// The node's compensation ran; the payload is its error if it failed (else `null`).
    Compensated,
}

impl EntryKind {
    /// `completed`, `tolerated`, `skipped`, `failed` or `compensated`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Completed => "completed",
            EntryKind::Tolerated => "tolerated",
            EntryKind::Skipped => "skipped",
            EntryKind::Failed => "failed",
            EntryKind::Compensated => "compensated",
        }
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn code(self) -> i64 {
        match self {
            EntryKind::Completed => 0,
            EntryKind::Tolerated => 1,
            EntryKind::Skipped => 2,
            EntryKind::Failed => 3,
            EntryKind::Compensated => 4,
        }
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => EntryKind::Completed,
            1 => EntryKind::Tolerated,
            2 => EntryKind::Skipped,
            3 => EntryKind::Failed,
            4 => EntryKind::Compensated,
            _ => return None,
        })
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One journal entry of a run: keyed by node name, map element and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The node's name (the function's name unless `name = "..."`).
    pub node: String,
    /// The map element, for an element of a mapped node.
    pub element: Option<usize>,
    /// What happened.
    pub kind: EntryKind,
    /// The entry's place in the run's journal: entries are numbered in the order they were
    /// recorded, across resumes.
    pub seq: u32,
    /// The output or error, as JSON (see [`EntryKind`]).
    pub payload: Option<String>,
    /// When the node started (for a node that ran in this run's process; a skip starts and
    /// ends at once).
    pub started: SystemTime,
    /// When it was recorded.
    pub ended: SystemTime,
}

/// What a store holds about one run: see [`Store::run`].
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub(crate) id: String,
    pub(crate) workflow: String,
    pub(crate) fingerprint: String,
    pub(crate) graph: String,
    pub(crate) inputs: String,
    pub(crate) status: RunStatus,
    pub(crate) value: Option<String>,
    pub(crate) started: SystemTime,
    pub(crate) finished: Option<SystemTime>,
    pub(crate) entries: Vec<Entry>,
}

impl RunRecord {
    /// A record, as a store reads it back (`value` is the end's output or error).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        run: &NewRun<'_>,
        status: RunStatus,
        value: Option<String>,
        finished: Option<SystemTime>,
        mut entries: Vec<Entry>,
    ) -> Self {
        entries.sort_by_key(|e| e.seq);
        RunRecord {
            id: run.id.to_owned(),
            workflow: run.workflow.to_owned(),
            fingerprint: run.fingerprint.to_owned(),
            graph: run.graph.to_owned(),
            inputs: run.inputs.to_owned(),
            status,
            value,
            started: run.started,
            finished,
            entries,
        }
    }

    /// The run id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The workflow's name.
    pub fn workflow(&self) -> &str {
        &self.workflow
    }

    /// Unfinished, succeeded or failed.
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// Each node whose completion is recorded, by name, with its map element for an element
    /// of a mapped node, in the order they completed. A race's winning member is in it;
    /// skipped nodes and compensations are not. A tolerated failure is not a completion.
    pub fn completed_nodes(&self) -> Vec<(String, Option<usize>)> {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Completed)
            .map(|e| (e.node.clone(), e.element))
            .collect()
    }

    /// The nodes recorded as skipped.
    pub fn skipped_nodes(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Skipped)
            .map(|e| e.node.clone())
            .collect()
    }

    /// The nodes whose compensation is recorded, in the order they ran.
    pub fn compensated_nodes(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Compensated)
            .map(|e| e.node.clone())
            .collect()
    }

    /// Every entry, in the order they were recorded.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The inputs, as JSON (an array in declaration order).
    pub fn inputs_json(&self) -> &str {
        &self.inputs
    }

    /// The output of a run that succeeded, as JSON.
    pub fn output_json(&self) -> Option<&str> {
        match self.status {
            RunStatus::Succeeded => self.value.as_deref(),
            _ => None,
        }
    }

    /// The error of a run that failed, as it reads (`Display`, with its causes).
    pub fn error(&self) -> Option<String> {
        match self.status {
            RunStatus::Failed => {
                let value = self.value.as_deref()?;
                let recorded: crate::journal::RecordedError = serde_json::from_str(value).ok()?;
                Some(recorded.text())
            }
            _ => None,
        }
    }

    /// The end's value (output or error) as recorded, JSON.
    pub fn end_json(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// The graph's nodes and their output types, as recorded at the run's start (JSON).
    pub fn graph_json(&self) -> &str {
        &self.graph
    }

    /// The hash of the graph the run started with.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// When the run started.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// When the run ended, if it did.
    pub fn finished(&self) -> Option<SystemTime> {
        self.finished
    }

    /// How long the run took, if it ended.
    pub fn took(&self) -> Option<Duration> {
        self.finished?.duration_since(self.started).ok()
    }

    /// The run as [`Event`](crate::events::Event)s, from its journal: each recorded node
    /// started and finished (a tolerated failure failed, a skip skipped), at the times it
    /// recorded, from the run's start; and the run's start and end. A resumed run's nodes
    /// that were read back appear once, when they first ran. Feed them to
    /// [`RunReport::from_events`](crate::RunReport::from_events) to draw the run's timeline.
    pub fn events(&self) -> Vec<crate::events::Event> {
        use crate::events::{Event, EventKind, RunOutcome};
        use std::borrow::Cow;
        let id = crate::RunId::new(self.id.as_str());
        let since = |t: SystemTime| t.duration_since(self.started).unwrap_or_default();
        let workflow: Cow<'static, str> = Cow::Owned(self.workflow.clone());
        let mut timed: Vec<(Duration, u8, EventKind)> = Vec::new();
        for e in &self.entries {
            let node: Cow<'static, str> = Cow::Owned(e.node.clone());
            let (start, end) = (since(e.started), since(e.ended));
            let duration = end.saturating_sub(start);
            match e.kind {
                EntryKind::Completed | EntryKind::Tolerated => {
                    timed.push((
                        start,
                        0,
                        EventKind::NodeStarted {
                            node: node.clone(),
                            element: e.element,
                        },
                    ));
                    let kind = if e.kind == EntryKind::Completed {
                        EventKind::NodeFinished {
                            node,
                            element: e.element,
                            attempts: 1,
                            duration,
                        }
                    } else {
                        let recorded = e.payload.as_deref().and_then(|p| {
                            serde_json::from_str::<crate::journal::RecordedError>(p).ok()
                        });
                        EventKind::NodeFailed {
                            node,
                            element: e.element,
                            attempts: 1,
                            duration,
                            error: recorded.as_ref().map_or_else(String::new, |r| r.text()),
                            error_kind: recorded
                                .as_ref()
                                .and_then(|r| r.kind())
                                .unwrap_or(crate::ErrorKind::NodeFailed),
                        }
                    };
                    timed.push((end, 1, kind));
                }
                EntryKind::Skipped => timed.push((end, 1, EventKind::NodeSkipped { node })),
                EntryKind::Failed | EntryKind::Compensated => {}
            }
        }
        timed.sort_by_key(|(at, order, _)| (*at, *order));
        let mut events = vec![Event {
            run_id: id.clone(),
            at: Duration::ZERO,
            kind: EventKind::RunStarted {
                workflow: workflow.clone(),
                started_at: self.started,
            },
        }];
        events.extend(timed.into_iter().map(|(at, _, kind)| Event {
            run_id: id.clone(),
            at,
            kind,
        }));
        if let Some(finished) = self.finished {
            let at = since(finished);
            let recorded = match self.status {
                RunStatus::Failed => self
                    .value
                    .as_deref()
                    .and_then(|v| serde_json::from_str::<crate::journal::RecordedError>(v).ok()),
                _ => None,
            };
            let (node, element) = recorded.as_ref().map_or((None, None), |r| r.node());
            events.push(Event {
                run_id: id,
                at,
                kind: EventKind::RunFinished {
                    workflow,
                    outcome: match self.status {
                        RunStatus::Succeeded => RunOutcome::Succeeded,
                        _ => RunOutcome::Failed,
                    },
                    error: self.error(),
                    error_kind: recorded.as_ref().and_then(|r| r.kind()),
                    node: node.map(|n| Cow::Owned(n.to_owned())),
                    element,
                    duration: at,
                },
            });
        }
        events
    }
}

/// Why a store could not do what a run asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The file could not be opened, read or written.
    Io,
    /// The file is damaged, or is not an SQLite database.
    Corrupt,
    /// The file is a database that is not a flow store (or a newer one): it is left alone.
    NotAStore,
    /// Another caller holds the run (see [`Store::claim`]).
    InUse,
    /// Anything else the database reported.
    Database,
}

/// An error of a [`Store`].
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error of `kind` saying `message`, with its cause.
    pub fn new(
        kind: StoreErrorKind,
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError {
            kind,
            message: message.into(),
            source,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
