//! A flow node as a Temporal activity: decodes the call, runs the node on the worker as the
//! workflow's body would (its policies, context and `continue_on_error`), heartbeats while
//! it runs, and returns what its journal would record.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use flow_runtime::CancellationToken;
use flow_runtime::store::EntryKind;
use flow_runtime::store::backend::{
    Attempts, Failure, Invocation, InvocationKind, InvokeFn, Node, Outcome, output_too_large_error,
    undecodable_error,
};
use temporalio_common::data_converters::RawValue;
use temporalio_common::{ActivityDefinition, error::ApplicationFailure};
use temporalio_sdk::activities::{
    ActivityContext, ActivityDefinitions, ActivityError, ActivityImplementer, ExecutableActivity,
};

use crate::wire::{self, CallHeader, CallResult, FAILURE_TYPE};

/// What a worker knows of the nodes it runs: how to run each (by workflow and node name).
pub(crate) struct Registry {
    pub invokers: HashMap<(&'static str, &'static str), InvokeFn>,
    /// How often a running node heartbeats.
    pub heartbeat: Duration,
    /// The largest output a node may return, in bytes.
    pub max_output: usize,
    /// The named limiters of the nodes it runs.
    pub limiters: Option<Arc<flow_runtime::Limiters>>,
}

/// Node `N` as an activity type, named by the node's name.
pub(crate) struct NodeActivity<N> {
    registry: Option<Arc<Registry>>,
    node: PhantomData<fn() -> N>,
}

impl<N> NodeActivity<N> {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        NodeActivity {
            registry: Some(registry),
            node: PhantomData,
        }
    }
}

impl<N: Node> ActivityDefinition for NodeActivity<N> {
    type Input = RawValue;
    type Output = RawValue;

    fn name(&self) -> &str {
        N::INFO.name()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<N: Node + 'static> ExecutableActivity for NodeActivity<N> {
    type Implementer = NodeActivity<N>;
    const REQUIRES_INSTANCE: bool = true;

    fn definition() -> Self {
        NodeActivity {
            registry: None,
            node: PhantomData,
        }
    }

    fn execute(
        receiver: Option<Arc<Self::Implementer>>,
        ctx: ActivityContext,
        input: RawValue,
    ) -> BoxFuture<Result<RawValue, ActivityError>> {
        Box::pin(async move {
            let Some(registry) = receiver.and_then(|r| r.registry.clone()) else {
                return Err(fatal(format!(
                    "node `{}` was called on a worker that did not register it",
                    N::INFO.name()
                )));
            };
            execute::<N>(&registry, ctx, input).await
        })
    }
}

impl<N: Node + 'static> ActivityImplementer for NodeActivity<N> {
    fn register_all(self: Arc<Self>, defs: &mut ActivityDefinitions) {
        defs.register_activity::<Self>(self);
    }
}

/// A failure that no retry mends.
fn fatal(message: String) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name(format!("{FAILURE_TYPE}Backend"))
            .non_retryable(true)
            .build(),
    )
}

async fn execute<N: Node>(
    registry: &Registry,
    ctx: ActivityContext,
    input: RawValue,
) -> Result<RawValue, ActivityError> {
    let node = N::INFO;
    let mut payloads = input.payloads.into_iter();
    let header: CallHeader = match payloads.next().map(|p| wire::decode(&p)) {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(fatal(format!("a call of node `{}`: {e}", node.name()))),
        None => {
            return Err(fatal(format!(
                "a call of node `{}` has no header",
                node.name()
            )));
        }
    };
    let mut args = Vec::new();
    for p in payloads {
        args.push(wire::text(&p).map_err(fatal)?);
    }
    let Some(invoke) = registry
        .invokers
        .iter()
        .find(|((wf, n), _)| *wf == header.workflow && *n == node.name())
        .map(|(_, f)| *f)
    else {
        return Err(fatal(format!(
            "node `{}` of workflow `{}` is not registered on this worker",
            node.name(),
            header.workflow
        )));
    };
    let token = CancellationToken::new();
    let kind = if header.compensate {
        InvocationKind::Compensate(args.into_iter().next().unwrap_or_else(|| "null".into()))
    } else {
        InvocationKind::Run(args)
    };
    // A call that runs again because its worker was lost goes on from the node's attempt
    // that was running, which the lost worker's heartbeats reported.
    let first = if ctx.info().attempt > 1 {
        ctx.heartbeat_details()
            .deserialize::<u32>()
            .ok()
            .flatten()
            .unwrap_or(1)
    } else {
        1
    };
    let attempts = Attempts::new(first);
    let invocation = Invocation {
        run_id: header.run.clone(),
        element: header.element,
        kind,
        token: token.clone(),
        attempts: Some(attempts.clone()),
        limiters: registry.limiters.clone(),
    };
    let Some(run) = invoke(node.name(), invocation) else {
        return Err(fatal(format!(
            "workflow `{}` has no node `{}`",
            header.workflow,
            node.name()
        )));
    };
    // Heartbeats tell the server the worker is alive: if it dies, the call runs again
    // elsewhere once a heartbeat is missed, without counting as one of the node's attempts.
    let heartbeat = async {
        loop {
            let _ = ctx.record_heartbeat(attempts.current()).await;
            // Again after the period, or at once when the node's attempt changes.
            tokio::select! {
                () = tokio::time::sleep(registry.heartbeat) => {}
                () = attempts.changed() => {}
            }
        }
    };
    let outcome = tokio::select! {
        outcome = run => outcome,
        () = ctx.cancelled() => {
            token.cancel();
            return Err(ActivityError::cancelled());
        }
        () = heartbeat => unreachable!("the heartbeat loop does not end"),
    };
    let workflow: &'static str =
        flow_runtime::registry::workflow(&header.workflow).map_or(node.name(), |g| g.name());
    match outcome {
        Outcome::Entry(kind, payload) => {
            // The entry's JSON as it is (it is checked, not parsed and written again).
            let value = match serde_json::value::RawValue::from_string(payload) {
                Ok(value) => value,
                Err(e) => {
                    let error = undecodable_error(
                        workflow,
                        &format!("the output of node `{}`", node.name()),
                        e.to_string(),
                    );
                    return Err(failure(&Failure::of(&error)));
                }
            };
            let result = wire::encode(&CallResult {
                kind: match kind {
                    EntryKind::Tolerated => "tolerated".to_owned(),
                    _ => "completed".to_owned(),
                },
                value,
            });
            if result.data.len() > registry.max_output {
                let error = output_too_large_error(
                    workflow,
                    node,
                    header.element,
                    result.data.len(),
                    registry.max_output,
                );
                return Err(failure(&Failure::of(&error)));
            }
            Ok(RawValue::new(vec![result]))
        }
        Outcome::Failed(f) => Err(failure(&f)),
    }
}

/// A node's failure as an application failure: final (flow counts the node's own attempts
/// on the worker), its whole error in its details.
fn failure(f: &Failure) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(f.message.clone())
            .type_name(format!("{FAILURE_TYPE}{}", f.kind))
            .non_retryable(true)
            .details(RawValue::new(vec![wire::payload(&f.details)]))
            .build(),
    )
}
