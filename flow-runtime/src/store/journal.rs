//! A durable run's journal: what its store recorded before, what this run records, and
//! the futures that read a node's output back instead of running it, or record it before
//! its consumers start.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::graph::Shape;
use crate::store::{Claim, Entry, EntryKind, NewRun, RunEnd, RunRecord, RunStatus, Store};
use crate::{Error, ErrorKind, NodeInfo, WorkflowGraph};

/// FNV-1a, 64 bits: a hash that is the same in every build (for lock files and graph
/// fingerprints).
pub(crate) fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// How a graph is recorded with a run: each node's name, shape and output type.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct RecordedNode {
    node: String,
    shape: String,
    output: Option<String>,
}

fn describe(graph: &WorkflowGraph) -> Vec<RecordedNode> {
    graph
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, node)| RecordedNode {
            node: node.name().to_owned(),
            shape: match graph.step(i).shape() {
                Shape::Once => "once",
                Shape::Map { .. } => "map",
                Shape::Race { .. } => "race",
            }
            .to_owned(),
            output: node.output().map(str::to_owned),
        })
        .collect()
}

fn fingerprint(graph: &WorkflowGraph) -> String {
    let mut text = String::new();
    for (i, n) in describe(graph).iter().enumerate() {
        text.push_str(&format!("{}:{}:{:?};", n.node, n.shape, n.output));
        for e in graph.edges_into(i) {
            text.push_str(&format!("{:?}>{}.{};", e.from(), e.to(), e.param()));
        }
    }
    for p in graph.inputs() {
        text.push_str(&format!("in:{};", p.ty()));
    }
    for o in graph.order_edges() {
        text.push_str(&format!("after:{}>{};", o.from(), o.to()));
    }
    format!("{:016x}", fnv64(text.as_bytes()))
}

/// An error as a journal records it: enough to give the same error back.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct RecordedError {
    kind: String,
    workflow: String,
    node: Option<String>,
    element: Option<usize>,
    attempts: u32,
    /// The error's own text (`Display`), as it read.
    text: String,
    /// Its causes' texts, outermost first.
    causes: Vec<String>,
    others: Vec<RecordedError>,
    compensation: Vec<RecordedError>,
    /// For a failed race, its name.
    #[serde(default)]
    race: Option<String>,
}

impl RecordedError {
    pub(crate) fn of(error: &Error) -> Self {
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            causes.push(s.to_string());
            source = s.source();
        }
        RecordedError {
            kind: format!("{:?}", error.kind()),
            workflow: error.workflow().to_owned(),
            node: error.node_name().map(str::to_owned),
            element: error.element(),
            attempts: error.attempts(),
            text: error.to_string(),
            causes,
            others: error.others().iter().map(RecordedError::of).collect(),
            compensation: error
                .compensation_errors()
                .iter()
                .map(RecordedError::of)
                .collect(),
            race: error.race().map(str::to_owned),
        }
    }

    /// Its kind, if this program knows it.
    pub(crate) fn kind(&self) -> Option<ErrorKind> {
        kind_named(&self.kind)
    }

    /// The node it names, and the element.
    pub(crate) fn node(&self) -> (Option<&str>, Option<usize>) {
        (self.node.as_deref(), self.element)
    }

    /// The error as it read: its text and its causes.
    pub(crate) fn text(&self) -> String {
        let mut text = self.text.clone();
        for c in &self.causes {
            text.push_str(": ");
            text.push_str(c);
        }
        text
    }

    /// The error back, its nodes and workflows found in `graph` or the registry.
    pub(crate) fn restore(&self, graph: &'static WorkflowGraph) -> Error {
        let kind = kind_named(&self.kind).unwrap_or(ErrorKind::NodeFailed);
        let workflow = static_name(graph, &self.workflow);
        let node = self
            .node
            .as_deref()
            .and_then(|n| find_node(graph, &self.workflow, n));
        let source = Recorded::chain(&self.causes).map(|r| r as crate::BoxError);
        let mut error = Error::new(kind, workflow, node, self.attempts, source);
        if let Some(i) = self.element {
            error = error.at_element(i);
        }
        if let Some(race) = &self.race {
            // An error names its race by a `&'static str`; a failed race read back from a
            // store (a finished run called again) keeps its name for good.
            let name: &'static str = Box::leak(race.clone().into_boxed_str());
            error = error.in_race(name);
        }
        for o in &self.others {
            error.push_other(o.restore(graph));
        }
        for c in &self.compensation {
            error.push_compensation(c.restore(graph));
        }
        error
    }
}

fn kind_named(name: &str) -> Option<ErrorKind> {
    use ErrorKind::*;
    Some(match name {
        "NodeFailed" => NodeFailed,
        "NodeTimedOut" => NodeTimedOut,
        "NodePanicked" => NodePanicked,
        "Cancelled" => Cancelled,
        "TimedOut" => TimedOut,
        "CompensationFailed" => CompensationFailed,
        "OutputSkipped" => OutputSkipped,
        "RaceFailed" => RaceFailed,
        "OutputTooLarge" => OutputTooLarge,
        "Backend" => Backend,
        "InputTooLarge" => InputTooLarge,
        _ => return None,
    })
}

fn static_name(graph: &'static WorkflowGraph, name: &str) -> &'static str {
    if graph.name() == name {
        return graph.name();
    }
    #[cfg(feature = "registry")]
    if let Some(g) = crate::registry::workflows().find(|g| g.name() == name) {
        return g.name();
    }
    Box::leak(name.to_owned().into_boxed_str())
}

fn find_node(
    graph: &'static WorkflowGraph,
    workflow: &str,
    node: &str,
) -> Option<&'static NodeInfo> {
    let in_graph = |g: &'static WorkflowGraph| g.node_index(node).map(|i| g.nodes()[i]);
    if graph.name() == workflow {
        return in_graph(graph);
    }
    #[cfg(feature = "registry")]
    return crate::registry::workflows()
        .filter(|g| g.name() == workflow)
        .find_map(in_graph);
    #[cfg(not(feature = "registry"))]
    None
}

/// An error read back from a journal: the text the original error had, with its causes
/// (each a `Recorded` of its own) as its source.
#[derive(Debug)]
pub struct Recorded {
    text: String,
    source: Option<Box<Recorded>>,
}

impl Recorded {
    fn chain(texts: &[String]) -> Option<Box<Recorded>> {
        let (first, rest) = texts.split_first()?;
        Some(Box::new(Recorded {
            text: first.clone(),
            source: Recorded::chain(rest),
        }))
    }
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Recorded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Entries by node name, then map element: looked up by `&str`, with nothing allocated
/// on a node's way.
type ByNode<T> = HashMap<String, HashMap<Option<usize>, T>>;

/// What the journal read back at the run's start.
#[derive(Default)]
struct Replay {
    /// Completed and tolerated entries: kind, seq, payload.
    done: ByNode<(EntryKind, u32, Option<String>)>,
    /// Compensations done, with their error if they failed.
    compensated: HashMap<String, Option<String>>,
    /// The failure that ended the run, recorded by the failing node.
    failed: ByNode<String>,
}

/// What a durable run's journal holds: shared by the run and the runs of its
/// sub-workflows.
pub struct Core<'a> {
    store: &'a dyn Store,
    id: OnceLock<String>,
    graph: OnceLock<&'static WorkflowGraph>,
    replay: OnceLock<Replay>,
    claim: Mutex<Option<Claim>>,
    pending: Mutex<Vec<Entry>>,
    /// The nodes waiting for the next commit (a map's elements are polled only when woken).
    waiters: Mutex<Vec<std::task::Waker>>,
    next: AtomicU32,
    committed: AtomicU32,
    /// The seq of the node that returned last (its completion stamp, for compensation).
    last: AtomicU32,
    begun: AtomicBool,
    /// A run whose backend keeps it: its nodes' calls go to the thread's driver (see
    /// `backend`), and nothing is recorded here.
    driven: bool,
    /// A driven run's `max_concurrency`: the permits its node calls take while they run
    /// elsewhere.
    permits: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

impl<'a> Journal<'a> {
    /// The journal of a run given `store`.
    pub(crate) fn new(store: &'a dyn Store) -> Self {
        Journal {
            core: CoreRef::Own(Box::new(Core::new(store))),
            prefix: String::new(),
        }
    }

    /// The journal of run `id` of `graph`, which a backend keeps: each node call of its body
    /// goes to the driver the body is polled under.
    pub(crate) fn driven(
        id: &str,
        graph: &'static WorkflowGraph,
        max_concurrency: Option<usize>,
    ) -> Self {
        static DETACHED: crate::store::backend::Detached = crate::store::backend::Detached;
        let mut core = Core::new(&DETACHED);
        core.driven = true;
        core.permits = max_concurrency.map(|n| {
            std::sync::Arc::new(tokio::sync::Semaphore::new(
                n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
            ))
        });
        let _ = core.id.set(id.to_owned());
        let _ = core.graph.set(graph);
        let _ = core.replay.set(Replay::default());
        core.begun.store(true, Ordering::Release);
        Journal {
            core: CoreRef::Own(Box::new(core)),
            prefix: String::new(),
        }
    }

    /// Whether a backend keeps this journal's run.
    pub(crate) fn is_driven(&self) -> bool {
        self.core().driven
    }

    /// The journal of a sub-workflow that runs as node `node` (element `element`) of this
    /// journal's run: its nodes are recorded as `node/name` (`node[3]/name`).
    pub(crate) fn scope(&self, node: &'static NodeInfo, element: Option<usize>) -> Journal<'_> {
        let prefix = match element {
            Some(i) => format!("{}{}[{i}]/", self.prefix, node.name()),
            None => format!("{}{}/", self.prefix, node.name()),
        };
        Journal {
            core: CoreRef::Shared(self),
            prefix,
        }
    }

    /// The id of the run this journal records: `id/node` (`id/node[3]`) for a
    /// sub-workflow's run, so that its nodes' idempotency keys are its own, and stable.
    pub(crate) fn run_id(&self) -> crate::RunId {
        let root = self.id();
        match self.prefix.strip_suffix('/') {
            Some(place) => crate::RunId::new(format!("{root}/{place}")),
            None => crate::RunId::new(root),
        }
    }

    pub(crate) fn key<'n>(&self, name: &'n str) -> std::borrow::Cow<'n, str> {
        if self.prefix.is_empty() {
            std::borrow::Cow::Borrowed(name)
        } else {
            std::borrow::Cow::Owned(format!("{}{name}", self.prefix))
        }
    }

    fn push(
        &self,
        node: &str,
        element: Option<usize>,
        kind: EntryKind,
        payload: Option<String>,
        started: SystemTime,
    ) -> u32 {
        self.core()
            .push(&self.key(node), element, kind, payload, started)
    }

    fn lookup(
        &self,
        node: &str,
        element: Option<usize>,
    ) -> Option<&(EntryKind, u32, Option<String>)> {
        self.core().lookup(&self.key(node), element)
    }

    /// Records that `node` was skipped.
    pub(crate) fn skipped(&self, node: &'static NodeInfo) {
        self.core().skipped(&self.key(node.name()));
    }

    /// The failure of `node` (element `element`) that ended the run before, if one did.
    fn failure(&self, node: &str, element: Option<usize>) -> Option<Error> {
        let core = self.core();
        let recorded = core
            .replay
            .get()?
            .failed
            .get(&*self.key(node))?
            .get(&element)?;
        let recorded: RecordedError = serde_json::from_str(recorded).ok()?;
        Some(recorded.restore(core.graph()?))
    }

    /// A compensation of `node` recorded before: `Some(error)` with its failure, if it
    /// failed.
    pub(crate) fn compensated(&self, node: &'static NodeInfo) -> Option<Option<Error>> {
        self.core().compensated(&self.key(node.name()))
    }

    /// Records that `node`'s compensation ran (with its failure), committed at once.
    pub(crate) fn record_compensation(
        &self,
        node: &'static NodeInfo,
        failed: Option<&Error>,
        started: SystemTime,
    ) -> Result<(), Error> {
        self.core()
            .record_compensation(&self.key(node.name()), failed, started)
    }

    fn core(&self) -> &Core<'a> {
        match &self.core {
            CoreRef::Own(core) => core,
            CoreRef::Shared(journal) => journal.core(),
        }
    }
}

/// A durable run's journal (in its run's state): the run's own, or a sub-workflow's view
/// of its parent's, whose node names it prefixes.
pub struct Journal<'a> {
    core: CoreRef<'a>,
    prefix: String,
}

enum CoreRef<'a> {
    Own(Box<Core<'a>>),
    Shared(&'a Journal<'a>),
}

impl<'a> std::ops::Deref for Journal<'a> {
    type Target = Core<'a>;

    fn deref(&self) -> &Core<'a> {
        self.core()
    }
}

impl<'a> Core<'a> {
    fn new(store: &'a dyn Store) -> Self {
        Core {
            store,
            id: OnceLock::new(),
            graph: OnceLock::new(),
            replay: OnceLock::new(),
            claim: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            waiters: Mutex::new(Vec::new()),
            next: AtomicU32::new(1),
            committed: AtomicU32::new(0),
            last: AtomicU32::new(0),
            begun: AtomicBool::new(false),
            driven: false,
            permits: None,
        }
    }

    fn pending(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn id(&self) -> &str {
        self.id.get().map_or("", String::as_str)
    }

    fn graph(&self) -> Option<&'static WorkflowGraph> {
        self.graph.get().copied()
    }

    /// Whether entries wait to be committed.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending().is_empty()
    }

    /// Commits what waits, in one transaction: the nodes that completed since the last
    /// commit, together.
    pub(crate) fn flush(&self, workflow: &'static str) -> Result<(), Error> {
        let entries = std::mem::take(&mut *self.pending());
        if entries.is_empty() {
            return Ok(());
        }
        let top = entries.iter().map(|e| e.seq).max().unwrap_or(0);
        self.store
            .append(self.id(), &entries)
            .map_err(|e| Error::store(workflow, e))?;
        self.committed.fetch_max(top, Ordering::AcqRel);
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|p| p.into_inner()));
        for w in waiters {
            w.wake();
        }
        Ok(())
    }

    fn wait(&self, waker: &std::task::Waker) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // The elements of a map each have a waker of their own: only the last one is
        // compared (a future polled again before the commit), not every one of thousands.
        if !waiters.last().is_some_and(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    fn push(
        &self,
        node: &str,
        element: Option<usize>,
        kind: EntryKind,
        payload: Option<String>,
        started: SystemTime,
    ) -> u32 {
        let mut pending = self.pending();
        let seq = self.next.fetch_add(1, Ordering::AcqRel);
        pending.push(Entry {
            node: node.to_owned(),
            element,
            kind,
            seq,
            payload,
            started,
            ended: SystemTime::now(),
        });
        seq
    }

    fn committed(&self, seq: u32) -> bool {
        self.committed.load(Ordering::Acquire) >= seq
    }

    fn skipped(&self, node: &str) {
        if self.begun.load(Ordering::Acquire) {
            let now = SystemTime::now();
            self.push(node, None, EntryKind::Skipped, None, now);
        }
    }

    fn compensated(&self, node: &str) -> Option<Option<Error>> {
        let replay = self.replay.get()?;
        let recorded = replay.compensated.get(node)?;
        let graph = self.graph()?;
        Some(recorded.as_deref().and_then(|p| {
            let e: RecordedError = serde_json::from_str(p).ok()?;
            Some(e.restore(graph))
        }))
    }

    fn record_compensation(
        &self,
        node: &str,
        failed: Option<&Error>,
        started: SystemTime,
    ) -> Result<(), Error> {
        if !self.begun.load(Ordering::Acquire) {
            return Ok(());
        }
        let payload = failed.and_then(|e| serde_json::to_string(&RecordedError::of(e)).ok());
        self.push(node, None, EntryKind::Compensated, payload, started);
        self.flush(self.graph().map_or("", |g| g.name()))
    }

    fn lookup(
        &self,
        node: &str,
        element: Option<usize>,
    ) -> Option<&(EntryKind, u32, Option<String>)> {
        self.replay.get()?.done.get(node)?.get(&element)
    }
}

/// How a durable run begins: the body runs, or the run had already finished.
pub enum Begin<O> {
    /// Run the body (recorded nodes are read back as it reaches them).
    Run,
    /// The run had finished: its recorded output or error.
    Done(Result<O, Error>),
}

impl Journal<'_> {
    /// Takes the run, records its start or reads back what was recorded, and checks that
    /// the run can continue here (same workflow, same inputs, compatible graph).
    pub(crate) fn begin<O>(
        &self,
        id: &str,
        graph: &'static WorkflowGraph,
        inputs: &str,
        codec: &Codec<O>,
    ) -> Result<Begin<O>, Error> {
        let wf = graph.name();
        let _ = self.id.set(id.to_owned());
        let _ = self.graph.set(graph);
        let claim = self.store.claim(id).map_err(|e| Error::store(wf, e))?;
        let record = self.store.run(id).map_err(|e| Error::store(wf, e))?;
        let mut replay = Replay::default();
        match record {
            None => {
                let graph_json =
                    serde_json::to_string(&describe(graph)).unwrap_or_else(|_| "[]".into());
                self.store
                    .create(&NewRun {
                        id,
                        workflow: wf,
                        fingerprint: &fingerprint(graph),
                        graph: &graph_json,
                        inputs,
                        started: SystemTime::now(),
                    })
                    .map_err(|e| Error::store(wf, e))?;
            }
            Some(record) => {
                check_same_run(&record, graph, inputs)?;
                match record.status() {
                    RunStatus::Unfinished => {}
                    status => {
                        let value = record.end_json().unwrap_or("null");
                        return Ok(Begin::Done(finished(graph, id, status, value, codec)));
                    }
                }
                check_graph(&record, graph)?;
                let mut top = 0;
                for e in record.entries() {
                    top = top.max(e.seq);
                    match e.kind {
                        EntryKind::Completed | EntryKind::Tolerated => {
                            replay
                                .done
                                .entry(e.node.clone())
                                .or_default()
                                .entry(e.element)
                                .or_insert((e.kind, e.seq, e.payload.clone()));
                        }
                        EntryKind::Compensated => {
                            replay.compensated.insert(e.node.clone(), e.payload.clone());
                        }
                        EntryKind::Failed => {
                            if let Some(p) = &e.payload {
                                replay
                                    .failed
                                    .entry(e.node.clone())
                                    .or_default()
                                    .insert(e.element, p.clone());
                            }
                        }
                        EntryKind::Skipped => {}
                    }
                }
                self.next.store(top + 1, Ordering::Release);
                self.committed.store(top, Ordering::Release);
            }
        }
        let _ = self.replay.set(replay);
        *self.claim.lock().unwrap_or_else(|p| p.into_inner()) = Some(claim);
        self.begun.store(true, Ordering::Release);
        Ok(Begin::Run)
    }

    /// Records the run's end with what waits to be committed, and releases the run. A
    /// failure that a changed program or a store caused is not an end: the run stays
    /// unfinished, to be continued.
    pub(crate) fn end<T>(&self, result: &Result<T, Error>, codec: &Codec<T>) -> Result<(), Error> {
        if !self.begun.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let wf = self.graph().map_or("", |g| g.name());
        let entries = std::mem::take(&mut *self.pending());
        let end = match result {
            Err(e) if !ends_a_run(e.kind()) => None,
            Ok(value) => Some(RunEnd {
                status: RunStatus::Succeeded,
                value: codec.encode(value).map_err(|e| {
                    Error::undecodable(
                        wf,
                        None,
                        "the workflow's output",
                        std::any::type_name::<T>(),
                        e.to_string(),
                    )
                })?,
                finished: SystemTime::now(),
            }),
            Err(e) => Some(RunEnd {
                status: RunStatus::Failed,
                value: serde_json::to_string(&RecordedError::of(e)).unwrap_or_default(),
                finished: SystemTime::now(),
            }),
        };
        let written = match &end {
            Some(end) => self.store.finish(self.id(), &entries, end),
            None => self.store.append(self.id(), &entries),
        };
        *self.claim.lock().unwrap_or_else(|p| p.into_inner()) = None;
        written.map_err(|e| Error::store(wf, e))
    }
}

impl Journal<'_> {
    /// The inputs recorded for run `id`, for `resume`.
    pub(crate) fn recorded_inputs(
        &self,
        id: &str,
        graph: &'static WorkflowGraph,
    ) -> Result<Vec<serde_json::Value>, Error> {
        let wf = graph.name();
        let record = self.store.run(id).map_err(|e| Error::store(wf, e))?;
        let Some(record) = record else {
            return Err(Error::unknown_run(
                wf,
                format!(
                    "run `{id}` is not in the store: `resume` continues a recorded run; start one with `run`"
                ),
            ));
        };
        if record.workflow() != wf {
            return Err(Error::run_conflict(
                wf,
                format!(
                    "run `{id}` is a run of workflow `{}`, not of `{wf}`",
                    record.workflow()
                ),
            ));
        }
        serde_json::from_str(record.inputs_json()).map_err(|e| {
            Error::undecodable(
                wf,
                None,
                &format!("the inputs of run `{id}`"),
                "a JSON array",
                e.to_string(),
            )
        })
    }
}

/// Whether an error of `kind` is the run's end (recorded), or leaves it to be continued.
fn ends_a_run(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::Store
            | ErrorKind::RunInUse
            | ErrorKind::RunConflict
            | ErrorKind::UnknownRun
            | ErrorKind::GraphChanged
            | ErrorKind::Undecodable
            | ErrorKind::NotDurable
            | ErrorKind::InvalidOptions
    )
}

fn check_same_run(
    record: &RunRecord,
    graph: &'static WorkflowGraph,
    inputs: &str,
) -> Result<(), Error> {
    let wf = graph.name();
    if record.workflow() != wf {
        return Err(Error::run_conflict(
            wf,
            format!(
                "run `{}` is a run of workflow `{}`, not of `{wf}`",
                record.id(),
                record.workflow()
            ),
        ));
    }
    let recorded: Option<serde_json::Value> = serde_json::from_str(record.inputs_json()).ok();
    let given: Option<serde_json::Value> = serde_json::from_str(inputs).ok();
    if recorded.is_none() || recorded != given {
        return Err(Error::run_conflict(
            wf,
            format!(
                "run `{}` was started with other inputs: call it with the inputs it was started with, `resume` it, or use another run id",
                record.id()
            ),
        ));
    }
    Ok(())
}

fn check_graph(record: &RunRecord, graph: &'static WorkflowGraph) -> Result<(), Error> {
    let wf = graph.name();
    if record.fingerprint() == fingerprint(graph) {
        return Ok(());
    }
    let recorded: Vec<RecordedNode> = serde_json::from_str(record.graph_json()).unwrap_or_default();
    let now = describe(graph);
    for e in record.entries() {
        if !matches!(e.kind, EntryKind::Completed | EntryKind::Tolerated) {
            continue;
        }
        let was = recorded.iter().find(|n| n.node == e.node);
        let is = now.iter().find(|n| n.node == e.node);
        let problem = match (was, is) {
            (_, None) => Some(format!("node `{}` is no longer in the workflow", e.node)),
            (Some(was), Some(is)) if was.output != is.output => Some(format!(
                "node `{}` now returns `{}` where the run recorded `{}`",
                e.node,
                is.output.as_deref().unwrap_or("()"),
                was.output.as_deref().unwrap_or("()")
            )),
            (Some(was), Some(is)) if was.shape != is.shape => Some(format!(
                "node `{}` now runs as `{}` where the run recorded `{}`",
                e.node, is.shape, was.shape
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(Error::graph_changed(
                wf,
                graph.node_index(&e.node).map(|i| graph.nodes()[i]),
                format!(
                    "run `{}` cannot continue with this version of workflow `{wf}`: {problem}",
                    record.id()
                ),
            ));
        }
    }
    Ok(())
}

fn finished<O>(
    graph: &'static WorkflowGraph,
    id: &str,
    status: RunStatus,
    value: &str,
    codec: &Codec<O>,
) -> Result<O, Error> {
    let wf = graph.name();
    match status {
        RunStatus::Failed => match serde_json::from_str::<RecordedError>(value) {
            Ok(recorded) => Err(recorded.restore(graph)),
            Err(e) => Err(Error::undecodable(
                wf,
                None,
                &format!("the error of run `{id}`"),
                "flow_runtime::Error",
                e.to_string(),
            )),
        },
        _ => codec.decode(value).map_err(|e| {
            Error::undecodable(
                wf,
                None,
                &format!("the output of run `{id}`"),
                std::any::type_name::<O>(),
                e.to_string(),
            )
        }),
    }
}

/// How one type is written to and read from a journal: made once, where the type is known
/// to be serializable ([`codec`]), so that the futures using it need no serde bounds.
pub struct Codec<T> {
    encode: fn(&T) -> Result<String, serde_json::Error>,
    decode: fn(&str) -> Result<T, serde_json::Error>,
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

impl<T> Codec<T> {
    /// The JSON of `value`, as the journal records it (a worker encodes a node's output
    /// with it too).
    #[doc(hidden)]
    pub fn encode(&self, value: &T) -> Result<String, serde_json::Error> {
        (self.encode)(value)
    }

    /// The value `text` records.
    #[doc(hidden)]
    pub fn decode(&self, text: &str) -> Result<T, serde_json::Error> {
        (self.decode)(text)
    }
}

/// The codec of `T` (see [`Codec`]).
#[inline(always)]
pub fn codec<T: crate::__private::Durable>() -> Codec<T> {
    Codec {
        encode: |v| serde_json::to_string(v),
        decode: |s| serde_json::from_str(s),
    }
}

/// The codec of a branch's `Option<T>`: `None` is `null` and `Some(v)` is `[v]`, so that
/// `Some` of a value written as `null` (a unit struct, `()`) reads back as `Some`.
#[inline(always)]
pub fn codec_option<T: crate::__private::Durable>() -> Codec<Option<T>> {
    Codec {
        encode: |v| match v {
            None => Ok("null".to_owned()),
            Some(v) => serde_json::to_string(&(v,)),
        },
        decode: |s| match s.trim() {
            "null" => Ok(None),
            s => serde_json::from_str::<(T,)>(s).map(|(v,)| Some(v)),
        },
    }
}

/// One element of a tuple output, for [`codec_parts`]-style codecs: [`Plain`] or [`Opt`].
#[doc(hidden)]
pub trait Part {
    /// The element's type.
    type T;
    /// The element as JSON.
    fn to_json(value: &Self::T) -> Result<serde_json::Value, serde_json::Error>;
    /// The element from JSON.
    fn from_json(value: serde_json::Value) -> Result<Self::T, serde_json::Error>;
}

/// An element of a tuple output that is not an `Option`.
#[doc(hidden)]
pub struct Plain<X>(core::marker::PhantomData<X>);

/// An `Option` element of a tuple output: `None` is `null` and `Some(v)` is `[v]`, so that
/// `Some` of a value written as `null` (a unit struct, `()`) reads back as `Some`.
#[doc(hidden)]
pub struct Opt<X>(core::marker::PhantomData<X>);

impl<X: crate::__private::Durable> Part for Plain<X> {
    type T = X;
    fn to_json(value: &X) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(value)
    }
    fn from_json(value: serde_json::Value) -> Result<X, serde_json::Error> {
        serde_json::from_value(value)
    }
}

impl<X: crate::__private::Durable> Part for Opt<X> {
    type T = Option<X>;
    fn to_json(value: &Option<X>) -> Result<serde_json::Value, serde_json::Error> {
        match value {
            None => Ok(serde_json::Value::Null),
            Some(v) => serde_json::to_value((v,)),
        }
    }
    fn from_json(value: serde_json::Value) -> Result<Option<X>, serde_json::Error> {
        match value {
            serde_json::Value::Null => Ok(None),
            v => serde_json::from_value::<(X,)>(v).map(|(v,)| Some(v)),
        }
    }
}

fn parts_array(text: &str, n: usize) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    let values: Vec<serde_json::Value> = serde_json::from_str(text)?;
    if values.len() != n {
        return Err(<serde_json::Error as serde::de::Error>::invalid_length(
            values.len(),
            &format!("a tuple of {n}").as_str(),
        ));
    }
    Ok(values)
}

macro_rules! codec_tuples {
    ($($name:ident $option:ident ($($p:ident $k:tt),+);)*) => {$(
        /// The codec of a tuple output whose `Option` elements are written as
        /// [`codec_option`] writes a branch's output.
        #[doc(hidden)]
        #[inline(always)]
        pub fn $name<$($p: Part),+>() -> Codec<($($p::T,)+)> {
            Codec {
                encode: |v| serde_json::to_string(&[$($p::to_json(&v.$k)?),+]),
                decode: |s| {
                    let mut values = parts_array(s, [$($k),+].len())?.into_iter();
                    Ok(($($p::from_json(values.next().unwrap_or_default())?,)+))
                },
            }
        }

        /// [`codec_option`] of a tuple output with `Option` elements.
        #[doc(hidden)]
        #[inline(always)]
        pub fn $option<$($p: Part),+>() -> Codec<Option<($($p::T,)+)>> {
            Codec {
                encode: |v| match v {
                    None => Ok("null".to_owned()),
                    Some(v) => serde_json::to_string(&[$($p::to_json(&v.$k)?),+]),
                },
                decode: |s| match s.trim() {
                    "null" => Ok(None),
                    s => {
                        let mut values = parts_array(s, [$($k),+].len())?.into_iter();
                        Ok(Some(($($p::from_json(values.next().unwrap_or_default())?,)+)))
                    }
                },
            }
        }
    )*};
}

codec_tuples! {
    codec_parts1 codec_option_parts1 (A 0);
    codec_parts2 codec_option_parts2 (A 0, B 1);
    codec_parts3 codec_option_parts3 (A 0, B 1, C 2);
    codec_parts4 codec_option_parts4 (A 0, B 1, C 2, D 3);
    codec_parts5 codec_option_parts5 (A 0, B 1, C 2, D 3, E 4);
    codec_parts6 codec_option_parts6 (A 0, B 1, C 2, D 3, E 4, F 5);
    codec_parts7 codec_option_parts7 (A 0, B 1, C 2, D 3, E 4, F 5, G 6);
    codec_parts8 codec_option_parts8 (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
    codec_parts9 codec_option_parts9 (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
    codec_parts10 codec_option_parts10 (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
    codec_parts11 codec_option_parts11 (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
    codec_parts12 codec_option_parts12 (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
}

/// How a node's output is journaled: what to record, and how to read it back.
pub trait Mode<O> {
    /// The type recorded (the node's value).
    type Value;

    /// What the body gets: the output, or the error that ends the run.
    type Out;

    /// The entry to record for `out`, if any: kind and JSON.
    fn record(
        out: &O,
        codec: &Codec<Self::Value>,
    ) -> Result<Option<(EntryKind, String)>, serde_json::Error>;

    /// The output read back from an entry of `kind`.
    fn replay(
        kind: EntryKind,
        payload: &str,
        graph: &'static WorkflowGraph,
        codec: &Codec<Self::Value>,
    ) -> Result<O, serde_json::Error>;

    /// The output, to the body.
    fn ok(out: O) -> Self::Out;

    /// An error of the journal (or an output too large) for the node.
    fn fail(error: Error) -> Self::Out;

    /// The node's failure, as a backend reports it (a `continue_on_error` node's is data).
    fn failed(error: Error) -> Self::Out {
        Self::fail(error)
    }

    /// The error that ends the run, when `out` is one (a fallible node's `Err`).
    fn failure(_out: &O) -> Option<&Error> {
        None
    }
}

/// A node's output, recorded as it is (an infallible node; `Option` for a branch).
pub struct Value;
/// A fallible node's `Result<T, flow_runtime::Error>`: `Ok` recorded; an `Err` ends the run.
pub struct Fallible;
/// A `continue_on_error` node's `Result<T, NodeError>`: both recorded (the error as data).
pub struct Tolerated;
/// An element of a map that keeps every result (`continue_on_error`): like [`Tolerated`],
/// with the journal's own errors among the elements' results.
pub struct Element;

impl<T> Mode<T> for Value {
    type Value = T;
    type Out = Result<T, Error>;
    fn record(out: &T, codec: &Codec<T>) -> Result<Option<(EntryKind, String)>, serde_json::Error> {
        Ok(Some((EntryKind::Completed, codec.encode(out)?)))
    }
    fn replay(
        _: EntryKind,
        payload: &str,
        _: &'static WorkflowGraph,
        codec: &Codec<T>,
    ) -> Result<T, serde_json::Error> {
        codec.decode(payload)
    }
    fn ok(out: T) -> Result<T, Error> {
        Ok(out)
    }
    fn fail(error: Error) -> Result<T, Error> {
        Err(error)
    }
}

impl<T> Mode<Result<T, Error>> for Fallible {
    type Value = T;
    type Out = Result<T, Error>;
    fn failure(out: &Result<T, Error>) -> Option<&Error> {
        out.as_ref().err()
    }
    fn record(
        out: &Result<T, Error>,
        codec: &Codec<T>,
    ) -> Result<Option<(EntryKind, String)>, serde_json::Error> {
        match out {
            Ok(v) => Ok(Some((EntryKind::Completed, codec.encode(v)?))),
            Err(_) => Ok(None),
        }
    }
    fn replay(
        _: EntryKind,
        payload: &str,
        _: &'static WorkflowGraph,
        codec: &Codec<T>,
    ) -> Result<Result<T, Error>, serde_json::Error> {
        codec.decode(payload).map(Ok)
    }
    fn ok(out: Result<T, Error>) -> Result<T, Error> {
        out
    }
    fn fail(error: Error) -> Result<T, Error> {
        Err(error)
    }
}

fn record_result<T>(
    out: &Result<T, Error>,
    codec: &Codec<T>,
) -> Result<Option<(EntryKind, String)>, serde_json::Error> {
    match out {
        Ok(v) => Ok(Some((EntryKind::Completed, codec.encode(v)?))),
        Err(e) => Ok(Some((
            EntryKind::Tolerated,
            serde_json::to_string(&RecordedError::of(e))?,
        ))),
    }
}

fn replay_result<T>(
    kind: EntryKind,
    payload: &str,
    graph: &'static WorkflowGraph,
    codec: &Codec<T>,
) -> Result<Result<T, Error>, serde_json::Error> {
    match kind {
        EntryKind::Tolerated => {
            let recorded: RecordedError = serde_json::from_str(payload)?;
            Ok(Err(recorded.restore(graph)))
        }
        _ => codec.decode(payload).map(Ok),
    }
}

impl<T> Mode<Result<T, Error>> for Tolerated {
    type Value = T;
    type Out = Result<Result<T, Error>, Error>;
    fn record(
        out: &Result<T, Error>,
        codec: &Codec<T>,
    ) -> Result<Option<(EntryKind, String)>, serde_json::Error> {
        record_result(out, codec)
    }
    fn replay(
        kind: EntryKind,
        payload: &str,
        graph: &'static WorkflowGraph,
        codec: &Codec<T>,
    ) -> Result<Result<T, Error>, serde_json::Error> {
        replay_result(kind, payload, graph, codec)
    }
    fn ok(out: Result<T, Error>) -> Self::Out {
        Ok(out)
    }
    fn fail(error: Error) -> Self::Out {
        Err(error)
    }
    fn failed(error: Error) -> Self::Out {
        Ok(Err(error))
    }
}

impl<T> Mode<Result<T, Error>> for Element {
    type Value = T;
    type Out = Result<T, Error>;
    fn record(
        out: &Result<T, Error>,
        codec: &Codec<T>,
    ) -> Result<Option<(EntryKind, String)>, serde_json::Error> {
        record_result(out, codec)
    }
    fn replay(
        kind: EntryKind,
        payload: &str,
        graph: &'static WorkflowGraph,
        codec: &Codec<T>,
    ) -> Result<Result<T, Error>, serde_json::Error> {
        replay_result(kind, payload, graph, codec)
    }
    fn ok(out: Result<T, Error>) -> Self::Out {
        out
    }
    fn fail(error: Error) -> Self::Out {
        Err(error)
    }
}

pin_project_lite::pin_project! {
    /// A node's future in a durable workflow: read back from the journal when its run
    /// recorded it, else run, recorded, and returned once the record is committed.
    pub struct Journaled<'r, 'a, M: Mode<F::Output>, A, F: Future> {
        #[pin]
        future: F,
        // The node's inputs encoded, for a driven run (see `backend`).
        args: Option<A>,
        ticket: Option<crate::store::backend::Ticket>,
        // A driven call's permit of its run's `max_concurrency`: acquired, then held.
        permit: Option<DrivenPermit>,
        codec: Codec<M::Value>,
        journal: Option<&'r Journal<'a>>,
        node: &'static NodeInfo,
        workflow: &'static str,
        element: Option<usize>,
        started: Option<SystemTime>,
        waiting: Option<(u32, F::Output)>,
        race: Option<(&'r RaceClaim, &'static [&'static NodeInfo])>,
        lost: bool,
        mode: std::marker::PhantomData<fn() -> M>,
    }

    impl<'r, 'a, M: Mode<F::Output>, A, F: Future> PinnedDrop for Journaled<'r, 'a, M, A, F> {
        fn drop(this: Pin<&mut Self>) {
            // A driven call that nobody waits for any more (a race lost, a run failed).
            if let Some(ticket) = this.project().ticket.take() {
                crate::store::backend::cancel(ticket);
            }
        }
    }
}

/// A race of a durable workflow: which member's success is recorded. The first member to
/// succeed takes it (in list order among those succeeding in one poll), so the journal
/// holds one winner; on a resumed run the recorded winner wins again, and no other member
/// starts.
#[derive(Default)]
pub struct RaceClaim(AtomicBool);

impl RaceClaim {
    /// A race no member has won.
    pub const fn new() -> Self {
        RaceClaim(AtomicBool::new(false))
    }

    fn take(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }
}

/// Journals `future`, node `node`'s (element `element`'s) output, in `journal`'s run.
#[inline]
pub(crate) fn journaled<'r, 'a, M: Mode<F::Output>, A, F: Future>(
    journal: Option<&'r Journal<'a>>,
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    codec: Codec<M::Value>,
    args: A,
    future: F,
) -> Journaled<'r, 'a, M, A, F> {
    Journaled {
        future,
        args: Some(args),
        ticket: None,
        permit: None,
        codec,
        journal: journal.filter(|j| j.begun.load(Ordering::Acquire)),
        node,
        workflow,
        element,
        started: None,
        waiting: None,
        race: None,
        lost: false,
        mode: std::marker::PhantomData,
    }
}

impl<'r, M: Mode<F::Output>, A, F: Future> Journaled<'r, '_, M, A, F> {
    /// Makes this the future of a member of the race `claim` decides among `members`.
    #[inline]
    pub fn member(mut self, claim: &'r RaceClaim, members: &'static [&'static NodeInfo]) -> Self {
        self.race = Some((claim, members));
        self
    }
}

impl<M, A, F> Future for Journaled<'_, '_, M, A, F>
where
    M: Mode<F::Output>,
    A: FnOnce() -> Vec<Result<String, serde_json::Error>>,
    F: Future,
{
    type Output = M::Out;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<M::Out> {
        let this = self.project();
        let Some(journal) = *this.journal else {
            return match this.future.poll(cx) {
                Poll::Ready(out) => Poll::Ready(M::ok(out)),
                Poll::Pending => Poll::Pending,
            };
        };
        if journal.driven {
            return poll_driven::<M, A, F>(
                journal,
                this.args,
                this.ticket,
                this.permit,
                this.codec,
                this.node,
                this.workflow,
                *this.element,
                *this.race,
                this.lost,
                cx,
            );
        }
        if let Some((seq, _)) = this.waiting {
            if !journal.committed(*seq) {
                // The run's guard commits at the end of this poll and wakes the waiters.
                journal.wait(cx.waker());
                return Poll::Pending;
            }
            let (seq, out) = this.waiting.take().expect("checked above");
            journal.last.store(seq, Ordering::Release);
            return Poll::Ready(M::ok(out));
        }
        let node = *this.node;
        if *this.lost {
            // Another member of the race won: this one waits to be dropped with the race.
            return Poll::Pending;
        }
        if this.started.is_none() {
            let graph = journal.graph().expect("a begun journal has its graph");
            let recorded = journal.lookup(node.name(), *this.element);
            match *this.race {
                Some((claim, _)) if recorded.is_some() => {
                    claim.take();
                }
                Some((_, members)) => {
                    if members.iter().any(|m| {
                        m.name() != node.name() && journal.lookup(m.name(), *this.element).is_some()
                    }) {
                        // The recorded winner returns in this same poll and ends the race.
                        *this.lost = true;
                        return Poll::Pending;
                    }
                }
                None => {
                    if let Some(error) = journal.failure(node.name(), *this.element) {
                        // The failure that ended the run before: the run ends the same
                        // way, and its compensations that had not run, run.
                        return Poll::Ready(M::fail(error));
                    }
                }
            }
            if let Some((kind, seq, payload)) = recorded {
                let payload = payload.as_deref().unwrap_or("null");
                let out = match M::replay(*kind, payload, graph, this.codec) {
                    Ok(out) => out,
                    Err(e) => {
                        return Poll::Ready(M::fail(Error::undecodable(
                            this.workflow,
                            Some(node),
                            &match this.element {
                                Some(i) => format!(
                                    "the recorded output of node `{}` (element {i})",
                                    node.name()
                                ),
                                None => format!("the recorded output of node `{}`", node.name()),
                            },
                            node.output().unwrap_or("()"),
                            e.to_string(),
                        )));
                    }
                };
                journal.last.store(*seq, Ordering::Release);
                return Poll::Ready(M::ok(out));
            }
            *this.started = Some(SystemTime::now());
        }
        let out = match this.future.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        let started = this.started.unwrap_or_else(SystemTime::now);
        if this.race.is_none()
            && let Some(error) = M::failure(&out)
            && ends_a_run(error.kind())
        {
            // Recorded, and committed before any compensation runs: a resumed run ends
            // with this failure instead of running the node again.
            if let Ok(payload) = serde_json::to_string(&RecordedError::of(error)) {
                journal.push(
                    node.name(),
                    *this.element,
                    EntryKind::Failed,
                    Some(payload),
                    started,
                );
            }
            return Poll::Ready(M::ok(out));
        }
        match M::record(&out, this.codec) {
            Ok(None) => Poll::Ready(M::ok(out)),
            Ok(Some(_)) if this.race.is_some_and(|(claim, _)| !claim.take()) => {
                // Another member succeeded first: it is the one recorded, and wins.
                *this.lost = true;
                Poll::Pending
            }
            Ok(Some((kind, payload))) => {
                let limit = journal.store.max_output();
                if payload.len() > limit {
                    return Poll::Ready(M::fail(Error::output_too_large(
                        this.workflow,
                        node,
                        *this.element,
                        payload.len(),
                        limit,
                    )));
                }
                let seq = journal.push(node.name(), *this.element, kind, Some(payload), started);
                *this.waiting = Some((seq, out));
                // Committed by the run's guard when this poll ends.
                journal.wait(cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(M::fail(Error::undecodable(
                this.workflow,
                Some(node),
                &format!("the output of node `{}`", node.name()),
                node.output().unwrap_or("()"),
                e.to_string(),
            ))),
        }
    }
}

/// A node call of a driven run (see `backend`): asked of the driver, and read back from
/// its answer as from a journal's entry.
#[allow(clippy::too_many_arguments)]
fn poll_driven<M, A, F>(
    journal: &Journal<'_>,
    args: &mut Option<A>,
    ticket: &mut Option<crate::store::backend::Ticket>,
    permit: &mut Option<DrivenPermit>,
    codec: &Codec<M::Value>,
    node: &'static NodeInfo,
    workflow: &'static str,
    element: Option<usize>,
    race: Option<(&RaceClaim, &'static [&'static NodeInfo])>,
    lost: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<M::Out>
where
    M: Mode<F::Output>,
    A: FnOnce() -> Vec<Result<String, serde_json::Error>>,
    F: Future,
{
    use crate::store::backend::{self, Call, CallKind};
    if *lost {
        return Poll::Pending;
    }
    let Some(driver) = backend::current() else {
        return Poll::Ready(M::fail(Error::store(
            workflow,
            crate::store::StoreError::new(
                crate::store::StoreErrorKind::Database,
                "a run kept by a backend was polled outside its driver",
                None,
            ),
        )));
    };
    let t = match *ticket {
        Some(t) => t,
        None => {
            // A node call is one against the run's `max_concurrency` (a sub-workflow's own
            // nodes take theirs).
            if let Some(semaphore) = &journal.permits
                && !node.traits().is_workflow()
            {
                let acquiring = permit.get_or_insert_with(|| {
                    DrivenPermit::Acquiring(Box::pin(semaphore.clone().acquire_owned()))
                });
                if let DrivenPermit::Acquiring(future) = acquiring {
                    match future.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(p)) => *acquiring = DrivenPermit::Held(p),
                        Poll::Ready(Err(_)) => {
                            unreachable!("flow: a run's semaphore is never closed")
                        }
                    }
                }
            }
            let Some(args) = args.take() else {
                return Poll::Pending;
            };
            let mut encoded = Vec::new();
            for (k, arg) in args().into_iter().enumerate() {
                match arg {
                    Ok(json) => encoded.push(json),
                    Err(e) => {
                        return Poll::Ready(M::fail(Error::undecodable(
                            workflow,
                            Some(node),
                            &format!("input {k} of node `{}`", node.name()),
                            node.inputs().get(k).map_or("?", |p| p.ty()),
                            e.to_string(),
                        )));
                    }
                }
            }
            let t = driver.request(Call {
                workflow,
                node,
                key: journal.key(node.name()).into_owned(),
                element,
                kind: CallKind::Run(encoded),
            });
            *ticket = Some(t);
            t
        }
    };
    let answer = match driver.poll(t, cx) {
        Poll::Pending => return Poll::Pending,
        Poll::Ready(answer) => answer,
    };
    *ticket = None;
    *permit = None;
    match answer {
        Ok((kind, payload)) => {
            if let Some((claim, _)) = race
                && !claim.take()
            {
                // Another member succeeded first, and wins.
                *lost = true;
                return Poll::Pending;
            }
            let graph = journal.graph().expect("a driven journal has its graph");
            match M::replay(kind, &payload, graph, codec) {
                Ok(out) => {
                    // Its completion stamp, for compensation in reverse completion order.
                    let seq = driver
                        .last_stamp()
                        .unwrap_or_else(|| journal.next.fetch_add(1, Ordering::AcqRel));
                    journal.last.store(seq, Ordering::Release);
                    Poll::Ready(M::ok(out))
                }
                Err(e) => Poll::Ready(M::fail(Error::undecodable(
                    workflow,
                    Some(node),
                    &format!("the output of node `{}`", node.name()),
                    node.output().unwrap_or("()"),
                    e.to_string(),
                ))),
            }
        }
        Err(error) => Poll::Ready(M::failed(error)),
    }
}

/// A driven call's permit of its run's `max_concurrency`.
pub(crate) enum DrivenPermit {
    Acquiring(
        Pin<
            Box<
                dyn Future<
                        Output = Result<
                            tokio::sync::OwnedSemaphorePermit,
                            tokio::sync::AcquireError,
                        >,
                    > + Send,
            >,
        >,
    ),
    Held(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit),
}

/// The completion stamp of the node that returned last, in a journaled run.
pub(crate) fn last_stamp(journal: &Journal<'_>) -> u32 {
    journal.last.load(Ordering::Acquire)
}

/// A run id that no other run of any process is likely to have: the time, the process
/// and a counter.
pub(crate) fn unique_id() -> crate::RunId {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let micros = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    crate::RunId::new(format!(
        "run-{micros:x}-{:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}
