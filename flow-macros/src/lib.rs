//! The procedural macros of `flow`: [`macro@node`] and [`macro@workflow`].
//!
//! Depend on `flow-runtime`, which re-exports both and holds everything the generated code
//! calls. The crate is split as parse → analyse → generate: `parse` reads the attributes
//! and signatures into small structures that keep the user's tokens, `analyse` builds and
//! checks the graph and plans its joins, and `generate` writes the code. Errors are
//! collected in `errors::Errors` and reported together, each at the tokens it is about.

use proc_macro::TokenStream;

mod analyse;
mod errors;
mod generate;
mod parse;
mod paths;
mod scope;
mod types;

/// Marks an `async fn` as a workflow step.
///
/// ```ignore
/// #[node]
/// async fn fetch(req: &Request) -> Result<Items, FetchError> { /* ... */ }
/// ```
///
/// Each parameter is a shared reference `&T` to a value the workflow provides: a workflow
/// input of type `T`, or the output of the one node that returns `T` or `Result<T, E>`. The
/// node provides its return type (`Items` above) to the nodes that take `&Items`. A node
/// returning `()` or `Result<(), E>` provides nothing and runs for its effects. A node
/// returning a tuple `(A, B)` provides `A` and `B` on their own edges (and the tuple whole);
/// a node returning `Option<T>`, or a tuple element `Option<T>`, provides `T` only when it
/// is `Some`.
/// `E` must convert into `Box<dyn std::error::Error + Send + Sync>`: any
/// `E: std::error::Error + Send + Sync + 'static`, `String`, or `anyhow::Error`.
///
/// The function is left as written, so it stays callable and testable on its own. Beside it
/// the macro emits, under the same name:
///
/// - a hidden `macro_rules!` named `fetch` in the macro namespace, which hands the node's
///   signature to `#[workflow]`, and a hidden uninhabited type `fetch` in the type
///   namespace, whose `INFO` constant is the node's
///   [`NodeInfo`](../flow_runtime/struct.NodeInfo.html) (so `use path::fetch;` imports all
///   three with the function);
/// - a registry entry, so `flow_runtime::registry::nodes()` lists the node.
///
/// A node can be defined in any module or crate and listed in any number of workflows.
///
/// A parameter may also be `Option<&T>` or `Result<&T, &flow_runtime::NodeError>`, to
/// receive the failure of a `continue_on_error` provider, or `&RunContext`, the run's
/// context (workflow, run id, node, attempt, cancellation token), which is not a graph
/// dependency.
///
/// # Options
///
/// - `timeout = "250ms"`: per attempt (units `ms`, `s`, `m`, `h`; not zero).
/// - `retry(max_attempts = N, initial = "100ms", factor = 2.0, max_delay = "10s", jitter = false, retry_if = path)`:
///   `N` attempts in all; the delay after attempt `n` is `min(initial × factor^(n-1), max_delay)`;
///   `retry_if: fn(&E) -> bool` makes the other errors final.
/// - `continue_on_error`: a failure is handed to the consumers (which take `Option<&T>` or
///   `Result<&T, &NodeError>`) instead of ending the run.
/// - `compensate = path`: `async fn(&T) -> Result<(), E>`, run on the output if the run
///   fails after the node completed.
/// - `rate_limit = PATH` (a `static` `RateLimiter`), `limit = PATH` (a `static`
///   `ConcurrencyLimit`): shared by every node, workflow and run that names them; held for
///   one attempt. `limit = "name"` and `rate_limit = "name"` name a limiter of the run's
///   `Limiters` (built at run time, handed to the run with `RunOptions::limiters`).
/// - `blocking` (runs on the blocking pool; may be a plain `fn`) or `spawn` (runs as its own
///   task): the node gets clones of its inputs.
/// - `name = "..."`: the node's name in errors, graphs and the registry (the function's name
///   by default).
/// - `after(send_email, audit)`: the node starts only once those nodes (which the workflow
///   must list) have ended, without taking their values.
///
/// Unset `retry` settings default to `initial = "100ms"`, `factor = 2.0`,
/// `max_delay = "10s"`, `jitter = false`, every error retried.
///
/// The paths in options resolve where the node is defined. A node without options is awaited
/// directly by the workflow; only the options a node uses cost anything.
///
/// # Errors
///
/// Compile errors, at the offending tokens: a function that is not `async` (unless
/// `blocking`), takes `self`, is generic, has a pattern parameter or a parameter that is not
/// a shared reference, returns a borrowed or `impl Trait` type, or an unknown, malformed or
/// out-of-range option.
#[proc_macro_attribute]
pub fn node(args: TokenStream, item: TokenStream) -> TokenStream {
    generate::node(args.into(), item.into()).into()
}

/// Gathers nodes into a workflow whose edges come from the nodes' parameter types.
///
/// ```ignore
/// #[workflow(fetch, jira, slack, merge)]
/// pub async fn enrich(req: Request) -> Report;
/// ```
///
/// The attribute goes on a body-less `async fn` declaration. Its parameters are the
/// workflow's inputs (by value, `T`, or by reference, `&T`; either provides `T`), and its
/// return type names the output, which exactly one listed node must provide. The macro
/// replaces the declaration with a function of the same name and inputs returning
/// `Result<Report, flow_runtime::Error>`, plus a type `enrich` (uninhabited, in the type
/// namespace, so a backend can be given the workflow as `register::<enrich>()`) with
/// `enrich::graph()`, the static
/// [`WorkflowGraph`](../flow_runtime/struct.WorkflowGraph.html), and
/// `enrich::run(options, req)`, and a registry entry.
///
/// # What the body does
///
/// Every node runs exactly once, as soon as its own inputs exist. The graph is split at
/// compile time into sequences and joins: a node that every later node depends on runs
/// before them, and parts with no edges between them are joined in the caller's task.
/// The body is written once, as `enrich::__flow_body`, generic over the gate that admits
/// its nodes (`Open` for the plain function when nobody listens, `Watched` when someone
/// may, `Limits` under `run`'s options), so each mistake in it is reported once. A diamond
/// `fetch → {jira, slack} → merge` expands to a body of this shape:
///
/// ```ignore
/// let __i0 = req;
/// let items = rank(run.gate::<fetch, _, _>(None, Checked(WORKFLOW), fetch(__i0)).await, 0)?;
/// let ((jira_out,), (slack_out,)) = try_join(
///     async { Ok((jira(&items).await,)) },
///     async { Ok((slack(&items).await,)) },
/// ).await?;
/// let report = merge(&items, &jira_out, &slack_out).await;
/// Ok(report)
/// ```
///
/// where `try_join` is a join written out inline. Graphs that are not series-parallel get one
/// join in which each node waits for exactly its own inputs. There is no spawning, boxing or
/// per-node allocation. The first error ends the run: nodes not started never start, and
/// in-flight ones are dropped. A panicking node is reported as an error naming it. If the
/// run fails, the compensations of completed nodes run in reverse completion order.
///
/// Beside the function, `enrich::run(options, req)` runs the workflow with per-call
/// `RunOptions` (run id, cancellation token, timeout or deadline, concurrency limits).
///
/// # Options
///
/// - `max_concurrency = N`: at most `N` node bodies of one run in flight (`N ≥ 1`).
/// - `timeout = "30s"`: the whole run's limit.
/// - `name = "..."`: the workflow's name in errors, graphs and the registry (the function's
///   name by default).
/// - `durable`: runs given a store are journaled.
/// - `defaults(timeout = "5s", retry(max_attempts = 3), continue_on_error)`: the options of
///   every node that does not set its own (`continue_on_error` only where every consumer can
///   take the failure).
/// - `after(finalize: send_email, audit)`: `finalize` starts only once `send_email` and
///   `audit` have ended, without taking their values.
///
/// # Errors
///
/// Compile errors, each at the tokens it is about: a parameter type nothing provides (at the
/// parameter, listing what the workflow provides); two providers of one type; a dependency
/// cycle (naming its nodes in order); an output no node provides; a listed name that is not
/// a node; a node listed twice; a declaration that is not a body-less `async fn`; an unknown
/// or malformed option. The function is still emitted with its declared signature, so the
/// rest of the crate compiles without follow-on errors.
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    generate::workflow(args.into(), item.into()).into()
}

/// The end of a workflow's signature-gathering chain. Not a public API.
#[doc(hidden)]
#[proc_macro]
pub fn __workflow(input: TokenStream) -> TokenStream {
    generate::expand(input.into()).into()
}
