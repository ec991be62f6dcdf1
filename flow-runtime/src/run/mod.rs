//! Per-run options, run ids, and the context a node can read.

pub(crate) mod exec;
pub(crate) mod limit;
pub(crate) mod map;

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, Observer};
use crate::store::Store;
use crate::{ConcurrencyLimit, Limiters, NodeInfo};

/// Identifies one run of a workflow: given in [`RunOptions::run_id`], or numbered by the
/// process (`run-1`, `run-2`, ...).
#[derive(Clone)]
pub struct RunId(Repr);

#[derive(Clone)]
enum Repr {
    Seq(u64),
    Text(Arc<str>),
}

impl RunId {
    /// A run id with the given text.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        RunId(Repr::Text(id.into()))
    }

    /// The next id of this process's sequence.
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        RunId(Repr::Seq(NEXT.fetch_add(1, Ordering::Relaxed)))
    }
}

/// Run ids are equal when they read the same: `RunId::new("run-3")` equals the third id of
/// the process's sequence.
impl PartialEq for RunId {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Seq(a), Repr::Seq(b)) => a == b,
            (Repr::Text(a), Repr::Text(b)) => a == b,
            (Repr::Seq(n), Repr::Text(t)) | (Repr::Text(t), Repr::Seq(n)) => {
                t.strip_prefix("run-") == Some(n.to_string().as_str())
            }
        }
    }
}

impl Eq for RunId {}

impl std::hash::Hash for RunId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        struct Feed<'h, H>(&'h mut H);
        impl<H: std::hash::Hasher> fmt::Write for Feed<'_, H> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.write(s.as_bytes());
                Ok(())
            }
        }
        let _ = fmt::write(&mut Feed(state), format_args!("{self}"));
        state.write_u8(0xff);
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Seq(n) => write!(f, "run-{n}"),
            Repr::Text(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({self})")
    }
}

impl serde::Serialize for RunId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RunId {
    /// A run id deserializes to the one that was serialized.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let seq = text
            .strip_prefix("run-")
            .filter(|n| !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok());
        Ok(match seq {
            Some(n) => RunId(Repr::Seq(n)),
            None => RunId::new(text),
        })
    }
}

impl From<&str> for RunId {
    fn from(id: &str) -> Self {
        RunId::new(id)
    }
}

impl From<String> for RunId {
    fn from(id: String) -> Self {
        RunId::new(id)
    }
}

/// Options for one run, given to the `run` function every workflow has beside its plain
/// function: `my_workflow::run(options, inputs...)`.
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::time::Duration;
/// use flow_runtime::{node, workflow, CancellationToken, RunOptions};
///
/// pub struct Doubled(u32);
///
/// #[node]
/// async fn double(x: &u32) -> Doubled { Doubled(x * 2) }
///
/// #[workflow(double)]
/// async fn twice(x: u32) -> Doubled;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), flow_runtime::Error> {
/// let token = CancellationToken::new();
/// let options = RunOptions::new()
///     .run_id("order-42")
///     .timeout(Duration::from_secs(5))
///     .max_concurrency(NonZeroUsize::new(2).unwrap())
///     .cancellation_token(token.clone());
/// let out = twice::run(options, 21).await?;
/// assert_eq!(out.0, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "run options do nothing until they are given to a run: `workflow::run(options, ...)`"]
pub struct RunOptions<'a> {
    pub(crate) run_id: Option<RunId>,
    pub(crate) token: Option<CancellationToken>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_concurrency: Option<NonZeroUsize>,
    pub(crate) limit: Option<&'a ConcurrencyLimit>,
    pub(crate) observer: Option<Watcher>,
    pub(crate) store: Option<StoreRef<'a>>,
    pub(crate) limiters: Option<&'a Limiters>,
    pub(crate) map_concurrency: Vec<(String, NonZeroUsize)>,
}

/// A run's store, as its options hold it.
#[derive(Clone, Copy)]
pub struct StoreRef<'a>(pub(crate) &'a dyn Store);

impl fmt::Debug for StoreRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Store")
    }
}

/// A run's observer, shared by the run and its options.
#[derive(Clone)]
pub struct Watcher(pub(crate) Arc<dyn Observer>);

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

impl<'a> RunOptions<'a> {
    /// No options: the workflow's own settings apply.
    pub fn new() -> Self {
        Self::default()
    }

    /// The run's id, which nodes read from their [`RunContext`].
    pub fn run_id(mut self, id: impl Into<RunId>) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// Cancelling `token` ends the run promptly with [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled).
    /// Nodes see a child of this token in their [`RunContext`]; the run never cancels
    /// `token` itself.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// The run must finish within `timeout` of its start, or it fails with
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut). The earliest of this, the
    /// [`deadline`](Self::deadline) and the workflow's own `timeout` applies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The run must finish by `deadline` (on tokio's clock).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// At most `n` node bodies of this run at once, instead of the workflow's
    /// `max_concurrency`.
    pub fn max_concurrency(mut self, n: NonZeroUsize) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// The named limiters (built at run time) that the run's nodes name with
    /// `#[node(limit = "name")]` and `#[node(rate_limit = "name")]`.
    pub fn limiters(mut self, limiters: &'a Limiters) -> Self {
        self.limiters = Some(limiters);
        self
    }

    /// At most `n` elements of the workflow's `map(node, ...)` in flight at once (the node
    /// by its name), instead of the `concurrency` the workflow gives it. A name the
    /// workflow does not map fails the run at once with
    /// [`ErrorKind::InvalidOptions`](crate::ErrorKind::InvalidOptions). A run that a
    /// backend such as Temporal keeps does not carry it: give such a map its concurrency
    /// from a workflow input, `map(node, concurrency = input)`.
    pub fn map_concurrency(mut self, node: impl Into<String>, n: NonZeroUsize) -> Self {
        let node = node.into();
        self.map_concurrency.retain(|(m, _)| *m != node);
        self.map_concurrency.push((node, n));
        self
    }

    /// Every node body of this run also holds a permit of `limit`, which other runs may share.
    pub fn limit(mut self, limit: &'a ConcurrencyLimit) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Reports the run's [`Event`](crate::events::Event)s to `observer` as they happen: a
    /// closure, a [`Recorder`](crate::events::Recorder), the sender of an
    /// [`events::channel`](crate::events::channel), or an `Arc` of any observer. See
    /// [`events`](crate::events) for the order the events come in.
    pub fn observe(mut self, observer: impl Observer) -> Self {
        self.observer = Some(Watcher(Arc::new(observer)));
        self
    }

    /// Calls `f` with each of the run's events as it happens: [`observe`](Self::observe)
    /// for a closure, whose argument type Rust then infers
    /// (`.on_event(|e| println!("{}", e.kind.name()))`). It replaces any observer given
    /// before; to keep several, give one observer that calls each.
    pub fn on_event(self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.observe(f)
    }

    /// Journals the run in `store` (a [`SqliteStore`](crate::store::SqliteStore), say):
    /// every node that completes is recorded before its consumers start, and calling the
    /// same [`run_id`](Self::run_id) again (after a crash, in another process) continues
    /// the run without running again what completed. Only a `#[workflow(..., durable)]`
    /// takes a store: any other workflow given one fails at once with
    /// [`ErrorKind::NotDurable`](crate::ErrorKind::NotDurable). A durable run needs a run id.
    pub fn store(mut self, store: &'a dyn Store) -> Self {
        self.store = Some(StoreRef(store));
        self
    }
}

/// What a node can know about the run it is part of: the workflow, the run id, itself, its
/// attempt, and the run's cancellation token.
///
/// A node reads it by taking a `&RunContext` parameter, which is not a graph dependency:
///
/// ```
/// use flow_runtime::{node, RunContext};
///
/// pub struct Greeting(String);
///
/// #[node]
/// async fn greet(name: &String, ctx: &RunContext) -> Greeting {
///     Greeting(format!("{name} from {} (attempt {})", ctx.node_name(), ctx.attempt()))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Called on its own, as in a unit test:
/// let g = greet(&"Ada".into(), &RunContext::detached()).await;
/// assert_eq!(g.0, "Ada from detached (attempt 1)");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RunContext {
    pub(crate) workflow: &'static str,
    pub(crate) run_id: RunId,
    pub(crate) node: &'static NodeInfo,
    pub(crate) element: Option<usize>,
    pub(crate) attempt: u32,
    pub(crate) token: CancellationToken,
}

static DETACHED: NodeInfo = NodeInfo::__new(
    "detached",
    "detached",
    crate::graph::Location::__new(module_path!(), file!(), line!(), column!()),
    &[],
    None,
    "()",
    false,
    crate::graph::NodeTraits::__new(
        false, false, None, 1, false, false, false, false, false, false,
    ),
);

impl RunContext {
    /// A context outside any run, for calling a node on its own (in a unit test, say):
    /// workflow and node `detached`, a new run id, attempt 1, a token nobody cancels.
    pub fn detached() -> Self {
        RunContext {
            workflow: "detached",
            run_id: RunId::next(),
            node: &DETACHED,
            element: None,
            attempt: 1,
            token: CancellationToken::new(),
        }
    }

    /// The name of the workflow being run.
    pub fn workflow(&self) -> &'static str {
        self.workflow
    }

    /// The run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The name of the node being run (as [`workflow`](Self::workflow) names the workflow).
    pub fn node(&self) -> &'static str {
        self.node.name()
    }

    /// The description of the node being run: its function, module, source location and
    /// options.
    pub fn node_info(&self) -> &'static NodeInfo {
        self.node
    }

    /// The same as [`node`](Self::node).
    #[doc(hidden)]
    pub fn node_name(&self) -> &'static str {
        self.node.name()
    }

    /// The element this call runs, for an element of a mapped node (`map(node)`).
    pub fn element(&self) -> Option<usize> {
        self.element
    }

    /// A key that names this node's work in this run, the same on every attempt and after
    /// the run resumes in another process: `run-id/node` (`run-id/node[3]` for element 3 of
    /// a mapped node). Nodes run at least once (a node in flight when its process dies
    /// runs again when its run resumes), so a node with an external effect (a charge, an
    /// email) should pass this key to the service it calls, which can then do the effect
    /// once.
    pub fn idempotency_key(&self) -> String {
        match self.element {
            Some(i) => format!("{}/{}[{i}]", self.run_id, self.node.name()),
            None => format!("{}/{}", self.run_id, self.node.name()),
        }
    }

    /// Which attempt this is: 1, then 2, ... when the node retries.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The run's cancellation token: cancelled when the run is cancelled, times out, fails,
    /// or is dropped. Long or blocking work should watch it.
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether the run has been cancelled (or has ended).
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}
