//! The error a workflow run returns.

use std::error::Error as StdError;
use std::fmt;
use std::mem::ManuallyDrop;
use std::time::Duration;

use crate::NodeInfo;

/// A boxed error that can cross threads: what a node's own error is stored as.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a workflow run, or one node of it, failed.
///
/// Serialized in snake case (`"node_timed_out"`), as events carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// A node returned `Err` (on its last attempt, when it retries). The node's error is
    /// [`Error::source`](std::error::Error::source).
    NodeFailed,
    /// A node's attempt ran longer than its `timeout`.
    NodeTimedOut,
    /// A node panicked. The panic message is the error's source.
    NodePanicked,
    /// The run was cancelled through its [`CancellationToken`](crate::CancellationToken).
    Cancelled,
    /// The run did not finish before its deadline (the workflow's `timeout`, or one given
    /// in [`RunOptions`](crate::RunOptions)).
    TimedOut,
    /// A node's compensation failed; found in [`Error::compensation_errors`].
    CompensationFailed,
    /// The workflow's output was not produced: the node providing it was skipped, because
    /// a node it depends on returned `None`. The source is a [`Skipped`].
    OutputSkipped,
    /// Every member of a race group failed. Each member's error is in
    /// [`Error::causes`], in the order the members are listed; the source is a
    /// [`RaceErrors`] holding them all.
    RaceFailed,
    /// A durable run's store failed (could not be read or written, is damaged, or is not a
    /// flow store). The source is the [`StoreError`](crate::store::StoreError).
    Store,
    /// Another caller (in this process or another) is running this run id now.
    RunInUse,
    /// The run id is recorded with other inputs, or by another workflow. The source says
    /// which.
    RunConflict,
    /// `resume` was given a run id its store does not hold.
    UnknownRun,
    /// The workflow changed since the run was recorded, so that the run cannot continue:
    /// a node it recorded is gone or returns another type. The source names the node.
    GraphChanged,
    /// A value the store recorded does not decode as the type the program now has (or a
    /// value could not be encoded). The source names the node and the type.
    Undecodable,
    /// A node's output, serialized, is larger than its store accepts
    /// ([`Store::max_output`](crate::store::Store::max_output)); it is not retried.
    OutputTooLarge,
    /// A store was given to a workflow that is not `durable`.
    NotDurable,
    /// `resume` was called without a store.
    NoStore,
    /// The backend that keeps the run (a Temporal server, say) failed or could not be
    /// reached. The source is the backend's error.
    Backend,
    /// A node's inputs, serialized, are larger than the backend that runs the node elsewhere
    /// can send it (Temporal's payload limit); the node does not run.
    InputTooLarge,
    /// The run's options do not fit the workflow: a
    /// [`RunOptions::map_concurrency`](crate::RunOptions::map_concurrency) for a node the
    /// workflow does not map, or a node whose named limiter (`limit = "name"`,
    /// `rate_limit = "name"`) the run's [`Limiters`](crate::Limiters) do not hold. The source
    /// says which. A durable run that fails so is not recorded as failed: call it again with
    /// the right options.
    InvalidOptions,
}

/// The error of a workflow run: why it failed ([`kind`](Error::kind)), which workflow,
/// which node and on which attempt, and the node's own error as
/// [`source()`](std::error::Error::source).
///
/// Runs are fail-fast: the first node error (in time) ends the run; of failures at the same
/// instant, the node listed first. Nodes that had not started never start, and nodes still
/// in flight are dropped. Errors that happened before
/// the run ended and did not end it (failures of `continue_on_error` nodes, which their
/// consumers saw) are kept in [`others`](Error::others); compensations that failed
/// afterwards are in [`compensation_errors`](Error::compensation_errors).
///
/// The same type describes one node's failure to a consumer of a `continue_on_error` node,
/// as [`NodeError`].
///
/// ```
/// use flow_runtime::{node, workflow, ErrorKind};
///
/// #[derive(Debug)]
/// struct Broken;
/// impl std::fmt::Display for Broken {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("the source is down")
///     }
/// }
/// impl std::error::Error for Broken {}
///
/// #[derive(Debug)]
/// pub struct Page(String);
///
/// #[node]
/// async fn download(url: &String) -> Result<Page, Broken> {
///     Err(Broken)
/// }
///
/// #[workflow(download)]
/// async fn fetch_page(url: String) -> Page;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = fetch_page("https://example.org".into()).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NodeFailed);
/// assert_eq!(err.node_name(), Some("download"));
/// assert_eq!(err.workflow(), "fetch_page");
/// assert_eq!(err.to_string(), "node `download` of workflow `fetch_page` failed");
/// let cause = std::error::Error::source(&err).unwrap();
/// assert_eq!(cause.to_string(), "the source is down");
/// assert!(cause.downcast_ref::<Broken>().is_some());
/// # }
/// ```
pub struct Error {
    // Dropped by hand, out of line: a finished run drops its `Result<_, Error>`, and the
    // `Ok` path must then cost one test of the tag, not a call that saves registers.
    inner: ManuallyDrop<Box<Inner>>,
}

impl Drop for Error {
    #[inline]
    fn drop(&mut self) {
        drop_inner(&mut self.inner)
    }
}

#[cold]
#[inline(never)]
fn drop_inner(inner: &mut ManuallyDrop<Box<Inner>>) {
    // SAFETY: called once, from `Error::drop`; `inner` is not used afterwards.
    unsafe { ManuallyDrop::drop(inner) }
}

struct Inner {
    kind: ErrorKind,
    workflow: &'static str,
    node: Option<&'static NodeInfo>,
    attempts: u32,
    source: Option<BoxError>,
    others: Vec<Error>,
    compensation: Vec<Error>,
    element: Option<usize>,
    race: Option<&'static str>,
    /// The failing node's place in the list of the workflow whose join saw the failure
    /// (`u32::MAX` until a join ranks it): of failures seen at the same instant, the run
    /// keeps the one listed first.
    rank: u32,
}

/// One node's failure, as a consumer of a `continue_on_error` node receives it in a
/// `Result<&T, &NodeError>` parameter. It is the same type as the run's [`Error`].
pub type NodeError = Error;

/// The source of an [`ErrorKind::NodeTimedOut`] or [`ErrorKind::TimedOut`] error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    after: Duration,
}

impl Elapsed {
    /// How long the node's attempt, or the run, was allowed to take.
    pub fn limit(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "took longer than {:?}", self.after)
    }
}

impl StdError for Elapsed {}

/// The source of an [`ErrorKind::NodePanicked`] error: the panic's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    message: String,
}

impl Panicked {
    /// The panic's message, when it was a string; `"Box<dyn Any>"` otherwise.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Panicked {}

/// The source of an [`ErrorKind::Cancelled`] error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("its cancellation token was cancelled")
    }
}

impl StdError for Cancelled {}

/// The source of an [`ErrorKind::RaceFailed`] error: every member's error, in list order
/// (also [`Error::causes`]). Its text holds each member's error with its causes.
#[derive(Debug)]
pub struct RaceErrors(Vec<Error>);

impl RaceErrors {
    /// Every member's error, in the order the members are listed.
    pub fn errors(&self) -> &[Error] {
        &self.0
    }
}

impl fmt::Display for RaceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            1 => f.write_str("its member failed: ")?,
            n => write!(f, "all {n} members failed: ")?,
        }
        for (k, error) in self.0.iter().enumerate() {
            if k > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
            let mut cause = StdError::source(error);
            while let Some(c) = cause {
                write!(f, ": {c}")?;
                cause = c.source();
            }
        }
        Ok(())
    }
}

impl StdError for RaceErrors {}

/// The source of an [`ErrorKind::OutputSkipped`] error: which node was skipped, and which
/// conditional nodes (those returning `Option<T>`) it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    node: &'static str,
    because: &'static [&'static str],
}

impl Skipped {
    /// The node that was skipped: the one that provides the workflow's output.
    pub fn node(&self) -> &'static str {
        self.node
    }

    /// The conditional nodes whose `None` can skip it, in list order.
    pub fn conditions(&self) -> &'static [&'static str] {
        self.because
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node `{}` was skipped because ", self.node)?;
        match self.because {
            [one] if *one == self.node => f.write_str("it returned `None`"),
            [one] => write!(f, "node `{one}` returned `None`"),
            many => {
                f.write_str("one of ")?;
                for (k, name) in many.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{name}`")?;
                }
                f.write_str(" returned `None`")
            }
        }
    }
}

impl StdError for Skipped {}

impl Error {
    #[cold]
    #[inline(never)]
    pub(crate) fn new(
        kind: ErrorKind,
        workflow: &'static str,
        node: Option<&'static NodeInfo>,
        attempts: u32,
        source: Option<BoxError>,
    ) -> Self {
        Error {
            inner: ManuallyDrop::new(Box::new(Inner {
                kind,
                workflow,
                node,
                attempts,
                source,
                others: Vec::new(),
                compensation: Vec::new(),
                element: None,
                race: None,
                rank: u32::MAX,
            })),
        }
    }

    /// A node's error after `attempts` attempts.
    #[cold]
    pub(crate) fn node_failed(
        workflow: &'static str,
        node: &'static NodeInfo,
        source: BoxError,
        attempts: u32,
    ) -> Self {
        Self::new(
            ErrorKind::NodeFailed,
            workflow,
            Some(node),
            attempts,
            Some(source),
        )
    }

    /// A node's attempt ran out of time.
    #[cold]
    pub(crate) fn node_timed_out(
        workflow: &'static str,
        node: &'static NodeInfo,
        after: Duration,
        attempts: u32,
    ) -> Self {
        Self::new(
            ErrorKind::NodeTimedOut,
            workflow,
            Some(node),
            attempts,
            Some(Box::new(Elapsed { after })),
        )
    }

    /// A panic, in `node` when it is known.
    #[cold]
    pub(crate) fn panicked(
        workflow: &'static str,
        node: Option<&'static NodeInfo>,
        message: String,
        attempts: u32,
    ) -> Self {
        Self::new(
            ErrorKind::NodePanicked,
            workflow,
            node,
            attempts,
            Some(Box::new(Panicked { message })),
        )
    }

    /// The run was cancelled.
    #[cold]
    pub(crate) fn cancelled(workflow: &'static str) -> Self {
        Self::new(
            ErrorKind::Cancelled,
            workflow,
            None,
            0,
            Some(Box::new(Cancelled)),
        )
    }

    /// The run missed its deadline, `after` its start.
    #[cold]
    pub(crate) fn timed_out(workflow: &'static str, after: Duration) -> Self {
        Self::new(
            ErrorKind::TimedOut,
            workflow,
            None,
            0,
            Some(Box::new(Elapsed { after })),
        )
    }

    /// A node's compensation failed.
    #[cold]
    pub(crate) fn compensation_failed(
        workflow: &'static str,
        node: &'static NodeInfo,
        source: BoxError,
    ) -> Self {
        Self::new(
            ErrorKind::CompensationFailed,
            workflow,
            Some(node),
            1,
            Some(source),
        )
    }

    /// The workflow's output was skipped.
    #[cold]
    pub(crate) fn output_skipped(
        workflow: &'static str,
        node: &'static NodeInfo,
        because: &'static [&'static str],
    ) -> Self {
        Self::new(
            ErrorKind::OutputSkipped,
            workflow,
            Some(node),
            0,
            Some(Box::new(Skipped {
                node: node.name(),
                because,
            })),
        )
    }

    /// Every member of race `race` failed; `causes` in list order.
    #[cold]
    pub(crate) fn race_failed(
        workflow: &'static str,
        race: &'static str,
        causes: Vec<Error>,
    ) -> Self {
        let mut error = Self::new(
            ErrorKind::RaceFailed,
            workflow,
            None,
            0,
            Some(Box::new(RaceErrors(causes))),
        );
        error.inner.race = Some(race);
        error
    }

    /// An error of the run's store.
    #[cold]
    pub(crate) fn store(workflow: &'static str, error: crate::store::StoreError) -> Self {
        let kind = match error.kind() {
            crate::store::StoreErrorKind::InUse => ErrorKind::RunInUse,
            _ => ErrorKind::Store,
        };
        Self::new(kind, workflow, None, 0, Some(Box::new(error)))
    }

    /// A durable run's problem that its text explains.
    #[cold]
    fn durable(
        kind: ErrorKind,
        workflow: &'static str,
        node: Option<&'static NodeInfo>,
        text: String,
    ) -> Self {
        Self::new(kind, workflow, node, 0, Some(Box::new(Detail(text))))
    }

    /// The run id is taken by other inputs or another workflow.
    #[cold]
    pub(crate) fn run_conflict(workflow: &'static str, text: String) -> Self {
        Self::durable(ErrorKind::RunConflict, workflow, None, text)
    }

    /// `resume` of a run the store does not hold.
    #[cold]
    pub(crate) fn unknown_run(workflow: &'static str, text: String) -> Self {
        Self::durable(ErrorKind::UnknownRun, workflow, None, text)
    }

    /// The recorded run does not fit the workflow as it is now.
    #[cold]
    pub(crate) fn graph_changed(
        workflow: &'static str,
        node: Option<&'static NodeInfo>,
        text: String,
    ) -> Self {
        Self::durable(ErrorKind::GraphChanged, workflow, node, text)
    }

    /// `what` (of type `ty`) does not decode (or encode).
    #[cold]
    pub(crate) fn undecodable(
        workflow: &'static str,
        node: Option<&'static NodeInfo>,
        what: &str,
        ty: &str,
        error: String,
    ) -> Self {
        Self::durable(
            ErrorKind::Undecodable,
            workflow,
            node,
            format!("{what} does not decode as `{ty}`: {error}"),
        )
    }

    /// A node's output is too large for its store.
    #[cold]
    pub(crate) fn output_too_large(
        workflow: &'static str,
        node: &'static NodeInfo,
        element: Option<usize>,
        size: usize,
        limit: usize,
    ) -> Self {
        let mut error = Self::too_large(
            ErrorKind::OutputTooLarge,
            workflow,
            node,
            element,
            format!("its output is {size} bytes serialized; the store takes at most {limit}"),
        );
        error.inner.attempts = 1;
        error
    }

    /// A node's value too large for where it goes (`kind` says which), at its element.
    fn too_large(
        kind: ErrorKind,
        workflow: &'static str,
        node: &'static NodeInfo,
        element: Option<usize>,
        text: String,
    ) -> Self {
        let error = Self::durable(kind, workflow, Some(node), text);
        match element {
            Some(i) => error.at_element(i),
            None => error,
        }
    }

    /// A node's inputs are too large for the backend that runs it elsewhere.
    #[cold]
    pub(crate) fn input_too_large(
        workflow: &'static str,
        node: &'static NodeInfo,
        element: Option<usize>,
        size: usize,
        limit: usize,
    ) -> Self {
        Self::too_large(
            ErrorKind::InputTooLarge,
            workflow,
            node,
            element,
            format!(
                "its inputs are {size} bytes serialized; a node call on this backend takes at \
                 most {limit}: pass the node a smaller value (a key to where the data is kept)"
            ),
        )
    }

    /// A store given to a workflow that is not durable.
    #[cold]
    pub fn not_durable(workflow: &'static str) -> Self {
        Self::durable(
            ErrorKind::NotDurable,
            workflow,
            None,
            format!(
                "only a `#[workflow(..., durable)]` journals its runs: add `durable` to `{workflow}`, or run it without a store"
            ),
        )
    }

    /// The run's options do not fit the workflow (or node `node`): `text` says how.
    #[cold]
    pub(crate) fn invalid_options(
        workflow: &'static str,
        node: Option<&'static NodeInfo>,
        text: String,
    ) -> Self {
        Self::durable(ErrorKind::InvalidOptions, workflow, node, text)
    }

    /// `resume` without a store.
    #[cold]
    pub(crate) fn no_store(workflow: &'static str) -> Self {
        Self::durable(
            ErrorKind::NoStore,
            workflow,
            None,
            "give the store that holds the run: `RunOptions::new().run_id(id).store(&store)`"
                .to_owned(),
        )
    }

    /// The backend that keeps a run of `workflow` failed: `source` says how.
    #[cold]
    pub(crate) fn backend(workflow: &'static str, source: BoxError) -> Self {
        Self::new(ErrorKind::Backend, workflow, None, 0, Some(source))
    }

    /// Names the race whose members all failed.
    pub(crate) fn in_race(mut self, race: &'static str) -> Self {
        self.inner.race = Some(race);
        self
    }

    /// Marks the error as the failure of element `index` of a mapped node.
    pub(crate) fn at_element(mut self, index: usize) -> Self {
        if self.inner.node.is_some() && self.inner.element.is_none() {
            self.inner.element = Some(index);
        }
        self
    }

    /// Ranks the error as the failure of the node at `rank` in its workflow's list.
    #[inline]
    pub(crate) fn set_rank(&mut self, rank: u32) {
        self.inner.rank = rank;
    }

    /// The error's rank (see [`set_rank`](Error::set_rank)).
    #[inline]
    pub(crate) fn rank(&self) -> u32 {
        self.inner.rank
    }

    /// Inserts errors that happened before the ones already kept in `others`.
    pub(crate) fn prepend_others(&mut self, earlier: impl IntoIterator<Item = Error>) {
        let later = std::mem::take(&mut self.inner.others);
        self.inner.others.extend(earlier);
        self.inner.others.extend(later);
    }

    pub(crate) fn push_other(&mut self, other: Error) {
        self.inner.others.push(other);
    }

    pub(crate) fn push_compensation(&mut self, error: Error) {
        self.inner.compensation.push(error);
    }

    /// Why the run failed.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The name of the workflow whose run failed.
    pub fn workflow(&self) -> &'static str {
        self.inner.workflow
    }

    /// The name of the node that failed, if the failure belongs to one node (as
    /// [`workflow`](Self::workflow) names the workflow).
    pub fn node(&self) -> Option<&'static str> {
        self.inner.node.map(NodeInfo::name)
    }

    /// The description of the node that failed (its function, module, source location),
    /// if the failure belongs to one node.
    pub fn node_info(&self) -> Option<&'static NodeInfo> {
        self.inner.node
    }

    /// The same as [`node`](Self::node).
    #[doc(hidden)]
    pub fn node_name(&self) -> Option<&'static str> {
        self.node()
    }

    /// How many attempts the failing node made: 1 without retries, the attempt that failed
    /// for a timeout or panic. 0 when the failure is not a node's (cancellation, deadline).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// Other errors of the run, in the order they happened: failures of `continue_on_error`
    /// nodes that their consumers saw, then the failures of nodes listed later that failed
    /// at the same instant as this one (in list order; for a map, the elements after this
    /// one in input order).
    pub fn others(&self) -> &[Error] {
        &self.inner.others
    }

    /// The compensations that failed after this error ended the run, in the order they ran
    /// (each of kind [`ErrorKind::CompensationFailed`], naming its node).
    pub fn compensation_errors(&self) -> &[Error] {
        &self.inner.compensation
    }

    /// For a node applied to every element of a collection (`map(node)` in a workflow),
    /// the index of the element whose run failed.
    pub fn element(&self) -> Option<usize> {
        self.inner.element
    }

    /// For [`ErrorKind::RaceFailed`], the error of every member of the race, in the order
    /// the members are listed; empty otherwise.
    pub fn causes(&self) -> &[Error] {
        match self.source_as::<RaceErrors>() {
            Some(errors) => &errors.0,
            None => &[],
        }
    }

    /// For [`ErrorKind::RaceFailed`], the race group's name (its members joined by `|`).
    pub fn race(&self) -> Option<&'static str> {
        self.inner.race
    }

    fn source_as<E: StdError + 'static>(&self) -> Option<&E> {
        self.inner.source.as_deref()?.downcast_ref()
    }

    /// Consumes the error and returns the node's own error, if there is one.
    pub fn into_source(mut self) -> Option<BoxError> {
        self.inner.source.take()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let workflow = inner.workflow;
        if inner.kind == ErrorKind::CompensationFailed {
            f.write_str("compensation of ")?;
        }
        match (inner.node, inner.race) {
            (Some(node), _) if inner.kind != ErrorKind::OutputSkipped => {
                write!(f, "node `{}`", node.name())?;
                if let Some(index) = inner.element {
                    write!(f, " (element {index})")?;
                }
                write!(f, " of workflow `{workflow}`")?
            }
            (_, Some(race)) => write!(f, "race `{race}` of workflow `{workflow}`")?,
            _ => write!(f, "workflow `{workflow}`")?,
        }
        match inner.kind {
            ErrorKind::NodeFailed if inner.attempts > 1 => {
                write!(f, " failed after {} attempts", inner.attempts)
            }
            ErrorKind::NodeFailed => f.write_str(" failed"),
            ErrorKind::NodeTimedOut => write!(f, " timed out on attempt {}", inner.attempts),
            ErrorKind::NodePanicked if inner.attempts > 1 => {
                write!(f, " panicked on attempt {}", inner.attempts)
            }
            ErrorKind::NodePanicked => f.write_str(" panicked"),
            ErrorKind::Cancelled => f.write_str(" was cancelled"),
            ErrorKind::TimedOut => f.write_str(" timed out"),
            ErrorKind::CompensationFailed => f.write_str(" failed"),
            ErrorKind::OutputSkipped => f.write_str(" produced no output"),
            ErrorKind::RaceFailed => f.write_str(" failed"),
            ErrorKind::Store => f.write_str(" could not use its store"),
            ErrorKind::RunInUse => f.write_str(" found the run in use by another caller"),
            ErrorKind::RunConflict => f.write_str(" cannot continue the run"),
            ErrorKind::UnknownRun => f.write_str(" has no recorded run to resume"),
            ErrorKind::GraphChanged => f.write_str(" changed since the run was recorded"),
            ErrorKind::Undecodable => f.write_str(" has a value that does not decode"),
            ErrorKind::OutputTooLarge => f.write_str(" returned an output too large to record"),
            ErrorKind::NotDurable => f.write_str(" is not durable and cannot be given a store"),
            ErrorKind::NoStore => f.write_str(" was resumed without a store"),
            ErrorKind::Backend => f.write_str(" could not use its backend"),
            ErrorKind::InputTooLarge => f.write_str(" has inputs too large for its backend"),
            ErrorKind::InvalidOptions => f.write_str(" was given options that do not fit it"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("workflow", &self.inner.workflow)
            .field("node", &self.inner.node.map(NodeInfo::name))
            .field("attempts", &self.inner.attempts)
            .field("source", &self.inner.source)
            .field("others", &self.inner.others)
            .field("compensation_errors", &self.inner.compensation)
            .field("element", &self.inner.element)
            .field("causes", &self.causes())
            .finish()
    }
}

/// The text of a durable run's problem.
#[derive(Debug)]
struct Detail(String);

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Detail {}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
