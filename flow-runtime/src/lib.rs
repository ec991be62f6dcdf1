//! Workflows as plain async functions.
//!
//! Mark each step with [`#[node]`](node), then gather nodes into a [`#[workflow]`](workflow).
//! A node that takes `&Items` depends on the node that returns `Items`; the graph is checked
//! when the crate compiles, and the generated workflow starts every node as soon as its own
//! inputs are ready, joining independent nodes in the caller's task.
//!
//! ```
//! use flow_runtime::{node, workflow};
//!
//! pub struct Request(u32);
//! pub struct Items(Vec<u32>);
//! pub struct Jira(usize);
//! pub struct Slack(usize);
//! #[derive(Debug, PartialEq)]
//! pub struct Report(String);
//!
//! #[derive(Debug)]
//! pub struct FetchError;
//! impl std::fmt::Display for FetchError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("fetch failed")
//!     }
//! }
//! impl std::error::Error for FetchError {}
//!
//! #[node]
//! async fn fetch(req: &Request) -> Result<Items, FetchError> {
//!     Ok(Items((0..req.0).collect()))
//! }
//! #[node]
//! async fn jira(items: &Items) -> Jira { Jira(items.0.len()) }
//! #[node]
//! async fn slack(items: &Items) -> Slack { Slack(items.0.len() * 2) }
//! #[node]
//! async fn merge(items: &Items, j: &Jira, s: &Slack) -> Report {
//!     Report(format!("{} items, {} issues, {} messages", items.0.len(), j.0, s.0))
//! }
//!
//! /// Enrich one request from two sources at once.
//! #[workflow(fetch, jira, slack, merge)]
//! pub async fn enrich(req: Request) -> Report;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), flow_runtime::Error> {
//!     let report = enrich(Request(3)).await?;
//!     assert_eq!(report, Report("3 items, 3 issues, 6 messages".into()));
//!     assert_eq!(enrich::graph().nodes().len(), 4);
//!     Ok(())
//! }
//! ```
//!
//! # Shapes
//!
//! `map(node, concurrency = N)` runs a node written for one `&T` once per element of a
//! `Vec<T>`; a node returning `Option<T>` provides `T` only when it returns `Some` (nodes
//! needing it are skipped otherwise); a consumer taking `&[T]` receives the `T` of every
//! producer in list order; `race(a, b)` takes the first member that succeeds; and a workflow
//! can be listed as a node of another.
//!
//! ```
//! use flow_runtime::{node, workflow};
//!
//! pub struct Order { pub lines: Vec<Line>, pub express: bool }
//! #[derive(Clone)]
//! pub struct Line { pub price: u32, pub qty: u32 }
//! pub struct Amount(u32);
//! pub struct Express;
//! pub struct Fee(u32);
//! pub struct Quote(u32);
//! #[derive(Debug, PartialEq)]
//! pub struct Total(u32);
//!
//! #[node]
//! async fn lines(order: &Order) -> Vec<Line> { order.lines.clone() }
//! #[node]
//! async fn amount(line: &Line) -> Amount { Amount(line.price * line.qty) }
//! #[node]
//! async fn express(order: &Order) -> Option<Express> { order.express.then_some(Express) }
//! #[node]
//! async fn express_fee(_e: &Express) -> Fee { Fee(15) }   // runs only for express orders
//! #[node]
//! async fn fast_quote(_o: &Order) -> Result<Quote, String> { Err("busy".into()) }
//! #[node]
//! async fn slow_quote(_o: &Order) -> Result<Quote, String> { Ok(Quote(5)) }
//! #[node]
//! async fn total(amounts: &[Amount], fee: Option<&Fee>, q: &Quote) -> Total {
//!     Total(amounts.iter().map(|a| a.0).sum::<u32>() + fee.map_or(0, |f| f.0) + q.0)
//! }
//!
//! #[workflow(
//!     lines,
//!     map(amount, concurrency = 8),
//!     express,
//!     express_fee,
//!     race(fast_quote, slow_quote),
//!     total
//! )]
//! pub async fn price(order: Order) -> Total;
//!
//! /// A workflow listed as a node: `price` takes `&Order` here.
//! pub struct Priced(u32);
//! #[node]
//! async fn priced(t: &Total) -> Priced { Priced(t.0) }
//! #[workflow(price, priced)]
//! pub async fn checkout(order: Order) -> Priced;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), flow_runtime::Error> {
//! let lines = vec![Line { price: 10, qty: 2 }, Line { price: 3, qty: 1 }];
//! let order = Order { lines: lines.clone(), express: false };
//! assert_eq!(price(order).await?, Total(20 + 3 + 5));
//! let order = Order { lines, express: true };
//! assert_eq!(checkout(order).await?.0, 20 + 3 + 15 + 5);
//! # Ok(())
//! # }
//! ```
//!
//! # Durable runs
//!
//! A `#[workflow(..., durable)]` run given a store (`RunOptions::new().run_id(id).store(&store)`)
//! survives its process: every node that completes is recorded in the store before its
//! consumers start, and the same call (or `workflow::resume`) in a new process continues
//! the run without running again what completed. See [`store`].
//!
//! See the crate's README for the runtime contract and the compile errors.

#![warn(missing_docs)]

// The parts: a workflow's graph and its pictures; a run and its policies; observing runs;
// the stores of durable runs; the command line.
#[cfg(feature = "cli")]
pub mod cli;
pub mod error;
pub mod graph;
mod observe;
#[cfg(feature = "registry")]
pub mod registry;
mod run;
pub mod store;

pub use observe::events;
use observe::report;
use run::{exec, limit, map};
use store::journal;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's code, compiled and run as doctests: what it shows is what works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use error::{BoxError, Error, ErrorKind, NodeError};
pub use events::Recorder;
pub use flow_macros::{node, workflow};
pub use graph::{NodeInfo, WorkflowGraph};
pub use limit::{ConcurrencyLimit, Limiters, RateLimiter};
pub use report::{AttemptReport, NodeOutcome, NodeReport, RunReport};
pub use run::{RunContext, RunId, RunOptions};
pub use tokio_util::sync::CancellationToken;
