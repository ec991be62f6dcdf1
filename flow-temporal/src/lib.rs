//! Run flow's `durable` workflows on [Temporal](https://temporal.io): workers on any
//! machine, a server that owns the runs.
//!
//! The workflow is the one that runs in process: `#[workflow(..., durable)]`. A worker
//! registers it (`Worker::new(&client, "orders").register::<order>().run()`), a client
//! runs it (`client.execute::<order>("orders", RunOptions::new().run_id("order-42"), (o,))`).
//! On the server a durable workflow is one workflow type, named like the workflow; each of
//! its nodes is an activity named like the node, and each sub-workflow a child workflow.
//! The workflow function runs no user code: it drives the workflow's compiled body, whose
//! node calls become activities, so the semantics are flow's (dataflow starts, `Option`
//! branches and skips, `continue_on_error`, races, maps with their bound, compensation),
//! and errors come back as [`flow_runtime::Error`] with the kind, node, attempts and cause
//! text the run in process would give.
//!
//! A node runs on a worker with its own policies (timeout, retries counted as flow counts
//! them, `retry_if`, limits). Temporal retries a node call only when its worker is lost (a
//! missed heartbeat): that is not one of the node's attempts.
//!
//! A run whose history grows long (a map of 10 000 elements) continues as new when the
//! server suggests it, carrying the answers it has read: the new execution reads them back
//! in the same order and runs nothing again. A deploy that reorders the workflow's list or
//! adds nodes replays the runs in flight: calls are scheduled in a canonical order, and a
//! node the run did not start with is scheduled only past the history the old version
//! wrote.

#![warn(missing_docs)]

mod activity;
mod client;
mod wire;
mod worker;
mod workflow;

pub use client::{Client, ClientTlsOptions, ConnectError, ConnectOptions, RunHandle, TlsOptions};
pub use worker::{DEFAULT_MAX_OUTPUT, ShutdownHandle, Worker, WorkerError};
