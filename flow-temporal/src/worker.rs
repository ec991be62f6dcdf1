//! A worker process: polls a task queue, drives the workflows and runs the nodes it
//! registered.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flow_runtime::store::backend::{DurableWorkflow, InvokeFn, Node, Visitor};
use temporalio_sdk::runtime::RuntimeOptions;
use temporalio_sdk::{Runtime, WorkerOptions};
use tokio::sync::Notify;

use crate::Client;
use crate::activity::{NodeActivity, Registry};
use crate::workflow::{FlowWorkflow, Scheduling, set_scheduling};

/// The largest payload the server accepts by default (2 MB), less room for its envelope.
pub const DEFAULT_MAX_OUTPUT: usize = 2 * 1024 * 1024 - 4 * 1024;

type Registration = Box<dyn Fn(&mut WorkerOptions, &Arc<Registry>) -> Result<(), String>>;

/// A worker of one task queue: runs the durable workflows registered on it, and their
/// nodes. Start as many as you like, in any process on any machine: each run's nodes run on
/// whichever worker takes them, and a run whose worker dies continues on another.
///
/// `rate_limit` and `limit` of a node hold per worker process, as they do per process in
/// flow; [`max_task_queue_nodes_per_second`](Self::max_task_queue_nodes_per_second) limits
/// the whole task queue. A workflow's `max_concurrency` holds per run.
pub struct Worker {
    client: Client,
    task_queue: String,
    registrations: Vec<Registration>,
    invokers: HashMap<(&'static str, &'static str), InvokeFn>,
    workflows: HashSet<&'static str>,
    activities: HashSet<&'static str>,
    sticky_timeout: Duration,
    scheduling: Scheduling,
    max_output: usize,
    max_concurrent_nodes: Option<usize>,
    queue_rate: Option<f64>,
    graceful_shutdown: Duration,
    shutdown: ShutdownHandle,
    limiters: Option<Arc<flow_runtime::Limiters>>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut workflows: Vec<_> = self.workflows.iter().collect();
        workflows.sort();
        f.debug_struct("Worker")
            .field("task_queue", &self.task_queue)
            .field("workflows", &workflows)
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Worker`]: it takes no new work, finishes what runs (up to its graceful
/// shutdown period), and [`Worker::run`] returns.
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle(Arc<Shutdown>);

#[derive(Debug, Default)]
struct Shutdown {
    asked: std::sync::atomic::AtomicBool,
    notify: Notify,
}

impl ShutdownHandle {
    /// Asks the worker to stop.
    pub fn shutdown(&self) {
        self.0
            .asked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    async fn asked(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.0.asked.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// Why a [`Worker`] could not run.
#[derive(Debug)]
pub struct WorkerError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WorkerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl WorkerError {
    fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        WorkerError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl Worker {
    /// A worker of `task_queue` on `client`'s server and namespace, with nothing registered.
    pub fn new(client: &Client, task_queue: impl Into<String>) -> Self {
        Worker {
            client: client.clone(),
            task_queue: task_queue.into(),
            registrations: Vec::new(),
            invokers: HashMap::new(),
            workflows: HashSet::new(),
            activities: HashSet::new(),
            sticky_timeout: Duration::from_secs(1),
            scheduling: Scheduling {
                heartbeat_timeout: Duration::from_secs(3),
                worker_losses: 20,
            },
            max_output: DEFAULT_MAX_OUTPUT,
            max_concurrent_nodes: None,
            queue_rate: None,
            graceful_shutdown: Duration::from_secs(10),
            shutdown: ShutdownHandle::default(),
            limiters: None,
        }
    }

    /// The named limiters (built at run time, from configuration say) of the nodes this
    /// worker runs: `#[node(limit = "name")]` and `#[node(rate_limit = "name")]` take
    /// theirs from here, and hold per worker process as `static` ones do.
    #[must_use]
    pub fn limiters(mut self, limiters: flow_runtime::Limiters) -> Self {
        self.limiters = Some(Arc::new(limiters));
        self
    }

    /// Registers durable workflow `W`: the workflow, its nodes (each an activity named by
    /// the node's name), its compensations and its sub-workflows (each a workflow type of
    /// its own).
    #[must_use]
    pub fn register<W: DurableWorkflow>(mut self) -> Self {
        self.register_workflow::<W>();
        self
    }

    fn register_workflow<W: DurableWorkflow>(&mut self) {
        if !self.workflows.insert(W::NAME) {
            return;
        }
        self.registrations.push(Box::new(|options, _| {
            options
                .register_workflow::<FlowWorkflow<W>>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        }));
        W::visit(self);
    }

    /// How long a run's next task waits for the worker that ran its last one before any
    /// worker takes it (default 1 s, so that a dead worker stalls no run for long).
    #[must_use]
    pub fn sticky_timeout(mut self, timeout: Duration) -> Self {
        self.sticky_timeout = timeout;
        self
    }

    /// How long a running node may go without a heartbeat (its worker sends them) before it
    /// is taken for lost with its worker and runs again elsewhere (default 3 s). A lost
    /// call does not count as one of the node's attempts.
    #[must_use]
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.scheduling.heartbeat_timeout = timeout;
        self
    }

    /// How many times a node call may be lost with its worker before the node fails
    /// (default 20).
    #[must_use]
    pub fn worker_losses(mut self, n: u32) -> Self {
        self.scheduling.worker_losses = n.max(1);
        self
    }

    /// The largest output a node may return, in bytes of JSON (default
    /// [`DEFAULT_MAX_OUTPUT`], under the server's 2 MB payload limit): a larger one fails
    /// the node at once with `ErrorKind::OutputTooLarge`.
    #[must_use]
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// How many nodes this worker runs at once (default: the SDK's, 100).
    #[must_use]
    pub fn max_concurrent_nodes(mut self, n: usize) -> Self {
        self.max_concurrent_nodes = Some(n.max(1));
        self
    }

    /// How many nodes per second the whole task queue starts, across every worker (a
    /// server-side limit).
    #[must_use]
    pub fn max_task_queue_nodes_per_second(mut self, rate: f64) -> Self {
        self.queue_rate = Some(rate);
        self
    }

    /// How long [`shutdown`](ShutdownHandle::shutdown) lets running nodes finish before
    /// they are cancelled (default 10 s).
    #[must_use]
    pub fn graceful_shutdown(mut self, period: Duration) -> Self {
        self.graceful_shutdown = period;
        self
    }

    /// A handle that stops this worker once it runs.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Runs the worker until it is shut down (or fails). The future is not `Send`: run it
    /// on the task that created it (or a `LocalSet`).
    pub async fn run(self) -> Result<(), WorkerError> {
        if self.workflows.is_empty() {
            return Err(WorkerError {
                message: "a worker runs the workflows registered on it: register one with `.register::<W>()`".to_owned(),
                source: None,
            });
        }
        let runtime = Runtime::from_current_tokio(RuntimeOptions::default())
            .map_err(|e| WorkerError::new("a worker runs inside a tokio runtime", e))?;
        set_scheduling(&self.task_queue, self.scheduling);
        let registry = Arc::new(Registry {
            invokers: self.invokers,
            heartbeat: self.scheduling.heartbeat_timeout / 3,
            max_output: self.max_output,
            limiters: self.limiters.clone(),
        });
        let mut options = WorkerOptions::new(self.task_queue.clone())
            .sticky_queue_schedule_to_start_timeout(self.sticky_timeout)
            .graceful_shutdown_period(self.graceful_shutdown)
            .maybe_max_task_queue_activities_per_second(self.queue_rate)
            .detect_nondeterministic_futures(false)
            .build();
        if let Some(n) = self.max_concurrent_nodes {
            options.tuner = temporalio_sdk::runtime::worker_tuner::WorkerTuner::from(
                temporalio_sdk::runtime::worker_tuner::TunerHolder::builder()
                    .workflow_task_slot_supplier(
                        temporalio_sdk::runtime::worker_tuner::FixedSizeSlotSupplier::new(100),
                    )
                    .activity_task_slot_supplier(
                        temporalio_sdk::runtime::worker_tuner::FixedSizeSlotSupplier::new(n),
                    )
                    .local_activity_task_slot_supplier(
                        temporalio_sdk::runtime::worker_tuner::FixedSizeSlotSupplier::new(100),
                    )
                    .nexus_task_slot_supplier(
                        temporalio_sdk::runtime::worker_tuner::FixedSizeSlotSupplier::new(10),
                    )
                    .build(),
            );
        }
        for register in &self.registrations {
            register(&mut options, &registry).map_err(|message| WorkerError {
                message,
                source: None,
            })?;
        }
        let mut worker = temporalio_sdk::Worker::new(&runtime, self.client.inner.clone(), options)
            .map_err(|e| WorkerError::new("could not create the worker", e))?;
        let stop = worker.shutdown_handle();
        let shutdown = self.shutdown.clone();
        let run = worker.run();
        tokio::pin!(run);
        tokio::select! {
            result = &mut run => return result.map_err(|e| WorkerError::new("the worker failed", e)),
            () = shutdown.asked() => stop(),
        }
        run.await
            .map_err(|e| WorkerError::new("the worker failed while shutting down", e))
    }
}

impl Visitor for Worker {
    fn node<N: Node + 'static>(&mut self, workflow: &'static str, invoke: InvokeFn) {
        let name = N::INFO.name();
        self.invokers.insert((workflow, name), invoke);
        if self.activities.insert(name) {
            self.registrations.push(Box::new(|options, registry| {
                options.register_activity::<NodeActivity<N>>(Arc::new(NodeActivity::new(
                    registry.clone(),
                )));
                Ok(())
            }));
        }
    }

    fn workflow<W: DurableWorkflow>(&mut self) {
        self.register_workflow::<W>();
    }
}
