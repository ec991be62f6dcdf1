//! Starting runs and reading their results.

use std::fmt;
use std::marker::PhantomData;

use flow_runtime::store::backend::{
    self, DurableWorkflow, backend_error, cancelled_error, option_parts, restore, timed_out_error,
};
use flow_runtime::{Error, RunOptions};
use temporalio_client::errors::{WorkflowGetResultError, WorkflowStartError};
use temporalio_client::{
    ClientOptions, Connection, ConnectionOptions, UntypedWorkflow, Url, WorkflowCancelOptions,
    WorkflowGetResultOptions, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
    WorkflowStartOptions,
};
use temporalio_common::data_converters::RawValue;
use temporalio_common::error::IncomingError;

use crate::wire::{self, RunHeader};

pub use temporalio_client::{ClientTlsOptions, TlsOptions};

/// A connection to a Temporal server, in one namespace: starts runs of durable workflows
/// and reads their results. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: temporalio_client::Client,
    namespace: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// How to connect: the server's address, the namespace, TLS, an API key.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    target: String,
    namespace: String,
    tls: Option<TlsOptions>,
    api_key: Option<String>,
    identity: Option<String>,
}

impl ConnectOptions {
    /// Connects to `target` (`127.0.0.1:7233`, or a URL such as `https://host:7233`), in
    /// namespace `default`, without TLS.
    pub fn new(target: impl Into<String>) -> Self {
        ConnectOptions {
            target: target.into(),
            namespace: "default".to_owned(),
            tls: None,
            api_key: None,
            identity: None,
        }
    }

    /// The namespace to use.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Connects over TLS with these options (`TlsOptions::default()` for the system's
    /// roots).
    #[must_use]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Authenticates with an API key (Temporal Cloud); give [`tls`](Self::tls) too.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// How this client names itself to the server (its workers' identity).
    #[must_use]
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }
}

/// Why [`Client::connect`] failed.
#[derive(Debug)]
pub struct ConnectError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Client {
    /// Connects to the server at `target` (`127.0.0.1:7233`), namespace `default`.
    pub async fn connect(target: &str) -> Result<Client, ConnectError> {
        Client::connect_with(ConnectOptions::new(target)).await
    }

    /// Connects as `options` say.
    pub async fn connect_with(options: ConnectOptions) -> Result<Client, ConnectError> {
        let target = if options.target.contains("://") {
            options.target.clone()
        } else if options.tls.is_some() {
            format!("https://{}", options.target)
        } else {
            format!("http://{}", options.target)
        };
        let url = Url::parse(&target).map_err(|e| ConnectError {
            message: format!("`{}` is not a server address", options.target),
            source: Some(Box::new(e)),
        })?;
        let connection = ConnectionOptions::new(url)
            .maybe_tls_options(options.tls.clone())
            .maybe_api_key(options.api_key.clone())
            .maybe_identity(options.identity.clone())
            .build();
        let connection = Connection::connect(connection)
            .await
            .map_err(|e| ConnectError {
                message: format!("could not connect to the Temporal server at {target}"),
                source: Some(Box::new(e)),
            })?;
        let inner = temporalio_client::Client::new(
            connection,
            ClientOptions::new(options.namespace.clone()).build(),
        )
        .map_err(|e| ConnectError {
            message: format!("could not use namespace `{}`", options.namespace),
            source: Some(Box::new(e)),
        })?;
        Ok(Client {
            inner,
            namespace: options.namespace,
        })
    }

    /// The namespace this client uses.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Starts a run of `W` on the workers of `task_queue`, with `inputs` (a tuple, in the
    /// order `W` declares them), and waits for its result. `options` may name the run
    /// (`run_id`, its Temporal workflow id; a run with this id that is running or finished
    /// is joined, not started again), give it a timeout or deadline, or a cancellation
    /// token that cancels it.
    pub async fn execute<W: DurableWorkflow>(
        &self,
        task_queue: &str,
        options: RunOptions<'_>,
        inputs: W::Inputs,
    ) -> Result<W::Output, Error> {
        let token = option_parts(&options).token;
        let handle = self.start::<W>(task_queue, options, inputs).await?;
        match token {
            None => handle.result().await,
            Some(token) => {
                tokio::select! {
                    result = handle.result() => result,
                    () = token.cancelled() => {
                        handle.cancel().await?;
                        handle.result().await
                    }
                }
            }
        }
    }

    /// Starts a run of `W` (as [`execute`](Self::execute)) without waiting: its handle.
    pub async fn start<W: DurableWorkflow>(
        &self,
        task_queue: &str,
        options: RunOptions<'_>,
        inputs: W::Inputs,
    ) -> Result<RunHandle<W>, Error> {
        let parts = option_parts(&options);
        let id = parts.run_id.unwrap_or_else(backend::unique_run_id);
        let mut payloads = vec![wire::encode(&RunHeader {
            flow: wire::FLOW,
            nodes: wire::nodes(W::graph()),
            reads: Vec::new(),
        })];
        for json in W::encode_inputs(&inputs)? {
            payloads.push(wire::payload(&json));
        }
        let timeout = match (W::TIMEOUT, parts.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let start = WorkflowStartOptions::new(task_queue, id.clone())
            .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
            .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
            .maybe_execution_timeout(timeout)
            .build();
        match self
            .inner
            .start_workflow(
                UntypedWorkflow::new(W::NAME),
                RawValue::new(payloads),
                start,
            )
            .await
        {
            Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(RunHandle {
                client: self.clone(),
                id,
                timeout,
                workflow: PhantomData,
            }),
            Err(e) => Err(backend_error(W::NAME, Box::new(e))),
        }
    }

    /// The handle of the run of `W` whose id is `run_id`.
    pub fn run<W: DurableWorkflow>(&self, run_id: impl Into<String>) -> RunHandle<W> {
        RunHandle {
            client: self.clone(),
            id: run_id.into(),
            timeout: W::TIMEOUT,
            workflow: PhantomData,
        }
    }
}

/// A run of durable workflow `W` on Temporal: its result, or its cancellation.
pub struct RunHandle<W> {
    client: Client,
    id: String,
    timeout: Option<std::time::Duration>,
    workflow: PhantomData<fn() -> W>,
}

impl<W> fmt::Debug for RunHandle<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunHandle").field("id", &self.id).finish()
    }
}

impl<W: DurableWorkflow> RunHandle<W> {
    /// The run's id (its Temporal workflow id).
    pub fn run_id(&self) -> &str {
        &self.id
    }

    /// Waits for the run's result: its output, or flow's error as the run in process
    /// would have returned it (same kind, node, attempts and cause text).
    pub async fn result(&self) -> Result<W::Output, Error> {
        let handle = self
            .client
            .inner
            .get_workflow_handle::<UntypedWorkflow>(&self.id);
        match handle.get_result(WorkflowGetResultOptions::default()).await {
            Ok(raw) => {
                let json = raw
                    .payloads
                    .first()
                    .map(wire::text)
                    .transpose()
                    .map_err(|e| backend::undecodable_error(W::NAME, "the run's output", e))?;
                W::decode_output(json.as_deref().unwrap_or("null"))
            }
            Err(WorkflowGetResultError::Failed(e)) => Err(failed::<W>(&e)),
            Err(WorkflowGetResultError::Cancelled { .. }) => Err(cancelled_error(W::NAME)),
            Err(WorkflowGetResultError::TimedOut) => {
                Err(timed_out_error(W::NAME, self.timeout.unwrap_or_default()))
            }
            Err(e) => Err(backend_error(W::NAME, Box::new(e))),
        }
    }

    /// Asks the server to cancel the run: it ends with `ErrorKind::Cancelled` once its
    /// nodes in flight are cancelled and its completed nodes compensated.
    pub async fn cancel(&self) -> Result<(), Error> {
        let handle = self
            .client
            .inner
            .get_workflow_handle::<UntypedWorkflow>(&self.id);
        handle
            .cancel(WorkflowCancelOptions::default())
            .await
            .map_err(|e| backend_error(W::NAME, Box::new(e)))
    }
}

/// The error of a failed run: flow's own, from the failure's details.
fn failed<W: DurableWorkflow>(error: &IncomingError) -> Error {
    let mut current = Some(error);
    while let Some(e) = current {
        if let IncomingError::Application(app) = e
            && let Some(details) = app.raw_details().and_then(|d| d.first())
            && let Ok(text) = wire::text(details)
            && let Some(restored) = restore(W::graph(), &text)
        {
            return restored;
        }
        current = e.cause();
    }
    backend_error(W::NAME, error.to_string().into())
}
