//! The run machinery the generated code calls (re-exported from `__private`): one run's
//! state, node policies (timeout, retry, limits), panics, deadlines, cancellation, and
//! compensation. Not a public API.

#![allow(missing_docs)]

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::__private::{IntoNodeError, Slot};
use crate::RunOptions;
use crate::journal::Journal;
use crate::limit::{Held, Lending, lending};
use crate::observe::{AttemptSpan, Quiet, Reporting, Seen, Track};
use crate::{
    BoxError, ConcurrencyLimit, Error, ErrorKind, NodeInfo, RateLimiter, RunContext, RunId,
};

/// A workflow's own settings, from `#[workflow(...)]`.
pub struct Settings {
    pub max_concurrency: Option<usize>,
    pub timeout: Option<Duration>,
}

/// What a node without policies returns, as the workflow sees it: [`Plain`] passes an
/// infallible node's output through; [`Checked`] turns a fallible node's error into the
/// workflow's.
pub trait Settle<O> {
    /// The output the workflow sees.
    type Out;

    /// Converts the output of `node`.
    fn settle(&self, out: O, node: &'static NodeInfo) -> Self::Out;

    /// The node's error, if it failed.
    fn failure(out: &Self::Out) -> Option<&Error>;
}

/// The output of a sub-workflow, already a `Result<T, flow_runtime::Error>`.
#[derive(Clone, Copy)]
pub struct Passed;

impl<T> Settle<Result<T, Error>> for Passed {
    type Out = Result<T, Error>;

    #[inline(always)]
    fn settle(&self, out: Result<T, Error>, _: &'static NodeInfo) -> Result<T, Error> {
        out
    }

    #[inline(always)]
    fn failure(out: &Result<T, Error>) -> Option<&Error> {
        out.as_ref().err()
    }
}

/// An infallible node's output, passed through.
#[derive(Clone, Copy)]
pub struct Plain;

/// A fallible node's `Result<T, E>`, as `Result<T, flow_runtime::Error>` naming workflow
/// `W`: zero-sized, so a fallible node's future holds nothing to name its workflow.
pub struct Checked<W>(PhantomData<fn() -> W>);

impl<W> Checked<W> {
    /// The settle of a fallible node of workflow `W`.
    pub const NEW: Self = Checked(PhantomData);
}

impl<O> Settle<O> for Plain {
    type Out = O;

    #[inline(always)]
    fn settle(&self, out: O, _: &'static NodeInfo) -> O {
        out
    }

    #[inline(always)]
    fn failure(_: &O) -> Option<&Error> {
        None
    }
}

impl<T, E: IntoNodeError, W: WorkflowName> Settle<Result<T, E>> for Checked<W> {
    type Out = Result<T, Error>;

    #[inline(always)]
    fn settle(&self, out: Result<T, E>, node: &'static NodeInfo) -> Result<T, Error> {
        match out {
            Ok(value) => Ok(value),
            Err(e) => Err(Error::node_failed(W::NAME, node, e.into_node_error(), 1)),
        }
    }

    #[inline(always)]
    fn failure(out: &Result<T, Error>) -> Option<&Error> {
        out.as_ref().err()
    }
}

/// A workflow's name as a type (a body's local one), so that its guard holds nothing to
/// name it in errors.
pub trait WorkflowName {
    /// The workflow's name.
    const NAME: &'static str;
}

/// A node's hidden twin type, which carries its [`NodeInfo`] as a constant: a node's future
/// names its node in its type, not in a field.
pub trait Listed {
    /// What `#[node]` (or `#[workflow]`) recorded about the node.
    const INFO: &'static NodeInfo;

    /// Whether the node takes the run context (`&RunContext`).
    const CONTEXT: bool;
}

/// How a node without policies is admitted: [`Open`] runs it at once; [`Watched`] reports
/// it; [`Limits`] waits for the run's concurrency permits first.
pub trait Gate: Sized + Send + Sync + 'static {
    /// A run's state under this gate: for `Open`, which never reports and has no limits,
    /// deadline or context (the plain function picks it only for a workflow without
    /// options whose nodes need none, when nobody listens), only the workflow's name; a
    /// [`Full`] state for the others.
    type State<'a>: RunState<'a>;

    /// Whether runs under this gate never report (`Open`): the plain function then runs
    /// under `Watched` instead when someone may listen.
    const QUIET: bool = false;

    /// What a node's future holds under this gate beside the node's own future: nothing
    /// for `Open`.
    type Hold<'r>;

    /// The hold of one node's future (of element `element`, for a mapped node).
    fn hold<'r>(
        run: &'r Run<'_, Self>,
        node: &'static NodeInfo,
        element: Option<usize>,
    ) -> Self::Hold<'r>;

    /// Polls a node's future under this gate, its output settled by `settle`.
    fn poll<'r, K: Settle<F::Output>, F: Future>(
        hold: &mut Self::Hold<'r>,
        future: Pin<&mut F>,
        node: &'static NodeInfo,
        settle: &K,
        cx: &mut Context<'_>,
    ) -> Poll<K::Out>;

    /// What the guard of a run under this gate watches: its deadline and the caller's
    /// token, when it may have them (nothing for `Open`).
    type Watch<'r>;

    /// The watch of `run`'s guard.
    fn watch<'r>(run: &'r Run<'_, Self>) -> Self::Watch<'r>;

    /// Polls the watch: the error that ends the run, once its token is cancelled or its
    /// deadline passed.
    fn poll_watch(
        watch: &mut Self::Watch<'_>,
        workflow: &'static str,
        cx: &mut Context<'_>,
    ) -> Option<Error>;
}

/// No run-wide limits and nobody listening: a node starts as soon as its inputs exist,
/// and reports nothing.
pub struct Open;

/// No run-wide limits, and a subscriber or an observer may listen: each node reports its
/// span and events.
pub struct Watched;

/// Run-wide limits may apply (`max_concurrency`, a shared limit).
pub struct Limits;

impl Gate for Open {
    type State<'a> = Quiet;

    const QUIET: bool = true;

    type Hold<'r> = ();

    #[inline(always)]
    fn hold(_: &Run<'_, Self>, _: &'static NodeInfo, _: Option<usize>) {}

    #[inline(always)]
    fn poll<'r, K: Settle<F::Output>, F: Future>(
        _: &mut (),
        future: Pin<&mut F>,
        node: &'static NodeInfo,
        settle: &K,
        cx: &mut Context<'_>,
    ) -> Poll<K::Out> {
        match poll_marked(future, node, None, None, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => Poll::Ready(settle.settle(out, node)),
        }
    }

    type Watch<'r> = ();

    #[inline(always)]
    fn watch(_: &Run<'_, Self>) {}

    #[inline(always)]
    fn poll_watch(_: &mut (), _: &'static str, _: &mut Context<'_>) -> Option<Error> {
        None
    }
}

impl Gate for Watched {
    type State<'a> = Full<'a>;

    type Hold<'r> = Reports<'r>;

    #[inline(always)]
    fn hold<'r>(
        run: &'r Run<'_, Self>,
        _: &'static NodeInfo,
        element: Option<usize>,
    ) -> Reports<'r> {
        Reports::new(element, Some(&run.state.track))
    }

    #[inline(always)]
    fn poll<'r, K: Settle<F::Output>, F: Future>(
        hold: &mut Reports<'r>,
        future: Pin<&mut F>,
        node: &'static NodeInfo,
        settle: &K,
        cx: &mut Context<'_>,
    ) -> Poll<K::Out> {
        hold.poll(future, node, settle, cx)
    }

    type Watch<'r> = Option<Cold<Watch<'r>>>;

    #[inline(always)]
    fn watch<'r>(run: &'r Run<'_, Self>) -> Self::Watch<'r> {
        run.full_watch()
    }

    #[inline(always)]
    fn poll_watch(
        watch: &mut Self::Watch<'_>,
        workflow: &'static str,
        cx: &mut Context<'_>,
    ) -> Option<Error> {
        poll_full_watch(watch, workflow, cx)
    }
}

impl Gate for Limits {
    type State<'a> = Full<'a>;

    type Hold<'r> = Limited<'r>;

    fn hold<'r>(
        run: &'r Run<'_, Self>,
        _: &'static NodeInfo,
        element: Option<usize>,
    ) -> Limited<'r> {
        let limited = run.state.semaphore.is_some() || run.state.shared.is_some();
        Limited {
            acquire: limited.then(|| Box::pin(run.permits(None)) as Pin<Box<_>>),
            permits: None,
            reports: Reports::new(element, Some(&run.state.track)),
        }
    }

    fn poll<'r, K: Settle<F::Output>, F: Future>(
        hold: &mut Limited<'r>,
        future: Pin<&mut F>,
        node: &'static NodeInfo,
        settle: &K,
        cx: &mut Context<'_>,
    ) -> Poll<K::Out> {
        if let Some(acquire) = &mut hold.acquire {
            match acquire.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(permits) => {
                    hold.permits = Some(permits);
                    hold.acquire = None;
                }
            }
        }
        let held = hold.permits.as_ref().map_or([None, None], Permits::lent);
        let reports = &mut hold.reports;
        let out = lending(held, || reports.poll(future, node, settle, cx));
        if out.is_ready() {
            hold.permits = None;
        }
        out
    }

    type Watch<'r> = Option<Cold<Watch<'r>>>;

    #[inline(always)]
    fn watch<'r>(run: &'r Run<'_, Self>) -> Self::Watch<'r> {
        run.full_watch()
    }

    #[inline(always)]
    fn poll_watch(
        watch: &mut Self::Watch<'_>,
        workflow: &'static str,
        cx: &mut Context<'_>,
    ) -> Option<Error> {
        poll_full_watch(watch, workflow, cx)
    }
}

/// The watch of a run with a full state, boxed when it has a deadline or a caller's token.
impl<'a, G: Gate<State<'a> = Full<'a>>> Run<'a, G> {
    #[inline]
    fn full_watch(&self) -> Option<Cold<Watch<'_>>> {
        let f = &self.state;
        (f.deadline.is_some() || f.watched).then(|| {
            Cold::new(Watch {
                sleep: f.deadline.map(|(at, _)| tokio::time::sleep_until(at)),
                cancelled: f.watched.then(|| self.token().cancelled()),
                after: f.deadline.map_or(Duration::ZERO, |(_, d)| d),
            })
        })
    }
}

/// Polls a boxed watch (see [`Gate::poll_watch`]).
#[inline]
fn poll_full_watch(
    watch: &mut Option<Cold<Watch<'_>>>,
    workflow: &'static str,
    cx: &mut Context<'_>,
) -> Option<Error> {
    let watch = watch.as_mut()?.as_mut().project();
    if let Some(c) = watch.cancelled.as_pin_mut()
        && c.poll(cx).is_ready()
    {
        return Some(Error::cancelled(workflow));
    }
    if let Some(s) = watch.sleep.as_pin_mut()
        && s.poll(cx).is_ready()
    {
        return Some(Error::timed_out(workflow, *watch.after));
    }
    None
}

/// What a node's future holds under [`Limits`]: the permits it waits for, then holds.
pub struct Limited<'r> {
    acquire: Option<Pin<Box<dyn Future<Output = Permits<'r>> + Send + 'r>>>,
    permits: Option<Permits<'r>>,
    reports: Reports<'r>,
}

pin_project_lite::pin_project! {
    /// A node's future admitted by gate `G`, naming node `N` in its type, its output
    /// settled by `K`.
    pub struct Gated<'r, G: Gate, N, K, F> {
        #[pin]
        future: F,
        hold: G::Hold<'r>,
        settle: K,
        node: PhantomData<fn() -> N>,
    }
}

impl<G: Gate, N: Listed, K: Settle<F::Output>, F: Future> Future for Gated<'_, G, N, K, F> {
    type Output = K::Out;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Out> {
        let this = self.project();
        G::poll(this.hold, this.future, N::INFO, this.settle, cx)
    }
}

/// Whether a run without an observer may report anything: a subscriber may want spans.
/// Decides, once per run, between the [`Open`] and [`Watched`] gates.
#[inline(always)]
pub fn listening() -> bool {
    tracing::level_enabled!(tracing::Level::INFO)
}

/// A pinned box whose drop is out of line: what may hold one stays as small, and as cheap
/// to drop, as when it holds none. It holds the reporting run of a plain call someone may
/// listen to ([`listening`]), and a guard's deadline and cancellation.
pub struct Cold<T>(ManuallyDrop<Pin<Box<T>>>);

impl<T> Cold<T> {
    /// Boxes `value`.
    #[inline]
    pub fn new(value: T) -> Self {
        Cold(ManuallyDrop::new(Box::pin(value)))
    }

    /// The boxed value, pinned.
    #[inline]
    pub fn as_mut(&mut self) -> Pin<&mut T> {
        Pin::as_mut(&mut self.0)
    }
}

impl<F: Future> Future for Cold<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.get_mut().as_mut().poll(cx)
    }
}

impl<T> Drop for Cold<T> {
    #[inline(never)]
    fn drop(&mut self) {
        // SAFETY: dropped once, here; `self.0` is not used after.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }
}

/// The permits one node attempt holds.
pub struct Permits<'r> {
    _run: Option<SemaphorePermit<'r>>,
    shared: Option<Held<'r>>,
    node: Option<Held<'r>>,
}

impl Permits<'_> {
    fn lent(&self) -> [Option<&Held<'_>>; 2] {
        [self.node.as_ref(), self.shared.as_ref()]
    }
}

/// One run of a workflow: its gate's state.
pub struct Run<'a, G: Gate> {
    state: G::State<'a>,
}

/// What a run's state offers the run, whatever its gate.
pub trait RunState<'a>: Send + Sync + Sized {
    /// The state of a run of `workflow` with its `settings`, called without options.
    fn plain(workflow: &'static str, settings: &Settings) -> Self;

    /// Where the run reports, if it may.
    fn track(&self) -> Option<&Track>;

    /// The run's limits and deadline; `None` for an `Open` run, which has none.
    fn full(&self) -> Option<&Full<'a>>;

    /// The run's id, made when first asked for.
    fn id(&self) -> &RunId;

    /// The run's cancellation token, made when first asked for.
    fn token(&self) -> &CancellationToken;

    /// The run's journal, for a run given a store.
    #[inline(always)]
    fn journal(&self) -> Option<&Journal<'a>> {
        None
    }
}

/// What an `Open` run was asked for but cannot have: the plain function gives an `Open`
/// run only to workflows whose nodes take no run context (see [`PlainGate`]).
#[cold]
#[inline(never)]
fn open_run_has_none(what: &str) -> ! {
    panic!("flow: an open run has no {what}: its workflow's nodes take no run context")
}

impl<'a> RunState<'a> for Quiet {
    #[inline(always)]
    fn plain(workflow: &'static str, settings: &Settings) -> Self {
        debug_assert!(
            settings.timeout.is_none() && settings.max_concurrency.is_none(),
            "an open run was given settings"
        );
        let _ = workflow;
        Quiet
    }

    #[inline(always)]
    fn track(&self) -> Option<&Track> {
        None
    }

    #[inline(always)]
    fn full(&self) -> Option<&Full<'a>> {
        None
    }

    fn id(&self) -> &RunId {
        open_run_has_none("run id")
    }

    fn token(&self) -> &CancellationToken {
        open_run_has_none("cancellation token")
    }
}

/// Picks the gate of a workflow's plain calls when nobody listens: [`Open`] when the
/// workflow has no options and none of its nodes takes the run context, [`Watched`]
/// otherwise. The plain function names `Pick<{ OPEN }>`, whose `OPEN` it computes when the
/// crate compiles.
pub trait PlainGate {
    /// The gate.
    type Gate: Gate;
}

/// See [`PlainGate`].
pub struct Pick<const OPEN: bool>;

impl PlainGate for Pick<true> {
    type Gate = Open;
}

impl PlainGate for Pick<false> {
    type Gate = Watched;
}

/// Whether a workflow of `nodes` (each whether it takes the run context) can run its plain
/// calls under [`Open`].
pub const fn open(takes_context: &[bool]) -> bool {
    let mut k = 0;
    while k < takes_context.len() {
        if takes_context[k] {
            return false;
        }
        k += 1;
    }
    true
}

/// What a workflow offers in place of the items its node list expands to (`graph()`, its
/// body, `__FLOW_OPEN`) when that expansion failed: a listed name is not a node, or the
/// graph has errors. Those are reported where they are; with these stand-ins in scope the
/// workflow's entry points still type-check, so nothing follows on. (Inherent items, when
/// they exist, come first.) Never called: the crate does not compile.
pub trait Unexpanded {
    /// Stands in for `__FLOW_OPEN`.
    const __FLOW_OPEN: bool = false;

    /// Stands in for `__flow_graph()`.
    fn __flow_graph() -> &'static crate::WorkflowGraph {
        unreachable!("flow: a workflow whose graph did not expand")
    }

    /// Stands in for the workflow's body.
    fn __flow_body<G: Gate, I, T>(
        _run: &Run<'_, G>,
        _inputs: I,
    ) -> core::future::Pending<Result<T, Error>> {
        unreachable!("flow: a workflow whose body did not expand")
    }

    /// Stands in for a durable workflow's node calls on a backend's worker.
    fn __flow_invoke(
        _node: &str,
        _invocation: crate::store::backend::Invocation,
    ) -> Option<crate::store::backend::Invoked> {
        None
    }

    /// Stands in for a durable workflow's visit of its nodes.
    fn __flow_visit<V: crate::store::backend::Visitor>(_visitor: &mut V) {}

    /// Stands in for a durable workflow's journaled run.
    fn __flow_durable<I, T>(
        _run: &Run<'_, Limits>,
        _inputs: I,
    ) -> core::future::Pending<Result<T, Error>> {
        unreachable!("flow: a workflow whose body did not expand")
    }
}

/// How a durable workflow's `resume(options)` runs it: implemented beside the workflow.
pub trait ResumeWith<'o> {
    /// The run's result.
    type Output;

    /// Continues the run that `options` names, on the inputs its store recorded.
    fn resume(options: RunOptions<'o>) -> impl Future<Output = Self::Output>;
}

/// How a workflow's `run(options, inputs...)` runs it: implemented beside the workflow for
/// its twin's `Node`, on the tuple of its inputs.
#[diagnostic::on_unimplemented(
    message = "this workflow does not take these inputs",
    label = "`run` takes the run's options, then the workflow's inputs in the order it declares them",
    note = "the inputs given are `{I}`"
)]
pub trait RunWith<'o, I> {
    /// `Result<Output, flow_runtime::Error>`.
    type Output;

    /// Runs the workflow with `options` on `inputs`.
    fn run(options: RunOptions<'o>, inputs: I) -> impl Future<Output = Self::Output>;
}

/// The completion stamps of a run's kept outputs: completions are numbered 1, 2, ... in
/// time order.
pub struct Stamps(AtomicU32);

impl Stamps {
    /// No completion yet.
    #[inline(always)]
    pub const fn new() -> Self {
        Stamps(AtomicU32::new(0))
    }

    /// The next completion's stamp.
    #[inline]
    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Default for Stamps {
    fn default() -> Self {
        Self::new()
    }
}

/// What a run's options name: its limiters and its maps' concurrencies.
pub struct Naming<'a> {
    limiters: Option<&'a crate::Limiters>,
    map_concurrency: Vec<(String, std::num::NonZeroUsize)>,
}

/// The state of a run that may report, or have limits, a deadline, a token or an id.
pub struct Full<'a> {
    // Both emptied by `Drop` (most runs never set either, and a set-or-not check there is
    // cheaper than each lock's own drop).
    id: ManuallyDrop<OnceLock<RunId>>,
    token: ManuallyDrop<OnceLock<CancellationToken>>,
    /// Whether `token` is a child of the caller's token, which the guard watches.
    watched: bool,
    deadline: Option<(Instant, Duration)>,
    /// Boxed: most runs have no limit, and the run stays small.
    semaphore: Option<Box<Semaphore>>,
    shared: Option<&'a ConcurrencyLimit>,
    /// The journal of a run given a store (boxed: most runs have none).
    journal: Option<Box<Journal<'a>>>,
    /// A backend worker's run of one node: the attempt to start with, and the one running.
    attempts: Option<std::sync::Arc<crate::store::backend::Attempts>>,
    /// The named limiters and map concurrencies of the run's options (boxed: most runs
    /// have none).
    named: Option<Box<Naming<'a>>>,
    /// Its name, span and observer; dropped last, after the nodes.
    track: Track,
}

impl<'a> RunState<'a> for Full<'a> {
    #[inline]
    fn plain(workflow: &'static str, settings: &Settings) -> Self {
        let id = OnceLock::new();
        let track = Track::new(workflow, None, &id);
        Full {
            id: ManuallyDrop::new(id),
            token: ManuallyDrop::new(OnceLock::new()),
            watched: false,
            deadline: settings.timeout.map(|t| (Instant::now() + t, t)),
            semaphore: settings.max_concurrency.map(run_semaphore),
            shared: None,
            journal: None,
            attempts: None,
            named: None,
            track,
        }
    }

    #[inline(always)]
    fn track(&self) -> Option<&Track> {
        self.track.track()
    }

    #[inline(always)]
    fn full(&self) -> Option<&Full<'a>> {
        Some(self)
    }

    fn id(&self) -> &RunId {
        self.id.get_or_init(RunId::next)
    }

    fn token(&self) -> &CancellationToken {
        self.token.get_or_init(CancellationToken::new)
    }

    #[inline(always)]
    fn journal(&self) -> Option<&Journal<'a>> {
        self.journal.as_deref()
    }
}

impl<'a, G: Gate<State<'a> = Full<'a>>> Run<'a, G> {
    /// A sub-workflow's run: as [`plain`](Run::plain), recording its nodes in its parent's
    /// `journal` when the parent has one (its id is then the parent's, and its place).
    #[inline]
    pub fn within(
        workflow: &'static str,
        settings: &Settings,
        journal: Option<Journal<'a>>,
    ) -> Self {
        let mut state = Full::plain(workflow, settings);
        if let Some(journal) = journal {
            let _ = state.id.set(journal.run_id());
            state.journal = Some(Box::new(journal));
        }
        Run { state }
    }
}

impl<'a> Run<'a, Limits> {
    /// A run of `workflow` with its `settings` and the caller's `options`.
    #[inline]
    pub fn new(workflow: &'static str, settings: &Settings, options: RunOptions<'a>) -> Self {
        let id = OnceLock::new();
        let journal = options.store.map(|s| Box::new(Journal::new(s.0)));
        match options.run_id {
            Some(run_id) => {
                let _ = id.set(run_id);
            }
            // A journaled run's id must not repeat across processes.
            None if journal.is_some() => {
                let _ = id.set(crate::journal::unique_id());
            }
            None => {}
        }
        let token = OnceLock::new();
        let watched = match options.token {
            Some(t) => {
                let _ = token.set(t.child_token());
                true
            }
            None => false,
        };
        let mut deadline = None;
        if settings.timeout.is_some() || options.timeout.is_some() || options.deadline.is_some() {
            let now = Instant::now();
            let mut earliest = |at: Instant| {
                if deadline.is_none_or(|(d, _)| at < d) {
                    deadline = Some((at, at.saturating_duration_since(now)));
                }
            };
            if let Some(t) = settings.timeout {
                earliest(now + t);
            }
            if let Some(t) = options.timeout {
                earliest(now + t);
            }
            if let Some(d) = options.deadline {
                earliest(d);
            }
        }
        let permits = options
            .max_concurrency
            .map(usize::from)
            .or(settings.max_concurrency);
        let track = Track::new(workflow, options.observer, &id);
        Run {
            state: Full {
                id: ManuallyDrop::new(id),
                token: ManuallyDrop::new(token),
                watched,
                deadline,
                semaphore: permits.map(run_semaphore),
                shared: options.limit,
                journal,
                attempts: None,
                named: (options.limiters.is_some() || !options.map_concurrency.is_empty()).then(
                    || {
                        Box::new(Naming {
                            limiters: options.limiters,
                            map_concurrency: options.map_concurrency,
                        })
                    },
                ),
                track,
            },
        }
    }
}

impl<'a> Run<'a, Limits> {
    /// This run (a backend worker's run of one node) starts its node's retries at
    /// `attempts`' first attempt and tells `attempts` which one runs.
    pub fn with_attempts(
        mut self,
        attempts: Option<std::sync::Arc<crate::store::backend::Attempts>>,
    ) -> Self {
        self.state.attempts = attempts;
        self
    }
}

impl Run<'static, Limits> {
    /// A run of durable workflow `graph` that a backend keeps (see `store::backend`): its
    /// node calls go to the driver it is polled under. The backend enforces the workflow's
    /// timeout, so the run has no deadline of its own (a timer in the body would not be
    /// the backend's).
    pub fn driven(
        workflow: &'static str,
        settings: &Settings,
        options: RunOptions<'static>,
        graph: &'static crate::WorkflowGraph,
    ) -> Self {
        // The run's `max_concurrency` is taken by each node call while it runs elsewhere
        // (the journal holds it): the body's own gate takes none.
        let permits = options
            .max_concurrency
            .map(usize::from)
            .or(settings.max_concurrency);
        let settings = Settings {
            max_concurrency: None,
            timeout: None,
        };
        let options = RunOptions {
            timeout: None,
            deadline: None,
            store: None,
            max_concurrency: None,
            ..options
        };
        let mut run = Run::new(workflow, &settings, options);
        let id = run.id_text();
        run.state.journal = Some(Box::new(Journal::driven(&id, graph, permits)));
        run
    }
}

impl<'a, G: Gate> Run<'a, G> {
    /// A run of `workflow` with its `settings`, called without options.
    #[inline(always)]
    pub fn plain(workflow: &'static str, settings: &Settings) -> Self {
        Run {
            state: G::State::plain(workflow, settings),
        }
    }

    /// Records how the run ended (on its span, and for its observer).
    #[inline]
    pub fn finish<T>(&self, result: &Result<T, Error>) {
        if let Some(track) = self.state.track() {
            track.finish(result);
        }
    }

    /// A future of `node` (element `element`) that reports its span and events but takes no
    /// permits: a sub-workflow, whose own nodes take theirs.
    #[inline]
    pub fn watched<'r, K: Settle<F::Output>, F: Future + 'r>(
        &'r self,
        node: &'static NodeInfo,
        element: Option<usize>,
        settle: K,
        future: F,
    ) -> Named<'r, K, F> {
        Named::new(future, node, element, settle, self.state.track())
    }

    /// Reports that `node` was skipped: a value it needs was not produced.
    #[inline]
    pub fn skipped(&self, node: &'static NodeInfo) {
        if let Some(track) = self.state.track() {
            track.skipped(node);
        }
        if let Some(journal) = self.state.journal() {
            journal.skipped(node);
        }
    }

    /// The run's journal, for a run given a store.
    #[inline(always)]
    pub fn journal(&self) -> Option<&Journal<'a>> {
        self.state.journal()
    }

    /// The journal of a sub-workflow run as node `node` (element `element`) of this run.
    #[inline]
    pub fn scope(&self, node: &'static NodeInfo, element: Option<usize>) -> Option<Journal<'_>> {
        self.state.journal().map(|j| j.scope(node, element))
    }

    /// The run's id, as text.
    pub fn id_text(&self) -> String {
        self.id().to_string()
    }

    fn id(&self) -> &RunId {
        self.state.id()
    }

    fn token(&self) -> &CancellationToken {
        self.state.token()
    }

    /// The context of one attempt of `node` of `workflow`.
    pub fn context(
        &self,
        workflow: &'static str,
        node: &'static NodeInfo,
        element: Option<usize>,
        attempt: u32,
    ) -> RunContext {
        RunContext {
            workflow,
            run_id: self.id().clone(),
            node,
            element,
            attempt,
            token: self.token().clone(),
        }
    }

    /// Admits node `N` without policies (element `element` of a mapped node), its output
    /// settled by `K` (see [`Gate`], [`Settle`]).
    #[inline(always)]
    pub fn gate<'r, N: Listed, K: Settle<F::Output>, F: Future>(
        &'r self,
        element: Option<usize>,
        settle: K,
        future: F,
    ) -> Gated<'r, G, N, K, F> {
        Gated {
            future,
            hold: G::hold(self, N::INFO, element),
            settle,
            node: PhantomData,
        }
    }

    /// The permits one attempt needs: the node's own limit, then the run's.
    async fn permits<'l>(&'l self, node: Option<&'l ConcurrencyLimit>) -> Permits<'l> {
        let node = match node {
            Some(limit) => Some(Held::acquire(limit).await),
            None => None,
        };
        let full = self.state.full();
        let run = match full.and_then(|f| f.semaphore.as_ref()) {
            Some(s) => Some(match s.acquire().await {
                Ok(p) => p,
                Err(_) => unreachable!("flow: a run's semaphore is never closed"),
            }),
            None => None,
        };
        let shared = match full.and_then(|f| f.shared) {
            Some(limit) => Some(Held::acquire(limit).await),
            None => None,
        };
        Permits {
            _run: run,
            shared,
            node,
        }
    }

    /// How many elements of mapped node `node` may be in flight: the run's
    /// [`RunOptions::map_concurrency`](crate::RunOptions::map_concurrency) for it, else
    /// `default` (the workflow's).
    #[inline(always)]
    pub fn map_concurrency(
        &self,
        node: &'static NodeInfo,
        default: Option<usize>,
    ) -> Option<usize> {
        match self.state.full().and_then(|f| f.named.as_deref()) {
            None => default,
            Some(named) => named
                .map_concurrency
                .iter()
                .find(|(n, _)| n == node.name())
                .map_or(default, |(_, c)| Some(c.get())),
        }
    }

    /// The error of a run whose [`RunOptions::map_concurrency`](crate::RunOptions::map_concurrency)
    /// names a node that `graph` does not map.
    pub fn check_options(&self, graph: &'static crate::WorkflowGraph) -> Option<Error> {
        let named = self.state.full().and_then(|f| f.named.as_deref())?;
        let mapped: Vec<&str> = (0..graph.nodes().len())
            .filter(|&i| matches!(graph.step(i).shape(), crate::graph::Shape::Map { .. }))
            .map(|i| graph.nodes()[i].name())
            .collect();
        let (unknown, _) = named
            .map_concurrency
            .iter()
            .find(|(n, _)| !mapped.contains(&n.as_str()))?;
        let known = if mapped.is_empty() {
            "it maps no node".to_owned()
        } else {
            format!(
                "it maps {}",
                mapped
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Some(Error::invalid_options(
            graph.name(),
            None,
            format!(
                "`RunOptions::map_concurrency` names node `{unknown}`, which workflow `{}` does not map: {known}",
                graph.name()
            ),
        ))
    }

    /// Runs the workflow's body: catches panics, and ends it at the deadline or when the
    /// caller's token is cancelled.
    #[inline]
    pub fn guard<W: WorkflowName, T, F>(&self, body: F) -> Guarded<'_, 'a, F, G, W>
    where
        F: Future<Output = Result<T, Error>>,
    {
        Guarded {
            body: CatchUnwind { future: body },
            watch: G::watch(self),
            run: self,
            workflow: PhantomData,
        }
    }
}

pin_project_lite::pin_project! {
    /// A workflow's body under its run's guard (see [`Run::guard`]).
    pub struct Guarded<'r, 'a, F, G: Gate, W> {
        #[pin]
        body: CatchUnwind<F>,
        watch: G::Watch<'r>,
        // Its span, entered while the body is polled.
        run: &'r Run<'a, G>,
        // The workflow's name, for errors.
        workflow: PhantomData<fn() -> W>,
    }
}

pin_project_lite::pin_project! {
    /// The deadline and the caller's cancellation, when a run has them (boxed: most runs
    /// have neither, and the guard stays small).
    pub struct Watch<'r> {
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        #[pin]
        cancelled: Option<tokio_util::sync::WaitForCancellationFuture<'r>>,
        after: Duration,
    }
}

impl<T, F: Future<Output = Result<T, Error>>, G: Gate, W: WorkflowName> Future
    for Guarded<'_, '_, F, G, W>
{
    type Output = Result<T, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this
            .run
            .state
            .track()
            .and_then(Track::span)
            .map(tracing::Span::enter);
        // The caller's token and the deadline first: a run whose token is cancelled, or
        // whose deadline has passed, starts nothing more.
        if let Some(error) = G::poll_watch(this.watch, W::NAME, cx) {
            return Poll::Ready(Err(error));
        }
        match this.body.poll(cx) {
            Poll::Pending => {
                // A durable run commits what completed in this poll, in one transaction,
                // and polls again: the nodes waiting for it then return.
                if let Some(journal) = this.run.state.journal()
                    && journal.has_pending()
                    && let Err(error) = journal.flush(W::NAME)
                {
                    return Poll::Ready(Err(error));
                }
                Poll::Pending
            }
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(message)) => Poll::Ready(Err(Error::panicked(
                W::NAME,
                take_panicked_node(),
                message,
                1,
            ))),
        }
    }
}

/// A run's own `max_concurrency` semaphore.
fn run_semaphore(permits: usize) -> Box<Semaphore> {
    Box::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS)))
}

impl Full<'_> {
    /// Cancels the run's token (its nodes' contexts may hold clones) and drops its id.
    #[cold]
    #[inline(never)]
    fn release(&mut self) {
        if let Some(token) = self.token.take() {
            token.cancel();
        }
        drop(self.id.take());
    }
}

impl Drop for Full<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.token.get().is_some() || self.id.get().is_some() {
            self.release();
        }
    }
}

thread_local! {
    /// The innermost node whose poll a panic unwound through, until a catch takes it.
    static PANICKED: Cell<Option<&'static NodeInfo>> = const { Cell::new(None) };
}

fn take_panicked_node() -> Option<&'static NodeInfo> {
    PANICKED.with(Cell::take)
}

pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "Box<dyn Any>".to_string(),
        },
    }
}

/// Marks `node` as the one that panicked if a panic unwinds through it (and sets the flag
/// of what reports it).
struct PanicMark<'s>(&'static NodeInfo, Option<&'s AtomicBool>);

impl Drop for PanicMark<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Only reached while unwinding: on return the mark is forgotten.
        if let Some(flag) = self.1 {
            flag.store(true, Ordering::Relaxed);
        }
        mark_panicked(self.0);
    }
}

#[cold]
#[inline(never)]
fn mark_panicked(node: &'static NodeInfo) {
    PANICKED.with(|p| {
        if p.get().is_none() {
            p.set(Some(node));
        }
    });
}

/// What a node's future holds while someone may listen to its run: the run's track, and
/// from its first poll, its attempt's span and events.
pub struct Reports<'r> {
    // The run's track while this node may report; `None` when nobody listens (the fast
    // path checks this only).
    track: Option<&'r Track>,
    // The element's index, `NO_ELEMENT` for a node that is not mapped.
    element: usize,
    seen: Option<Box<Seen<'r>>>,
}

const NO_ELEMENT: usize = usize::MAX;

impl<'r> Reports<'r> {
    /// For element `element` (of a mapped node) of a run reporting to `track`.
    #[inline(always)]
    fn new(element: Option<usize>, track: Option<&'r Track>) -> Self {
        Reports {
            track: track.filter(|t| t.listening()),
            element: element.unwrap_or(NO_ELEMENT),
            seen: None,
        }
    }

    /// Polls `node`'s future, reporting it when someone listens.
    #[inline(always)]
    fn poll<K: Settle<F::Output>, F: Future>(
        &mut self,
        future: Pin<&mut F>,
        node: &'static NodeInfo,
        settle: &K,
        cx: &mut Context<'_>,
    ) -> Poll<K::Out> {
        if let Some(track) = self.track {
            return poll_seen::<K, F>(
                future,
                node,
                self.element,
                &mut self.track,
                track,
                &mut self.seen,
                settle,
                cx,
            );
        }
        match poll_marked(future, node, None, None, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => Poll::Ready(settle.settle(out, node)),
        }
    }
}

pin_project_lite::pin_project! {
    /// A node's future, named so that a panic inside it is reported as this node's, and,
    /// when someone listens to the run, reporting its attempt's span and events from its
    /// first poll.
    pub struct Named<'r, K, F> {
        #[pin]
        future: F,
        node: &'static NodeInfo,
        reports: Reports<'r>,
        settle: K,
    }
}

impl<'r, K, F> Named<'r, K, F> {
    /// Names `future` as `node`'s (element `element`'s, for a mapped node).
    #[inline(always)]
    pub fn new(
        future: F,
        node: &'static NodeInfo,
        element: Option<usize>,
        settle: K,
        track: Option<&'r Track>,
    ) -> Self {
        Named {
            future,
            node,
            reports: Reports::new(element, track),
            settle,
        }
    }
}

impl<K: Settle<F::Output>, F: Future> Future for Named<'_, K, F> {
    type Output = K::Out;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Out> {
        let this = self.project();
        this.reports.poll(this.future, this.node, this.settle, cx)
    }
}

/// Polls a node's future (inside `span`, if any), marking `node` (and setting `panicked`)
/// if a panic unwinds through it.
#[inline(always)]
fn poll_marked<F: Future>(
    future: Pin<&mut F>,
    node: &'static NodeInfo,
    panicked: Option<&AtomicBool>,
    span: Option<&tracing::Span>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    let mark = PanicMark(node, panicked);
    let polled = match span {
        Some(span) => span.in_scope(|| future.poll(cx)),
        None => future.poll(cx),
    };
    std::mem::forget(mark);
    polled
}

/// Polls a node of a run someone listens to: starts its report on the first poll, polls
/// inside its span, reports how it ends.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn poll_seen<'r, K: Settle<F::Output>, F: Future>(
    future: Pin<&mut F>,
    node: &'static NodeInfo,
    element: usize,
    reporting: &mut Option<&'r Track>,
    track: &'r Track,
    seen: &mut Option<Box<Seen<'r>>>,
    settle: &K,
    cx: &mut Context<'_>,
) -> Poll<K::Out> {
    if seen.is_none() {
        let element = (element != NO_ELEMENT).then_some(element);
        *seen = Seen::begin(track, node, element);
        if seen.is_none() {
            // Nobody wants this node after all: back to the fast path.
            *reporting = None;
        }
    }
    let polled = match seen.as_deref() {
        Some(watching) => poll_marked(
            future,
            node,
            Some(&watching.panicked),
            watching.span.as_ref().map(AttemptSpan::span),
            cx,
        ),
        None => poll_marked(future, node, None, None, cx),
    };
    match polled {
        Poll::Pending => Poll::Pending,
        Poll::Ready(out) => {
            let out = settle.settle(out, node);
            if let Some(watching) = seen.take() {
                watching.end(K::failure(&out));
            }
            Poll::Ready(out)
        }
    }
}

pin_project_lite::pin_project! {
    /// Turns a panic while polling `future` into `Err(message)`.
    pub struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(panic_message(payload))),
        }
    }
}

/// A node's retry policy, from `retry(...)`.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub max_attempts: u32,
    pub initial: Duration,
    pub factor: f64,
    pub max_delay: Duration,
    pub jitter: bool,
}

impl Retry {
    /// The delay after failed attempt `n` (1-based): `min(initial × factor^(n-1), max_delay)`,
    /// then, with jitter, a uniform draw from its upper half.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        let max = self.max_delay.as_secs_f64();
        let capped = if secs.is_finite() { secs.min(max) } else { max };
        let delay = Duration::from_secs_f64(capped.max(0.0));
        if self.jitter {
            delay / 2 + delay.mul_f64(random_unit() / 2.0)
        } else {
            delay
        }
    }
}

/// A uniform draw from `[0, 1)`, from the standard library's per-process random keys.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static DRAWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(DRAWS.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A node's policies, from `#[node(...)]`.
pub struct Policy {
    pub timeout: Option<Duration>,
    pub retry: Option<Retry>,
    pub rate_limit: Option<&'static RateLimiter>,
    pub limit: Option<&'static ConcurrencyLimit>,
    /// `rate_limit = "name"`: a limiter of the run's `Limiters`.
    pub rate_limit_name: Option<&'static str>,
    /// `limit = "name"`: a limit of the run's `Limiters`.
    pub limit_name: Option<&'static str>,
}

impl Policy {
    /// This policy, with the workflow's `defaults(...)` where it sets nothing of its own.
    pub fn with_defaults(&self, defaults: &Policy) -> Policy {
        Policy {
            timeout: self.timeout.or(defaults.timeout),
            retry: self.retry.or(defaults.retry),
            rate_limit: self.rate_limit.or(defaults.rate_limit),
            limit: self.limit.or(defaults.limit),
            rate_limit_name: self.rate_limit_name.or(defaults.rate_limit_name),
            limit_name: self.limit_name.or(defaults.limit_name),
        }
    }
}

enum Attempt<T, E> {
    Done(T),
    Failed(E),
    TimedOut(Duration),
    Panicked(String),
}

/// Runs a node with policies: each attempt takes its permits and a rate-limit start, runs
/// under the timeout (in its own span), and fails, times out or panics; failures are
/// retried as the policy says, with no permit held during backoff. `element` is the
/// element's index for a mapped node.
#[allow(clippy::too_many_arguments)]
pub async fn call<G, T, E, F, Fut, R>(
    run: &Run<'_, G>,
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    policy: &Policy,
    mut attempt_fn: F,
    mut retry_if: R,
) -> Result<T, Error>
where
    G: Gate,
    E: IntoNodeError,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    R: FnMut(&E) -> bool,
{
    let max = policy.retry.map_or(1, |r| r.max_attempts.max(1));
    // On a backend's worker, a node whose worker was lost goes on from the attempt that
    // was running (a lost worker is not one of the node's attempts).
    let attempts = match policy.retry {
        Some(_) => run.state.full().and_then(|f| f.attempts.as_deref()),
        None => None,
    };
    let first = attempts.map_or(1, |a| a.first().clamp(1, max));
    // A limiter named by a node is looked up in the run's `Limiters`, once.
    let (limit, rate_limit) = match (policy.limit_name, policy.rate_limit_name) {
        (None, None) => (policy.limit, policy.rate_limit),
        (limit_name, rate_name) => {
            let limiters = run
                .state
                .full()
                .and_then(|f| f.named.as_ref())
                .and_then(|n| n.limiters);
            let missing = |kind: &str, name: &str| {
                Error::invalid_options(
                    workflow,
                    Some(node),
                    format!(
                        "node `{}` takes the {kind} named `{name}` (`{kind} = \"{name}\"`), which the run was not given: hand the run its limiters with `RunOptions::new().limiters(&limiters)`, built with `Limiters::new().{kind}(\"{name}\", ...)`",
                        node.name()
                    ),
                )
            };
            let limit = match limit_name {
                Some(name) => match limiters.and_then(|l| l.get_limit(name)) {
                    Some(l) => Some(l),
                    None => return Err(missing("limit", name)),
                },
                None => policy.limit,
            };
            let rate_limit = match rate_name {
                Some(name) => match limiters.and_then(|l| l.get_rate_limit(name)) {
                    Some(l) => Some(l),
                    None => return Err(missing("rate_limit", name)),
                },
                None => policy.rate_limit,
            };
            (limit, rate_limit)
        }
    };
    let mut watch = None;
    let mut attempt = first;
    loop {
        let (outcome, span) = {
            let permits = run.permits(limit).await;
            if let Some(rate) = rate_limit {
                rate.acquire().await;
            }
            if let Some(a) = attempts {
                a.set(attempt);
            }
            if attempt == first {
                watch = run.state.track().and_then(|t| t.watch(node, element));
            } else if let Some(watch) = watch.as_mut() {
                watch.started(attempt);
            }
            let span = run
                .state
                .track()
                .and_then(|t| AttemptSpan::open(t, node, element, attempt));
            let future = {
                let _entered = span.as_ref().map(|s| s.span().enter());
                attempt_fn(attempt)
            };
            let future = InSpan {
                span: span.as_ref().map(AttemptSpan::span),
                future: Lending {
                    held: permits.lent(),
                    future: CatchUnwind { future },
                },
            };
            let finished = match policy.timeout {
                Some(limit) => tokio::time::timeout(limit, future).await.ok(),
                None => Some(future.await),
            };
            let outcome = match finished {
                None => Attempt::TimedOut(policy.timeout.unwrap_or_default()),
                Some(Ok(Ok(value))) => Attempt::Done(value),
                Some(Ok(Err(e))) => Attempt::Failed(e),
                Some(Err(message)) => {
                    take_panicked_node();
                    Attempt::Panicked(message)
                }
            };
            (outcome, span)
        };
        let close = |span: Option<AttemptSpan>, outcome, error: Option<&dyn std::fmt::Display>| {
            if let Some(span) = span {
                span.close(outcome, error);
            }
        };
        // The error that ends the node, or why this attempt failed before a retry.
        let failure = match outcome {
            Attempt::Done(value) => {
                close(span, "ok", None);
                if let Some(watch) = watch {
                    watch.finished();
                }
                return Ok(value);
            }
            Attempt::Failed(e) => {
                let last = attempt >= max || !retry_if(&e);
                let e = e.into_node_error();
                close(span, "failed", Some(&e));
                if last {
                    Err(Error::node_failed(workflow, node, e, attempt))
                } else {
                    Ok(watch
                        .as_ref()
                        .map(|_| (e.to_string(), ErrorKind::NodeFailed)))
                }
            }
            Attempt::TimedOut(after) => {
                close(
                    span,
                    "timed_out",
                    Some(&format_args!("timed out after {after:?}")),
                );
                if attempt >= max {
                    Err(Error::node_timed_out(workflow, node, after, attempt))
                } else {
                    Ok(watch.as_ref().map(|_| {
                        (
                            format!("timed out after {after:?}"),
                            ErrorKind::NodeTimedOut,
                        )
                    }))
                }
            }
            Attempt::Panicked(message) => {
                close(span, "panicked", Some(&format_args!("panicked: {message}")));
                Err(Error::panicked(workflow, Some(node), message, attempt))
            }
        };
        let reason = match failure {
            Err(error) => {
                if let Some(watch) = watch {
                    watch.failed(&error);
                }
                return Err(error);
            }
            Ok(reason) => reason,
        };
        let delay = policy.retry.map(|r| r.delay(attempt));
        if let (Some(watch), Some(reason)) = (watch.as_mut(), reason) {
            watch.retrying(attempt, delay.unwrap_or_default(), reason.0, reason.1);
        }
        if let Some(a) = attempts {
            // Lost during the backoff: the next attempt is the one to run.
            a.set(attempt + 1);
        }
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        attempt += 1;
    }
}

pin_project_lite::pin_project! {
    /// A future polled inside a span, when there is one.
    struct InSpan<'s, F> {
        span: Option<&'s tracing::Span>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for InSpan<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        match this.span {
            Some(span) => span.in_scope(|| this.future.poll(cx)),
            None => this.future.poll(cx),
        }
    }
}

/// A spawned node's task, aborted if the run drops it; a panic in it resumes here, where
/// the node's policy catches it.
pub struct Spawned<T>(tokio::task::JoinHandle<T>);

/// Runs a node's future as its own task.
pub fn spawn<F>(future: F) -> Spawned<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Spawned(tokio::spawn(in_current_span(future)))
}

/// The future, in the current span when a subscriber may want it (a spawned node's body
/// then runs inside its attempt's span).
fn in_current_span<F: Future>(future: F) -> tracing::instrument::Instrumented<F> {
    use tracing::Instrument as _;
    let span = if tracing::level_enabled!(tracing::Level::INFO) {
        tracing::Span::current()
    } else {
        tracing::Span::none()
    };
    future.instrument(span)
}

/// Runs a node's body on the blocking pool.
pub fn spawn_blocking<T, F>(body: F) -> Spawned<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = if tracing::level_enabled!(tracing::Level::INFO) {
        tracing::Span::current()
    } else {
        tracing::Span::none()
    };
    Spawned(tokio::task::spawn_blocking(move || span.in_scope(body)))
}

/// Runs an async node's body on the blocking pool, driving it there.
pub fn block_on_blocking<F>(future: F) -> Spawned<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    let future = in_current_span(future);
    Spawned(tokio::task::spawn_blocking(move || handle.block_on(future)))
}

impl<T> Future for Spawned<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            Poll::Ready(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Poll::Ready(Err(_)) => panic!("the node's task was cancelled"),
        }
    }
}

impl<T> Drop for Spawned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The output of a node the run keeps beyond its body: one with a compensation, or one that
/// may fail without failing the run (`continue_on_error`). Stamped with its completion.
pub struct Kept<T>(Slot<(u32, T)>);

impl<T> Kept<T> {
    /// An empty slot.
    #[inline(always)]
    pub const fn new() -> Self {
        Kept(Slot::new())
    }

    /// Stores the node's output, stamped.
    #[inline]
    pub fn keep(&self, stamp: u32, value: T) {
        self.0.set((stamp, value));
    }

    /// The stored output; its consumers run after it is stored.
    #[inline]
    pub fn value(&self) -> &T {
        match self.0.get() {
            Some((_, value)) => value,
            None => unreachable!("flow: a node's output was read before it was stored"),
        }
    }

    /// Waits until the output is stored (inside a dataflow join, see `Slot::wait`).
    #[inline]
    pub async fn wait(&self) -> &T {
        &self.0.wait().await.1
    }

    /// The completion stamp, 0 if the node did not complete.
    pub fn stamp(&self) -> u32 {
        self.0.get().map_or(0, |(s, _)| *s)
    }

    /// The output, if the node completed.
    pub fn get(&self) -> Option<&T> {
        self.0.get().map(|(_, v)| v)
    }

    /// Moves the output out.
    pub fn take(&mut self) -> Option<T> {
        self.0.take().map(|(_, v)| v)
    }
}

impl<T> Kept<Result<T, Error>> {
    /// The output if the node succeeded.
    pub fn get_ok(&self) -> Option<&T> {
        self.get().and_then(|r| r.as_ref().ok())
    }

    /// Moves the error out if the node failed, with its stamp.
    pub fn take_err(&mut self) -> Option<(u32, Error)> {
        match self.0.take() {
            Some((stamp, Err(e))) => Some((stamp, e)),
            Some(kept) => {
                self.0.set(kept);
                None
            }
            None => None,
        }
    }
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Moves a kept output out as the workflow's output; a failed `continue_on_error` node's
/// error fails the run here.
pub fn kept_output<T>(kept: Option<T>) -> T {
    match kept {
        Some(value) => value,
        None => unreachable!("flow: the workflow's output was never stored"),
    }
}

/// A run that failed: its error, the other errors to attach, and the compensations to run.
pub struct Failure {
    error: Error,
    others: Vec<(u32, Error)>,
}

impl Failure {
    /// The error that ended the run.
    pub fn new(error: Error) -> Self {
        Failure {
            error,
            others: Vec::new(),
        }
    }

    /// An error that happened before the run ended (a tolerated node failure), stamped.
    pub fn other(&mut self, other: Option<(u32, Error)>) {
        if let Some(other) = other {
            self.others.push(other);
        }
    }

    /// Runs one compensation; its failure or panic is attached to the run's error.
    pub async fn compensate<E, F>(&mut self, node: &'static NodeInfo, compensation: F)
    where
        E: IntoNodeError,
        F: Future<Output = Result<(), E>>,
    {
        let workflow = self.error.workflow();
        let failure: Option<BoxError> = match (CatchUnwind {
            future: compensation,
        })
        .await
        {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.into_node_error()),
            Err(message) => {
                take_panicked_node();
                Some(message.into())
            }
        };
        if let Some(source) = failure {
            self.error
                .push_compensation(Error::compensation_failed(workflow, node, source));
        }
    }

    /// Runs one compensation of a durable workflow's run: once, when its run has a
    /// journal (a recorded compensation is not run again; its recorded failure is attached
    /// again), recorded as soon as it ends.
    pub async fn compensate_journaled<E, F, A>(
        &mut self,
        journal: Option<&Journal<'_>>,
        node: &'static NodeInfo,
        compensation: F,
        output: A,
    ) where
        E: IntoNodeError,
        F: Future<Output = Result<(), E>>,
        A: FnOnce() -> Result<String, serde_json::Error>,
    {
        let Some(journal) = journal else {
            return self.compensate(node, compensation).await;
        };
        if journal.is_driven() {
            // Run by the backend, on the node's recorded output (see `store::backend`).
            drop(compensation);
            let workflow = self.error.workflow();
            let answer = match output() {
                Ok(json) => crate::store::backend::compensate(journal, workflow, node, json).await,
                Err(e) => Err(Error::undecodable(
                    workflow,
                    Some(node),
                    &format!("the output of node `{}`, to compensate", node.name()),
                    node.output().unwrap_or("()"),
                    e.to_string(),
                )),
            };
            if let Err(error) = answer {
                self.error.push_compensation(error);
            }
            return;
        }
        if let Some(recorded) = journal.compensated(node) {
            if let Some(error) = recorded {
                self.error.push_compensation(error);
            }
            return;
        }
        // The failure that ended the run is committed before anything is undone.
        if let Err(error) = journal.flush(self.error.workflow()) {
            self.error.push_compensation(error);
            return;
        }
        let before = self.error.compensation_errors().len();
        let started = std::time::SystemTime::now();
        self.compensate(node, compensation).await;
        let failed = self.error.compensation_errors().get(before);
        if let Err(error) = journal.record_compensation(node, failed, started) {
            self.error.push_compensation(error);
        }
    }

    /// The run's error, with the other errors attached in the order they happened.
    pub fn into_error(mut self) -> Error {
        // Tolerated failures happened before the error that ended the run, and before the
        // failures at that same instant that it already holds.
        self.others.sort_by_key(|(stamp, _)| *stamp);
        self.error
            .prepend_others(self.others.into_iter().map(|(_, other)| other));
        self.error
    }
}

/// The order in which to compensate: stamps of completed nodes, latest first; 0 (not
/// completed) left out.
pub fn compensation_order<const N: usize>(stamps: [u32; N]) -> impl Iterator<Item = usize> {
    let mut order: [(u32, usize); N] = std::array::from_fn(|k| (stamps[k], k));
    order.sort_unstable_by_key(|&(stamp, _)| std::cmp::Reverse(stamp));
    order.into_iter().filter(|(s, _)| *s > 0).map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(jitter: bool) -> Retry {
        Retry {
            max_attempts: 6,
            initial: Duration::from_millis(100),
            factor: 3.0,
            max_delay: Duration::from_secs(2),
            jitter,
        }
    }

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let r = retry(false);
        let delays: Vec<_> = (1..=5).map(|n| r.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 300, 900, 2000, 2000]);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let r = retry(true);
        for n in 1..=5 {
            let full = retry(false).delay(n);
            for _ in 0..100 {
                let d = r.delay(n);
                assert!(
                    d >= full / 2 && d <= full,
                    "{d:?} outside [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn compensation_runs_latest_first_and_skips_the_incomplete() {
        let order: Vec<_> = compensation_order([3, 0, 5, 1]).collect();
        assert_eq!(order, vec![2, 0, 3]);
    }
}
