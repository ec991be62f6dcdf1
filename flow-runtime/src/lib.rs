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
//! See the crate's README for the runtime contract and the compile errors.

#![warn(missing_docs)]

mod error;
mod exec;
mod info;
mod limit;
mod map;
pub mod registry;
mod render;
mod run;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use error::{BoxError, Cancelled, Elapsed, Error, ErrorKind, NodeError, Panicked, Skipped};
pub use flow_macros::{node, workflow};
pub use info::{Edge, Location, NodeInfo, Param, Source, WorkflowGraph};
pub use limit::{ConcurrencyLimit, RateLimiter};
pub use run::{RunContext, RunId, RunOptions};
pub use tokio_util::sync::CancellationToken;
