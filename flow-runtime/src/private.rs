//! Items the generated code names as `::flow_runtime::__private::...`. Not a public API:
//! anything here may change in any release.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::OnceLock;

pub use crate::registry::{NodeRegistration, WorkflowRegistration};
pub use core;
pub use inventory;

use crate::{BoxError, Error, NodeInfo, WorkflowGraph};

/// The error types a node may return: anything that converts into [`BoxError`], which
/// covers every `E: std::error::Error + Send + Sync + 'static`, and also `String`,
/// `&'static str` and error types such as `anyhow::Error`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of a node",
    label = "this node's error type does not convert into `Box<dyn std::error::Error + Send + Sync>`",
    note = "a node returning `Result<T, E>` needs `E: std::error::Error + Send + Sync + 'static` (or another type that converts into `Box<dyn Error + Send + Sync>`, such as `String` or `anyhow::Error`)"
)]
pub trait IntoNodeError {
    /// Boxes the error.
    fn into_node_error(self) -> BoxError;
}

impl<E: Into<BoxError>> IntoNodeError for E {
    #[inline]
    fn into_node_error(self) -> BoxError {
        self.into()
    }
}

/// Implemented by the `Result` types a fallible node may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Result` whose error a node can report",
    label = "a node whose return type is named `Result` must return `std::result::Result<T, E>` with `E: std::error::Error + Send + Sync + 'static`",
    note = "a node returning `Result<T, E>` needs `E: std::error::Error + Send + Sync + 'static` (or another type that converts into `Box<dyn Error + Send + Sync>`, such as `String` or `anyhow::Error`)"
)]
pub trait Fallible {
    /// The node's error type.
    type Error;
}

impl<T, E: IntoNodeError> Fallible for Result<T, E> {
    type Error = E;
}

/// Compile-time check that a node's return type is a `Result` it can report.
pub const fn assert_fallible<R: Fallible>() {}

pin_project_lite::pin_project! {
    /// One future of a generated join, and then its output.
    #[project = MaybeProj]
    #[project_replace = MaybeOwn]
    pub enum Maybe<F: Future> {
        Running { #[pin] future: F },
        Done { value: F::Output },
        Taken,
    }
}

impl<F: Future> Maybe<F> {
    /// Wraps a future that is not polled yet.
    #[inline(always)]
    pub fn new(future: F) -> Self {
        Maybe::Running { future }
    }

    /// Polls the future if it is still running. Sets `*pending` when it is not finished;
    /// returns whether it finished in this call.
    #[inline(always)]
    pub fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>, pending: &mut bool) -> bool {
        if let MaybeProj::Running { future } = self.as_mut().project() {
            match future.poll(cx) {
                Poll::Pending => *pending = true,
                Poll::Ready(value) => {
                    self.project_replace(Maybe::Done { value });
                    return true;
                }
            }
        }
        false
    }

    /// Moves the output out once the join has finished.
    #[inline(always)]
    pub fn take(self: Pin<&mut Self>) -> F::Output {
        match self.project_replace(Maybe::Taken) {
            MaybeOwn::Done { value } => value,
            _ => unreachable!("flow: a join branch was taken before it finished"),
        }
    }
}

impl<F, T> Maybe<F>
where
    F: Future<Output = Result<T, Error>>,
{
    /// Polls a fallible future if it is still running. Sets `*pending` when it is not
    /// finished; returns whether it finished in this call. Its error is kept in `*failed`
    /// (see [`Failed`]), and the join ends at the end of the pass (fail-fast).
    #[inline(always)]
    pub fn poll_branch(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pending: &mut bool,
        failed: &mut Failed,
    ) -> bool {
        if let MaybeProj::Running { future } = self.as_mut().project() {
            match future.poll(cx) {
                Poll::Pending => *pending = true,
                Poll::Ready(Ok(value)) => {
                    self.project_replace(Maybe::Done { value: Ok(value) });
                    return true;
                }
                Poll::Ready(Err(e)) => {
                    self.project_replace(Maybe::Taken);
                    failed.fail(e);
                }
            }
        }
        false
    }

    /// Moves the output of a fallible future out once the join has finished without error.
    #[inline(always)]
    pub fn take_ok(self: Pin<&mut Self>) -> T {
        match self.take() {
            Ok(value) => value,
            Err(_) => unreachable!("flow: a failed join branch was taken"),
        }
    }
}

impl<F, T> Maybe<F>
where
    F: Future<Output = Result<T, Error>>,
{
    /// Polls a member of a race if it is still running: its value if it succeeded in this
    /// call. A failure is kept for the race's error; sets `*pending` while it runs.
    #[inline(always)]
    pub fn poll_race(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pending: &mut bool,
    ) -> Option<T> {
        if let MaybeProj::Running { future } = self.as_mut().project() {
            match future.poll(cx) {
                Poll::Pending => *pending = true,
                Poll::Ready(Ok(value)) => {
                    self.project_replace(Maybe::Taken);
                    return Some(value);
                }
                Poll::Ready(Err(e)) => {
                    self.project_replace(Maybe::Done { value: Err(e) });
                }
            }
        }
        None
    }

    /// The error of a race member once every member failed.
    #[inline]
    pub fn take_err(self: Pin<&mut Self>) -> Error {
        match self.take() {
            Err(e) => e,
            Ok(_) => unreachable!("flow: a race member that succeeded was read as failed"),
        }
    }
}

/// The failures one pass of a join saw: the join polls every branch once per pass, and
/// ends with the failure of the node listed first among those that failed in that pass
/// (the others go to its [`Error::others`]).
#[derive(Default)]
pub struct Failed(Option<Error>);

impl Failed {
    /// No failure yet.
    #[inline(always)]
    pub const fn new() -> Self {
        Failed(None)
    }

    /// Keeps a branch's failure.
    #[cold]
    #[inline(never)]
    pub fn fail(&mut self, error: Error) {
        self.0 = Some(match self.0.take() {
            None => error,
            Some(first) => first_listed(first, error),
        });
    }

    /// The pass's failure, if there was one.
    #[inline(always)]
    pub fn take(&mut self) -> Option<Error> {
        self.0.take()
    }
}

/// Of two failures at the same instant, the one listed first, the other in its `others`.
fn first_listed(a: Error, b: Error) -> Error {
    let (mut first, second) = if b.rank() < a.rank() { (b, a) } else { (a, b) };
    first.push_other(second);
    first
}

/// Ranks a node's result for the join (its error is the failure of the node listed at
/// `rank` in the workflow).
#[inline(always)]
pub fn rank<T>(result: Result<T, Error>, rank: u32) -> Result<T, Error> {
    match result {
        Ok(value) => Ok(value),
        Err(error) => Err(ranked(error, rank)),
    }
}

#[cold]
#[inline(never)]
fn ranked(mut error: Error, rank: u32) -> Error {
    error.set_rank(rank);
    error
}

/// The error of a race whose members all failed: `causes` in list order.
#[cold]
pub fn race_failed(workflow: &'static str, race: &'static str, causes: Vec<Error>) -> Error {
    Error::race_failed(workflow, race, causes)
}

/// The values of one type that `K` nodes provide, gathered in list order for consumers
/// taking `&[T]`. Each producer puts its value (or `None` when it was skipped); the first
/// consumer moves them into one `Vec`, which every consumer then borrows.
pub struct Collect<T, const K: usize> {
    values: [std::sync::Mutex<Option<T>>; K],
    stored: std::sync::atomic::AtomicUsize,
    gathered: OnceLock<Vec<T>>,
}

impl<T, const K: usize> Collect<T, K> {
    /// No value yet.
    pub fn new() -> Self {
        Collect {
            values: [const { std::sync::Mutex::new(None) }; K],
            stored: std::sync::atomic::AtomicUsize::new(0),
            gathered: OnceLock::new(),
        }
    }

    /// Stores producer `index`'s value (`None`: it was skipped).
    pub fn put(&self, index: usize, value: Option<T>) {
        *self.values[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
        self.stored
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// Waits until every producer stored its value (inside a dataflow join, see
    /// [`Slot::wait`]).
    pub fn wait_all(&self) -> impl Future<Output = ()> + '_ {
        core::future::poll_fn(move |_| {
            if self.stored.load(std::sync::atomic::Ordering::Acquire) == K {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// The values, in list order, once every producer ran.
    pub fn values(&self) -> &Vec<T> {
        self.gathered.get_or_init(|| {
            self.values
                .iter()
                .filter_map(|v| {
                    v.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take()
                })
                .collect()
        })
    }
}

impl<T, const K: usize> Default for Collect<T, K> {
    fn default() -> Self {
        Self::new()
    }
}

/// The output of a node that nodes of the same dataflow join wait for.
///
/// Every future of a dataflow join runs in the join's own task, and the join polls all of
/// them again whenever one finishes, so waiting needs no waker.
pub struct Slot<T>(OnceLock<T>);

impl<T> Slot<T> {
    /// An empty slot.
    #[inline(always)]
    pub const fn new() -> Self {
        Slot(OnceLock::new())
    }

    /// Stores the node's output.
    #[inline(always)]
    pub fn set(&self, value: T) {
        if self.0.set(value).is_err() {
            unreachable!("flow: a node's output was stored twice");
        }
    }

    /// Waits until the output is stored.
    #[inline(always)]
    pub fn wait(&self) -> impl Future<Output = &T> + '_ {
        core::future::poll_fn(move |_| match self.0.get() {
            Some(value) => Poll::Ready(value),
            None => Poll::Pending,
        })
    }

    /// The output, if it is stored.
    #[inline(always)]
    pub fn get(&self) -> Option<&T> {
        self.0.get()
    }

    /// Moves the output out, if it is stored.
    #[inline(always)]
    pub fn take(&mut self) -> Option<T> {
        self.0.take()
    }

    /// Moves the output out once the join has finished.
    #[inline(always)]
    pub fn into_value(self) -> T {
        match self.0.into_inner() {
            Some(value) => value,
            None => unreachable!("flow: a node's output was read before it was stored"),
        }
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The value of a conditional provider that failed under `continue_on_error`, as a
/// `Result<&T, &NodeError>` argument: `None` when it was skipped.
#[inline(always)]
pub fn present_result<T>(value: &Result<Option<T>, Error>) -> Option<Result<&T, &Error>> {
    match value {
        Ok(Some(v)) => Some(Ok(v)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}

/// The value of a conditional provider under `continue_on_error`, as an `Option<&T>`
/// argument: `None` when it failed or was skipped.
#[inline(always)]
pub fn present_ok<T>(value: &Result<Option<T>, Error>) -> Option<&T> {
    match value {
        Ok(Some(v)) => Some(v),
        _ => None,
    }
}

/// What a node providing the workflow's output may return when the output may be
/// missing: `Option<T>`, or `Result<Option<T>, Error>` under `continue_on_error`.
pub trait Present {
    /// Whether the output is missing (the node was skipped or returned `None`).
    fn missing(&self) -> bool;
}

impl<T> Present for Option<T> {
    #[inline(always)]
    fn missing(&self) -> bool {
        self.is_none()
    }
}

impl<T> Present for Result<Option<T>, Error> {
    #[inline(always)]
    fn missing(&self) -> bool {
        matches!(self, Ok(None))
    }
}

/// Ends the run as soon as the workflow's output is known to be missing: the node that
/// provides it (listed at `rank`) was skipped or returned `None`.
#[inline(always)]
pub fn require<V: Present>(
    value: V,
    workflow: &'static str,
    node: &'static NodeInfo,
    because: &'static [&'static str],
    rank: u32,
) -> Result<V, Error> {
    if value.missing() {
        return Err(ranked(Error::output_skipped(workflow, node, because), rank));
    }
    Ok(value)
}

/// The workflow's output from its node's `Option`: a missing one already ended the run
/// (see [`require`]).
#[inline(always)]
pub fn produced<T>(value: Result<Option<T>, Error>) -> Result<T, Error> {
    match value {
        Ok(Some(v)) => Ok(v),
        Ok(None) => unreachable!("flow: a missing output ends the run when it is known"),
        Err(e) => Err(e),
    }
}

pub use flow_macros::__workflow as workflow;

pub use crate::exec::*;
pub use crate::map::{map, map_all};

// ---- durable runs ----

pub use crate::exec::ResumeWith;
pub use crate::journal::{
    Begin, Codec, Element as RecordElement, Fallible as RecordResult, Journal, Journaled,
    RaceClaim, Tolerated as RecordTolerated, Value as RecordValue, codec, codec_option,
};

/// What a `durable` workflow records: its inputs and every node's output.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded by a `durable` workflow",
    label = "a `durable` workflow records this value: `{Self}` must implement `serde::Serialize` and `serde::Deserialize`",
    note = "derive them on the type: `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait Durable: serde::Serialize + serde::de::DeserializeOwned {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> Durable for T {}

/// A node's future in a durable workflow: read back from the run's journal, or run and
/// recorded (see [`Journaled`]); in a run a backend keeps, asked of its driver with the
/// inputs `args` encodes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn journaled<'r, 'a, M, G: crate::exec::Gate, A, F: Future>(
    run: &'r crate::exec::Run<'a, G>,
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    codec: Codec<M::Value>,
    args: A,
    future: F,
) -> Journaled<'r, 'a, M, A, F>
where
    M: crate::journal::Mode<F::Output>,
    A: FnOnce() -> Vec<Result<String, serde_json::Error>>,
{
    crate::journal::journaled(run.journal(), workflow, node, element, codec, args, future)
}

// ---- a node's inputs, for a backend that runs it elsewhere ----

pub use crate::store::backend;

/// Input `index` of a durable workflow, as JSON.
pub fn input_json<T>(
    codec: Codec<T>,
    value: &T,
    index: usize,
    workflow: &'static str,
) -> Result<String, Error> {
    codec.encode(value).map_err(|e| {
        Error::undecodable(
            workflow,
            None,
            &format!("input {index}"),
            std::any::type_name::<T>(),
            e.to_string(),
        )
    })
}

/// Input `index` of a driven run, from the JSON its backend holds.
pub fn driven_input<T>(
    codec: Codec<T>,
    inputs: &[String],
    index: usize,
    workflow: &'static str,
) -> Result<T, Error> {
    let text = inputs.get(index).map_or("null", String::as_str);
    codec.decode(text).map_err(|e| {
        Error::undecodable(
            workflow,
            None,
            &format!("input {index}"),
            std::any::type_name::<T>(),
            e.to_string(),
        )
    })
}

/// A durable workflow's output, as JSON.
pub fn output_json<T>(codec: Codec<T>, value: &T, workflow: &'static str) -> Result<String, Error> {
    codec.encode(value).map_err(|e| {
        Error::undecodable(
            workflow,
            None,
            "the workflow's output",
            std::any::type_name::<T>(),
            e.to_string(),
        )
    })
}

/// A durable workflow's output, from its JSON.
pub fn output_from_json<T>(
    codec: Codec<T>,
    json: &str,
    workflow: &'static str,
) -> Result<T, Error> {
    codec.decode(json).map_err(|e| {
        Error::undecodable(
            workflow,
            None,
            "the workflow's output",
            std::any::type_name::<T>(),
            e.to_string(),
        )
    })
}

/// A compensation asked of a node that has none.
pub fn no_compensation(workflow: &'static str, node: &'static NodeInfo) -> Error {
    Error::undecodable(
        workflow,
        Some(node),
        &format!("a compensation of node `{}`", node.name()),
        "a compensated node",
        "the node has no compensation".to_owned(),
    )
}

/// A `&T` (or `&[T]`) input, encoded.
pub fn encode_arg<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string(value)
}

/// An `Option<&T>` input, encoded: `null`, or `[value]` (so that `Some` of a value written
/// as `null` stays `Some`).
pub fn encode_option_arg<T: serde::Serialize>(
    value: Option<&T>,
) -> Result<String, serde_json::Error> {
    match value {
        None => Ok("null".to_owned()),
        Some(v) => serde_json::to_string(&(v,)),
    }
}

/// A `Result<&T, &NodeError>` input, encoded: `{"ok": value}` or `{"err": error}`.
pub fn encode_result_arg<T: serde::Serialize>(
    value: Result<&T, &Error>,
) -> Result<String, serde_json::Error> {
    match value {
        Ok(v) => serde_json::to_string(&WireResult::<&T>::Ok(v)),
        Err(e) => serde_json::to_string(&WireResult::<&T>::Err(Box::new(
            crate::journal::RecordedError::of(e),
        ))),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireResult<T> {
    Ok(T),
    Err(Box<crate::journal::RecordedError>),
}

fn arg_text<'a>(
    args: &'a [String],
    k: usize,
    workflow: &'static str,
    node: &'static NodeInfo,
) -> Result<&'a str, Error> {
    args.get(k).map(String::as_str).ok_or_else(|| {
        Error::undecodable(
            workflow,
            Some(node),
            &format!("input {k} of node `{}`", node.name()),
            node.inputs().get(k).map_or("?", |p| p.ty()),
            format!("the call has {} inputs", args.len()),
        )
    })
}

fn arg_error(
    workflow: &'static str,
    node: &'static NodeInfo,
    k: usize,
    e: serde_json::Error,
) -> Error {
    Error::undecodable(
        workflow,
        Some(node),
        &format!("input {k} of node `{}`", node.name()),
        node.inputs().get(k).map_or("?", |p| p.ty()),
        e.to_string(),
    )
}

/// Input `k` of a call, as a `&T` (or `&[T]`, decoded as a `Vec<T>`) parameter takes it.
pub fn decode_arg<T: serde::de::DeserializeOwned>(
    args: &[String],
    k: usize,
    workflow: &'static str,
    node: &'static NodeInfo,
) -> Result<T, Error> {
    serde_json::from_str(arg_text(args, k, workflow, node)?)
        .map_err(|e| arg_error(workflow, node, k, e))
}

/// Input `k` of a call, as an `Option<&T>` parameter takes it.
pub fn decode_option_arg<T: serde::de::DeserializeOwned>(
    args: &[String],
    k: usize,
    workflow: &'static str,
    node: &'static NodeInfo,
) -> Result<Option<T>, Error> {
    match arg_text(args, k, workflow, node)?.trim() {
        "null" => Ok(None),
        text => serde_json::from_str::<(T,)>(text)
            .map(|(v,)| Some(v))
            .map_err(|e| arg_error(workflow, node, k, e)),
    }
}

/// Input `k` of a call, as a `Result<&T, &NodeError>` parameter takes it.
pub fn decode_result_arg<T: serde::de::DeserializeOwned>(
    args: &[String],
    k: usize,
    workflow: &'static str,
    node: &'static NodeInfo,
    graph: &'static WorkflowGraph,
) -> Result<Result<T, Error>, Error> {
    match serde_json::from_str::<WireResult<T>>(arg_text(args, k, workflow, node)?) {
        Ok(WireResult::Ok(v)) => Ok(Ok(v)),
        Ok(WireResult::Err(e)) => Ok(Err(e.restore(graph))),
        Err(e) => Err(arg_error(workflow, node, k, e)),
    }
}

/// What a worker's call of a node gives back (see `store::backend`): the entry its journal
/// would have recorded, or the failure that ends the run.
pub fn capture<M, F>(
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    codec: Codec<M::Value>,
    future: F,
) -> impl Future<Output = crate::store::backend::Outcome> + Send
where
    M: crate::journal::Mode<F::Output>,
    F: Future + Send,
    F::Output: Send,
{
    crate::store::backend::capture::<M, F>(workflow, node, element, codec, future)
}

/// The completion stamp of a kept node of a durable workflow: its place in the journal
/// (across resumes) when the run has one.
#[inline]
pub fn stamp<G: crate::exec::Gate>(
    run: &crate::exec::Run<'_, G>,
    stamps: &crate::exec::Stamps,
) -> u32 {
    match run.journal() {
        Some(journal) => crate::journal::last_stamp(journal),
        None => stamps.next(),
    }
}

/// A durable workflow's input, as its run records it.
pub fn durable_input<T>(codec: Codec<T>, value: &T) -> Result<String, serde_json::Error> {
    codec.encode(value)
}

/// Input `index` of a run, as its store recorded it.
pub fn recorded_input<T>(
    codec: Codec<T>,
    inputs: &[serde_json::Value],
    index: usize,
    workflow: &'static str,
) -> Result<T, Error> {
    let value = inputs
        .get(index)
        .map_or_else(|| "null".to_owned(), |v| v.to_string());
    codec.decode(&value).map_err(|e| {
        Error::undecodable(
            workflow,
            None,
            &format!("recorded input {index}"),
            std::any::type_name::<T>(),
            e.to_string(),
        )
    })
}

/// The inputs the store recorded for the run `run`'s options name.
pub fn recorded_inputs(
    run: &crate::exec::Run<'_, crate::exec::Limits>,
    graph: &'static crate::WorkflowGraph,
) -> Result<Vec<serde_json::Value>, Error> {
    let wf = graph.name();
    let Some(journal) = run.journal() else {
        return Err(Error::no_store(wf));
    };
    journal.recorded_inputs(&run.id_text(), graph)
}

/// Begins a durable run: `Run` to run the body, `Done` with the recorded result of a run
/// that had finished. `inputs` are the encoded inputs.
pub fn begin<O>(
    run: &crate::exec::Run<'_, crate::exec::Limits>,
    graph: &'static crate::WorkflowGraph,
    inputs: Vec<Result<String, serde_json::Error>>,
    codec: Codec<O>,
) -> Result<Begin<O>, Error> {
    let wf = graph.name();
    let Some(journal) = run.journal() else {
        return Ok(Begin::Run);
    };
    // A JSON array of the encoded inputs, in declaration order.
    let mut values = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        values.push(input.map_err(|e| {
            Error::undecodable(
                wf,
                None,
                &format!("input {i}"),
                "the workflow's input",
                e.to_string(),
            )
        })?);
    }
    let inputs = format!("[{}]", values.join(","));
    journal.begin(&run.id_text(), graph, &inputs, &codec)
}

/// Records a durable run's end (when it has a journal).
pub fn end<T>(
    run: &crate::exec::Run<'_, crate::exec::Limits>,
    result: Result<T, Error>,
    codec: Codec<T>,
) -> Result<T, Error> {
    match run.journal() {
        Some(journal) => match journal.end(&result, &codec) {
            Ok(()) => result,
            Err(e) => Err(e),
        },
        None => result,
    }
}

/// The error of a run given a store by a workflow that is not durable.
#[inline]
pub fn not_durable<G: crate::exec::Gate>(
    run: &crate::exec::Run<'_, G>,
    workflow: &'static str,
) -> Option<Error> {
    run.journal().map(|_| Error::not_durable(workflow))
}
