//! What a backend that runs a durable workflow's nodes elsewhere (on Temporal, say) plugs
//! into. The workflow's body is the same one that runs in process: run under a [`Driver`],
//! each node call of a durable workflow becomes a request (the node, its map element and
//! its encoded inputs) instead of a call, and the driver answers it with what a journal
//! would have recorded for it (the entry's kind and JSON), or with the node's failure. On
//! the other side, [`DurableWorkflow::invoke`] runs one node as the body would have (its
//! policies, its `continue_on_error`, its context) and returns that entry.
//!
//! This module is for backend crates (`flow-temporal`); applications do not use it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::store::{Claim, Entry, EntryKind, NewRun, RunEnd, RunRecord, Store, StoreError};
use crate::{Error, NodeInfo, RunOptions, WorkflowGraph};

/// A node call waiting for its driver.
pub type Ticket = u64;

/// What a node's call (or a compensation) returns from elsewhere: the entry a journal would
/// have recorded (its kind and JSON payload), or the failure that ends the run.
pub type Answer = Result<(EntryKind, String), Error>;

/// A node call that a durable workflow's body makes under a [`Driver`].
#[derive(Debug)]
pub struct Call {
    /// The workflow whose node this is (a sub-workflow's own name for its nodes).
    pub workflow: &'static str,
    /// The node.
    pub node: &'static NodeInfo,
    /// The node's key in the run: its name, after its sub-workflows' places
    /// (`region[3]/sales`).
    pub key: String,
    /// The map element, for a mapped node.
    pub element: Option<usize>,
    /// What is asked.
    pub kind: CallKind,
}

/// What a [`Call`] asks for.
#[derive(Debug)]
pub enum CallKind {
    /// Run the node on its inputs, each encoded as JSON in parameter order (the run
    /// context is not among them).
    Run(Vec<String>),
    /// Run the node's compensation on its output, encoded as JSON.
    Compensate(String),
}

/// Runs the node calls of a durable workflow's body elsewhere. The body is polled inside
/// [`drive`]; each node call asks for a ticket, then polls it until it is answered.
pub trait Driver {
    /// Takes `call`: the ticket to poll for its answer.
    fn request(&self, call: Call) -> Ticket;

    /// The answer to `ticket` once there is one; until then `cx`'s waker is woken when
    /// there is.
    fn poll(&self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<Answer>;

    /// The caller of `ticket` no longer waits for it (a race lost, a run failed): stop
    /// what runs for it.
    fn cancel(&self, ticket: Ticket);

    /// The completion stamp of the answer [`poll`](Driver::poll) returned last, when the
    /// driver keeps stamps (a run continued elsewhere keeps its nodes' completion order for
    /// compensation); `None` lets the run number its answers in the order it reads them.
    fn last_stamp(&self) -> Option<u32> {
        None
    }
}

thread_local! {
    static DRIVER: RefCell<Option<Rc<dyn Driver>>> = const { RefCell::new(None) };
}

/// Runs `f` (a poll of a body) with `driver` answering its node calls.
pub fn drive<R>(driver: &Rc<dyn Driver>, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<Rc<dyn Driver>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            DRIVER.with(|d| *d.borrow_mut() = previous);
        }
    }
    let previous = DRIVER.with(|d| d.borrow_mut().replace(driver.clone()));
    let _reset = Reset(previous);
    f()
}

/// The driver of the body being polled on this thread.
pub(crate) fn current() -> Option<Rc<dyn Driver>> {
    DRIVER.with(|d| d.borrow().clone())
}

/// Cancels `ticket` with the current driver, if there is one (a body dropped outside a
/// poll has its driver drop everything anyway).
pub(crate) fn cancel(ticket: Ticket) {
    if let Some(driver) = current() {
        driver.cancel(ticket);
    }
}

/// The store of a driven run's journal: it holds nothing, as the backend keeps the run.
pub(crate) struct Detached;

impl Store for Detached {
    fn claim(&self, _: &str) -> Result<Claim, StoreError> {
        Ok(Claim::new(()))
    }
    fn run(&self, _: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(None)
    }
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        Ok(Vec::new())
    }
    fn create(&self, _: &NewRun<'_>) -> Result<(), StoreError> {
        Ok(())
    }
    fn append(&self, _: &str, _: &[Entry]) -> Result<(), StoreError> {
        Ok(())
    }
    fn finish(&self, _: &str, _: &[Entry], _: &RunEnd) -> Result<(), StoreError> {
        Ok(())
    }
    fn max_output(&self) -> usize {
        usize::MAX
    }
}

/// One node call, as a backend's worker receives it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The run's id (the backend's id of the workflow's run).
    pub run_id: String,
    /// The map element, for a mapped node.
    pub element: Option<usize>,
    /// What is asked: the inputs, or the output to compensate.
    pub kind: InvocationKind,
    /// Cancelled when the run no longer waits for this call.
    pub token: crate::CancellationToken,
    /// The node's attempts: where its retries start, and which one runs (`None`: from 1).
    pub attempts: Option<std::sync::Arc<Attempts>>,
    /// The worker's named limiters, for nodes that name one.
    pub limiters: Option<std::sync::Arc<crate::Limiters>>,
}

/// The attempts of a node a worker runs: the attempt to start with (above 1 when the
/// worker that ran the node was lost), and the one that runs now, which the worker reports
/// (in its heartbeats) so that the next worker goes on from it.
#[derive(Debug)]
pub struct Attempts {
    first: u32,
    current: std::sync::atomic::AtomicU32,
    changed: tokio::sync::Notify,
}

impl Attempts {
    /// Attempts starting with attempt `first` (1-based).
    pub fn new(first: u32) -> std::sync::Arc<Self> {
        let first = first.max(1);
        std::sync::Arc::new(Attempts {
            first,
            current: std::sync::atomic::AtomicU32::new(first),
            changed: tokio::sync::Notify::new(),
        })
    }

    /// The attempt to start with.
    pub fn first(&self) -> u32 {
        self.first
    }

    /// The attempt that runs now (or runs next, during a retry's backoff).
    pub fn current(&self) -> u32 {
        self.current.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resolves when the attempt that runs has changed since the last time it resolved.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    pub(crate) fn set(&self, attempt: u32) {
        let before = self
            .current
            .swap(attempt, std::sync::atomic::Ordering::Relaxed);
        if before != attempt {
            self.changed.notify_one();
        }
    }
}

/// What an [`Invocation`] asks for.
#[derive(Debug, Clone)]
pub enum InvocationKind {
    /// Run the node on its inputs (JSON, in parameter order).
    Run(Vec<String>),
    /// Run the node's compensation on its output (JSON).
    Compensate(String),
}

/// A future a worker runs for an [`Invocation`].
pub type Invoked = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// A future that runs a driven body.
pub type Driven = Pin<Box<dyn Future<Output = Result<String, Error>> + 'static>>;

/// A future that runs a workflow in process on JSON inputs: its output as JSON.
pub type Stored<'o> = Pin<Box<dyn Future<Output = Result<String, Error>> + 'o>>;

/// A `durable` workflow as a backend sees it: written by `#[workflow(..., durable)]` for the
/// workflow's type (`register::<order>()`).
pub trait DurableWorkflow: 'static {
    /// The workflow's inputs, as a tuple in declaration order.
    type Inputs;
    /// The workflow's output.
    type Output;

    /// The workflow's name.
    const NAME: &'static str;

    /// The workflow's own `timeout`, if it has one.
    const TIMEOUT: Option<std::time::Duration>;

    /// The workflow's graph.
    fn graph() -> &'static WorkflowGraph;

    /// The inputs, each encoded as JSON.
    fn encode_inputs(inputs: &Self::Inputs) -> Result<Vec<String>, Error>;

    /// The output, from its JSON.
    fn decode_output(json: &str) -> Result<Self::Output, Error>;

    /// Runs the body on `inputs` (JSON, in declaration order) with `options` (a run id, a
    /// token): polled inside [`drive`], each node call is a [`Call`] to the driver. The
    /// output comes back as JSON.
    fn run_driven(inputs: Vec<String>, options: RunOptions<'static>) -> Driven;

    /// Runs the workflow in this process on `inputs` (JSON, in declaration order) with
    /// `options` (a store, a run id, ...), as `run` would: its output as JSON.
    fn run_json<'o>(inputs: Vec<String>, options: RunOptions<'o>) -> Stored<'o>;

    /// Continues a run of the workflow from the store `options` name, as `resume` would:
    /// its output as JSON.
    fn resume_json<'o>(options: RunOptions<'o>) -> Stored<'o>;

    /// Runs node `node` (its name in this workflow's list) for `invocation`, as the body
    /// would have run it: `None` when the workflow has no such node.
    fn invoke(node: &str, invocation: Invocation) -> Option<Invoked>;

    /// Shows `visitor` every node of the workflow, and its sub-workflows.
    fn visit<V: Visitor>(visitor: &mut V);
}

/// What [`DurableWorkflow::visit`] shows.
pub trait Visitor {
    /// A node `N` of `workflow`, and how a worker runs it.
    fn node<N: Node + 'static>(&mut self, workflow: &'static str, invoke: InvokeFn);
    /// A sub-workflow listed as a node (a visitor that wants its nodes visits it).
    fn workflow<W: DurableWorkflow>(&mut self);
}

/// How a worker runs one node of a workflow (see [`DurableWorkflow::invoke`]).
pub type InvokeFn = fn(&str, Invocation) -> Option<Invoked>;

/// What a worker's call of a node gives back.
#[derive(Debug)]
pub enum Outcome {
    /// The entry a journal would have recorded: its kind and JSON.
    Entry(EntryKind, String),
    /// The failure that ends the run.
    Failed(Failure),
}

/// A node's failure, as it travels from a worker to its run.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The error's text with its causes (`timed out on attempt 2: ...`).
    pub message: String,
    /// The error's kind, as `ErrorKind`'s `Debug` names it (`NodeFailed`).
    pub kind: String,
    /// The whole error, to restore it on the run's side ([`restore`]).
    pub details: String,
}

impl Failure {
    /// The failure that `error` is.
    pub fn of(error: &Error) -> Self {
        let recorded = crate::journal::RecordedError::of(error);
        Failure {
            message: recorded.text(),
            kind: format!("{:?}", error.kind()),
            details: serde_json::to_string(&recorded).unwrap_or_default(),
        }
    }
}

/// The error a [`Failure`]'s `details` hold, its nodes found in `graph` (or its
/// sub-workflows); `None` when they are not a failure's.
pub fn restore(graph: &'static WorkflowGraph, details: &str) -> Option<Error> {
    let recorded: crate::journal::RecordedError = serde_json::from_str(details).ok()?;
    Some(recorded.restore(graph))
}

pin_project_lite::pin_project! {
    /// A future whose panics are caught.
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(payload) => Poll::Ready(Err(crate::exec::panic_message(payload))),
        }
    }
}

/// Runs `future`, a node's call as the body makes it, to the entry a journal would record
/// for it: its output (written by `encode`), its error as data when the node's failures
/// are `tolerated`, or its failure.
#[doc(hidden)]
pub async fn capture<F, T, E>(
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    tolerated: bool,
    future: F,
    encode: E,
) -> Outcome
where
    F: Future<Output = Result<T, Error>> + Send,
    E: Fn(&T) -> Result<String, serde_json::Error> + Send,
{
    let out = match (CatchUnwind { future }).await {
        Ok(out) => out,
        Err(message) => {
            let mut error = Error::panicked(workflow, Some(node), message, 1);
            if let Some(i) = element {
                error = error.at_element(i);
            }
            return Outcome::Failed(Failure::of(&error));
        }
    };
    match out {
        Ok(value) => match encode(&value) {
            Ok(json) => Outcome::Entry(EntryKind::Completed, json),
            Err(e) => Outcome::Failed(Failure::of(&Error::undecodable(
                workflow,
                Some(node),
                &format!("the output of node `{}`", node.name()),
                node.output().unwrap_or("()"),
                e.to_string(),
            ))),
        },
        Err(error) if tolerated => Outcome::Entry(
            EntryKind::Tolerated,
            serde_json::to_string(&crate::journal::RecordedError::of(&error)).unwrap_or_default(),
        ),
        Err(error) => Outcome::Failed(Failure::of(&error)),
    }
}

/// What a backend reads of a run's options.
#[derive(Debug, Default)]
pub struct OptionParts {
    /// The run's id, if one was given.
    pub run_id: Option<String>,
    /// The caller's cancellation token, if one was given.
    pub token: Option<crate::CancellationToken>,
    /// The run's timeout, if one was given (the earlier of a timeout and a deadline).
    pub timeout: Option<std::time::Duration>,
    /// The run-wide concurrency limit, if one was given.
    pub max_concurrency: Option<std::num::NonZeroUsize>,
}

/// What a backend reads of `options`.
pub fn option_parts(options: &RunOptions<'_>) -> OptionParts {
    let now = tokio::time::Instant::now();
    let until_deadline = options.deadline.map(|d| d.saturating_duration_since(now));
    OptionParts {
        run_id: options.run_id.as_ref().map(|id| id.to_string()),
        token: options.token.clone(),
        timeout: match (options.timeout, until_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        max_concurrency: options.max_concurrency,
    }
}

/// The error of a run of `workflow` that its backend failed (`ErrorKind::Backend`).
pub fn backend_error(workflow: &'static str, source: crate::BoxError) -> Error {
    Error::backend(workflow, source)
}

/// The error of a run of `workflow` that was cancelled (`ErrorKind::Cancelled`).
pub fn cancelled_error(workflow: &'static str) -> Error {
    Error::cancelled(workflow)
}

/// The error of a run of `workflow` that missed its deadline, `after` its start
/// (`ErrorKind::TimedOut`).
pub fn timed_out_error(workflow: &'static str, after: std::time::Duration) -> Error {
    Error::timed_out(workflow, after)
}

/// The error of node `node` of `workflow` that failed on its worker with `source`, which
/// the backend reports without flow's record of it (an attempt lost with its worker more
/// times than allowed, say).
pub fn node_error(
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    source: crate::BoxError,
) -> Error {
    let error = Error::new(
        crate::ErrorKind::NodeFailed,
        workflow,
        Some(node),
        1,
        Some(source),
    );
    match element {
        Some(i) => error.at_element(i),
        None => error,
    }
}

/// The error a store of a driven run's data gives for `message` (a value the backend holds
/// that is not flow's).
pub fn undecodable_error(workflow: &'static str, what: &str, message: String) -> Error {
    Error::undecodable(workflow, None, what, "flow's encoding", message)
}

/// A node of a workflow a backend registers (the type `#[node]` writes for it).
pub use crate::exec::Listed as Node;

/// The error of node `node` of `workflow` whose output, `size` bytes, is over a backend's
/// `limit` (`ErrorKind::OutputTooLarge`).
pub fn output_too_large_error(
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    size: usize,
    limit: usize,
) -> Error {
    Error::output_too_large(workflow, node, element, size, limit)
}

/// The error of node `node` of `workflow` whose inputs (`size` bytes) are larger than the
/// backend sends (`limit`): `ErrorKind::InputTooLarge`.
pub fn input_too_large_error(
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    size: usize,
    limit: usize,
) -> Error {
    Error::input_too_large(workflow, node, element, size, limit)
}

/// A run id no other run is likely to have (the time, the process, a counter).
pub fn unique_run_id() -> String {
    crate::journal::unique_id().to_string()
}

/// Asks the driver to run `node`'s compensation on its output `json`: its failure, if it
/// failed (`ErrorKind::CompensationFailed`).
pub(crate) async fn compensate(
    journal: &crate::journal::Journal<'_>,
    workflow: &'static str,
    node: &'static NodeInfo,
    json: String,
) -> Result<(), Error> {
    // The driver is the thread's, while the body is polled: not held across an await (the
    // run's future stays `Send`).
    let call = Call {
        workflow,
        node,
        key: journal.key(node.name()).into_owned(),
        element: None,
        kind: CallKind::Compensate(json),
    };
    let Some(ticket) = current().map(|driver| driver.request(call)) else {
        return Err(Error::store(
            workflow,
            StoreError::new(
                crate::store::StoreErrorKind::Database,
                "a run kept by a backend was polled outside its driver",
                None,
            ),
        ));
    };
    let answer = std::future::poll_fn(|cx| match current() {
        Some(driver) => driver.poll(ticket, cx),
        None => Poll::Pending,
    })
    .await;
    answer.map(|_| ())
}

/// Runs `compensation` (a node's, on its output) on a worker: `Compensated`, or its
/// failure.
#[doc(hidden)]
pub async fn compensation_outcome<E: crate::__private::IntoNodeError>(
    workflow: &'static str,
    node: &'static NodeInfo,
    compensation: impl Future<Output = Result<(), E>>,
) -> Outcome {
    let source: crate::BoxError = match (CatchUnwind {
        future: compensation,
    })
    .await
    {
        Ok(Ok(())) => return Outcome::Entry(EntryKind::Compensated, "null".to_owned()),
        Ok(Err(e)) => e.into_node_error(),
        Err(message) => message.into(),
    };
    Outcome::Failed(Failure::of(&Error::compensation_failed(
        workflow, node, source,
    )))
}
