//! A durable flow workflow as a Temporal workflow type. Its workflow function runs no user
//! code: it drives the workflow's own body (the one that runs in process), whose node calls
//! become activities (and whose sub-workflows become child workflows), scheduled in a
//! canonical order (by node key and element) so that the order of the workflow's node list
//! is not part of the replay.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use flow_runtime::store::EntryKind;
use flow_runtime::store::backend::{
    self, Answer, Call, CallKind, Driver, DurableWorkflow, Ticket, backend_error, node_error,
    restore,
};
use flow_runtime::{CancellationToken, Error, ErrorKind, RunOptions};
use temporalio_common::WorkflowDefinition;
use temporalio_common::data_converters::RawValue;
use temporalio_common::error::{ApplicationFailure, IncomingError};
use temporalio_common::protos::temporal::api::common::v1::Payload;
use temporalio_common::{HasWorkflowDefinition, RetryPolicy, UntypedActivity, UntypedWorkflow};
use temporalio_sdk::workflow_interceptors::WorkflowOutputValue;
use temporalio_sdk::workflows::{
    WorkflowDefinitionDescriptor, WorkflowError, WorkflowImplementation,
};
use temporalio_sdk::{
    ActivityCancellationType, ActivityExecutionError, ActivityOptions, CancellableFuture,
    ChildWorkflowCancellationType, ChildWorkflowOptions, ParentClosePolicy,
    WorkflowCancellationToken, WorkflowContext, WorkflowContextView, WorkflowTermination,
};

use crate::wire::{self, CallHeader, CallResult, FAILURE_TYPE, RunHeader};

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// How a worker schedules node calls: the same for every workflow it runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scheduling {
    /// How long a node call may go without a heartbeat before it runs elsewhere.
    pub heartbeat_timeout: Duration,
    /// How many times a node call may be lost with its worker before the node fails.
    pub worker_losses: u32,
}

thread_local! {
    // The scheduling of the worker whose workflow task this thread runs.
    static SCHEDULING: std::cell::Cell<Scheduling> = const {
        std::cell::Cell::new(Scheduling {
            heartbeat_timeout: Duration::from_secs(5),
            worker_losses: 20,
        })
    };
}

static SCHEDULINGS: std::sync::OnceLock<std::sync::Mutex<HashMap<String, Scheduling>>> =
    std::sync::OnceLock::new();

/// Sets how the workers of `task_queue` in this process schedule node calls.
pub(crate) fn set_scheduling(task_queue: &str, scheduling: Scheduling) {
    SCHEDULINGS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(task_queue.to_owned(), scheduling);
}

fn scheduling(task_queue: &str) -> Scheduling {
    SCHEDULINGS
        .get()
        .and_then(|m| {
            m.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(task_queue)
                .copied()
        })
        .unwrap_or_else(|| SCHEDULING.with(|s| s.get()))
}

/// Durable workflow `W` as a Temporal workflow type, named by the workflow's name.
pub(crate) struct FlowWorkflow<W>(PhantomData<fn() -> W>);

impl<W> Default for FlowWorkflow<W> {
    fn default() -> Self {
        FlowWorkflow(PhantomData)
    }
}

impl<W: DurableWorkflow> WorkflowDefinition for FlowWorkflow<W> {
    type Input = RawValue;
    type Output = RawValue;

    fn name(&self) -> &str {
        W::NAME
    }
}

impl<W: DurableWorkflow> HasWorkflowDefinition for FlowWorkflow<W> {
    type Run = Self;
}

impl<W: DurableWorkflow> WorkflowImplementation for FlowWorkflow<W> {
    type Run = Self;
    const HAS_INIT: bool = false;
    const INIT_TAKES_INPUT: bool = false;

    fn name() -> &'static str {
        W::NAME
    }

    fn definition() -> WorkflowDefinitionDescriptor {
        WorkflowDefinitionDescriptor {
            workflow_type: W::NAME.to_owned(),
            has_init: false,
            init_takes_input: false,
            signals: Vec::new(),
            queries: Vec::new(),
            updates: Vec::new(),
        }
    }

    fn init(_: WorkflowContextView, _: Option<RawValue>) -> Self {
        FlowWorkflow(PhantomData)
    }

    fn run(
        ctx: WorkflowContext<Self>,
        input: Option<RawValue>,
    ) -> LocalBoxFuture<Result<Box<dyn WorkflowOutputValue>, WorkflowTermination>> {
        Box::pin(async move {
            let out = run::<W>(ctx, input.unwrap_or_default()).await?;
            Ok(Box::new(out) as Box<dyn WorkflowOutputValue>)
        })
    }

    fn dispatch_signal(
        _: WorkflowContext<Self>,
        name: &str,
        _: Box<dyn Any>,
    ) -> LocalBoxFuture<Result<(), WorkflowError>> {
        let name = name.to_owned();
        Box::pin(async move {
            Err(WorkflowError::Execution(
                format!("a flow workflow has no signal `{name}`").into(),
            ))
        })
    }

    fn dispatch_query(
        &self,
        _: WorkflowContextView,
        name: &str,
        _: Box<dyn Any>,
    ) -> Result<Box<dyn WorkflowOutputValue>, WorkflowError> {
        Err(WorkflowError::Execution(
            format!("a flow workflow has no query `{name}`").into(),
        ))
    }

    fn dispatch_update(
        _: WorkflowContext<Self>,
        name: &str,
        _: Box<dyn Any>,
    ) -> LocalBoxFuture<Result<Box<dyn WorkflowOutputValue>, WorkflowError>> {
        let name = name.to_owned();
        Box::pin(async move {
            Err(WorkflowError::Execution(
                format!("a flow workflow has no update `{name}`").into(),
            ))
        })
    }

    fn validate_update(
        &self,
        _: WorkflowContextView,
        name: &str,
        _: Box<dyn Any>,
    ) -> Result<(), WorkflowError> {
        Err(WorkflowError::Execution(
            format!("a flow workflow has no update `{name}`").into(),
        ))
    }
}

/// A failure that ends the workflow: flow's error, whole, in its details.
pub(crate) fn terminate(error: &Error) -> WorkflowTermination {
    let failure = backend::Failure::of(error);
    WorkflowTermination::failed_application(
        ApplicationFailure::builder(failure.message)
            .type_name(format!("{FAILURE_TYPE}{}", failure.kind))
            .non_retryable(true)
            .details(RawValue::new(vec![wire::payload(&failure.details)]))
            .build(),
    )
}

/// The workflow function of `W`: its body, driven.
async fn run<W: DurableWorkflow>(
    ctx: WorkflowContext<FlowWorkflow<W>>,
    input: RawValue,
) -> Result<RawValue, WorkflowTermination> {
    let mut payloads = input.payloads.into_iter();
    let header: Option<RunHeader> = payloads.next().and_then(|p| wire::decode(&p).ok());
    let Some(header) = header else {
        return Err(terminate(&backend::undecodable_error(
            W::NAME,
            "the workflow's start",
            "a run of a flow workflow starts with flow's header: start it with flow_temporal::Client"
                .to_owned(),
        )));
    };
    // The nodes the run started with (`header.nodes`) are not yet compared with this
    // version's: failing the run at its start would itself not replay.
    let _ = &header.nodes;
    let mut inputs = Vec::new();
    for p in payloads {
        match wire::text(&p) {
            Ok(t) => inputs.push(t),
            Err(e) => {
                return Err(terminate(&backend::undecodable_error(
                    W::NAME,
                    "the workflow's inputs",
                    e,
                )));
            }
        }
    }
    let token = CancellationToken::new();
    let options = RunOptions::new()
        .run_id(ctx.workflow_id().to_owned())
        .cancellation_token(token.clone());
    let mut body = W::run_driven(inputs, options);
    let state = Rc::new(Temporal::<W> {
        ctx: ctx.clone(),
        scheduling: scheduling(ctx.task_queue()),
        state: RefCell::new(State::default()),
    });
    let driver: Rc<dyn Driver> = state.clone();
    let cancelled = ctx.cancellation_token();
    let result = std::future::poll_fn(|cx| {
        loop {
            if cancelled.is_cancelled() && !token.is_cancelled() {
                token.cancel();
            }
            if let Poll::Ready(result) = backend::drive(&driver, || body.as_mut().poll(cx)) {
                return Poll::Ready(result);
            }
            if !state.progress(cx) {
                // Polled again on the next activation: an activity's or a child's result,
                // or the workflow's cancellation.
                return Poll::Pending;
            }
        }
    })
    .await;
    state.cancel_all();
    match result {
        Ok(json) => Ok(RawValue::new(vec![wire::payload(&json)])),
        Err(e) if e.kind() == ErrorKind::Cancelled && cancelled.is_cancelled() => {
            Err(WorkflowTermination::cancelled())
        }
        Err(e) => Err(terminate(&e)),
    }
}

/// A node call in flight: an activity, or a child workflow.
struct InFlight {
    future: LocalBoxFuture<Result<RawValue, Error>>,
    cancel: Box<dyn Fn()>,
}

#[derive(Default)]
struct State {
    next: Ticket,
    /// Calls asked for since the last schedule.
    asked: Vec<(Ticket, Call)>,
    running: BTreeMap<Ticket, InFlight>,
    answers: HashMap<Ticket, Answer>,
    wakers: HashMap<Ticket, Waker>,
}

/// The driver of one run of `W` in its workflow function.
struct Temporal<W> {
    ctx: WorkflowContext<FlowWorkflow<W>>,
    scheduling: Scheduling,
    state: RefCell<State>,
}

impl<W: DurableWorkflow> Driver for Temporal<W> {
    fn request(&self, call: Call) -> Ticket {
        let mut state = self.state.borrow_mut();
        state.next += 1;
        let t = state.next;
        state.asked.push((t, call));
        t
    }

    fn poll(&self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<Answer> {
        let mut state = self.state.borrow_mut();
        match state.answers.remove(&ticket) {
            Some(answer) => Poll::Ready(answer),
            None => {
                state.wakers.insert(ticket, cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn cancel(&self, ticket: Ticket) {
        let mut state = self.state.borrow_mut();
        state.asked.retain(|(t, _)| *t != ticket);
        state.wakers.remove(&ticket);
        state.answers.remove(&ticket);
        if let Some(call) = state.running.remove(&ticket) {
            (call.cancel)();
        }
    }
}

impl<W: DurableWorkflow> Temporal<W> {
    /// Schedules what was asked (in canonical order), polls what runs: whether a call was
    /// answered or scheduled, so that the body is polled again.
    fn progress(&self, cx: &mut Context<'_>) -> bool {
        let mut asked = std::mem::take(&mut self.state.borrow_mut().asked);
        let scheduled = !asked.is_empty();
        asked.sort_by(|(_, a), (_, b)| (&a.key, a.element).cmp(&(&b.key, b.element)));
        let mut answered = Vec::new();
        let mut started = Vec::new();
        for (ticket, call) in asked {
            // Polled at once, in this order: each first poll sends its command.
            let mut flight = self.schedule(call);
            match flight.future.as_mut().poll(cx) {
                Poll::Ready(result) => answered.push((ticket, result)),
                Poll::Pending => started.push((ticket, flight)),
            }
        }
        {
            let mut state = self.state.borrow_mut();
            for (ticket, flight) in state.running.iter_mut() {
                if let Poll::Ready(result) = flight.future.as_mut().poll(cx) {
                    answered.push((*ticket, result));
                }
            }
            for (ticket, _) in &answered {
                state.running.remove(ticket);
            }
            state.running.extend(started);
        }
        let any = !answered.is_empty();
        for (ticket, result) in answered {
            let answer = result.and_then(|raw| answer_of(&raw));
            let waker = {
                let mut state = self.state.borrow_mut();
                state.answers.insert(ticket, answer);
                state.wakers.remove(&ticket)
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
        any || scheduled
    }

    /// Starts `call`: an activity of the node's name, or a child workflow for a
    /// sub-workflow.
    fn schedule(&self, call: Call) -> InFlight {
        let workflow_id = self.ctx.workflow_id().to_owned();
        let (args, compensate) = match call.kind {
            CallKind::Run(args) => (args, false),
            CallKind::Compensate(out) => (vec![out], true),
        };
        let id = match call.element {
            Some(i) => format!("{}[{i}]", call.key),
            None => call.key.clone(),
        };
        let workflow = call.workflow;
        let node = call.node;
        let element = call.element;
        if node.traits().is_workflow() && !compensate {
            let mut payloads = vec![wire::encode(&RunHeader {
                flow: 1,
                nodes: Vec::new(),
            })];
            payloads.extend(args.iter().map(|a| wire::payload(a)));
            let ctx = self.ctx.clone();
            let child_id = format!("{workflow_id}/{id}");
            let token = WorkflowCancellationToken::new();
            let cancel_token = token.clone();
            let future = async move {
                let options = ChildWorkflowOptions::builder()
                    .workflow_id(child_id)
                    .cancel_type(ChildWorkflowCancellationType::TryCancel)
                    .parent_close_policy(ParentClosePolicy::RequestCancel)
                    .cancellation_token(token)
                    .build();
                let started = ctx
                    .start_child_workflow(
                        UntypedWorkflow::new(node.name()),
                        RawValue::new(payloads),
                        options,
                    )
                    .await
                    .map_err(|e| backend_error(workflow, Box::new(e)))?;
                let raw = started.result().await.map_err(|e| {
                    let restored = e
                        .cause()
                        .and_then(application_details)
                        .and_then(|d| restore(W::graph(), &d));
                    restored.unwrap_or_else(|| node_error(workflow, node, element, Box::new(e)))
                })?;
                // A child's output is the node's value: recorded as completed.
                let value = raw.payloads.first().map(wire::text).transpose();
                let value = value.map_err(|e| {
                    backend::undecodable_error(workflow, "a sub-workflow's output", e)
                })?;
                Ok(RawValue::new(vec![wire::encode(&CallResult {
                    kind: "completed".to_owned(),
                    value: serde_json::from_str(value.as_deref().unwrap_or("null"))
                        .unwrap_or_default(),
                })]))
            };
            return InFlight {
                future: Box::pin(future),
                cancel: Box::new(move || cancel_token.cancel()),
            };
        }
        let header = CallHeader {
            workflow: workflow.to_owned(),
            run: workflow_id,
            element,
            compensate,
        };
        let mut payloads: Vec<Payload> = vec![wire::encode(&header)];
        payloads.extend(args.iter().map(|a| wire::payload(a)));
        let token = WorkflowCancellationToken::new();
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(24 * 3600))
            .heartbeat_timeout(self.scheduling.heartbeat_timeout)
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(100))
                    .backoff_coefficient(1.0)
                    .maximum_attempts(self.scheduling.worker_losses.max(1))
                    .build(),
            )
            .cancellation_token(token.clone())
            .cancellation_type(ActivityCancellationType::TryCancel)
            .activity_id(if compensate {
                format!("{id}/compensate")
            } else {
                id
            })
            .build();
        let ctx = self.ctx.clone();
        let future = async move {
            ctx.execute_activity(
                UntypedActivity::new(node.name()),
                RawValue::new(payloads),
                options,
            )
            .await
            .map_err(|e| activity_error(workflow, node, element, e))
        };
        InFlight {
            future: Box::pin(future),
            cancel: Box::new(move || token.cancel()),
        }
    }

    fn cancel_all(&self) {
        let running = std::mem::take(&mut self.state.borrow_mut().running);
        for (_, flight) in running {
            (flight.cancel)();
        }
    }
}

/// The details of the application failure in `error`'s chain, as text.
fn application_details(error: &IncomingError) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let IncomingError::Application(app) = e
            && let Some(p) = app.raw_details().and_then(|d| d.first())
        {
            return wire::text(p).ok();
        }
        current = e.cause();
    }
    None
}

/// A node call's failure, as flow's error.
fn activity_error(
    workflow: &'static str,
    node: &'static flow_runtime::NodeInfo,
    element: Option<usize>,
    error: ActivityExecutionError,
) -> Error {
    let details = match &error {
        ActivityExecutionError::Failed(f) => f.cause().and_then(application_details),
        _ => None,
    };
    if let Some(restored) = details.as_deref().and_then(|d| restore_any(workflow, d)) {
        return restored;
    }
    node_error(workflow, node, element, Box::new(error))
}

/// A failure's details restored against the graph of `workflow` (or any registered one).
fn restore_any(workflow: &'static str, details: &str) -> Option<Error> {
    let graph = flow_runtime::registry::workflow(workflow)?;
    restore(graph, details)
}

/// The answer of a call whose activity returned `raw`.
fn answer_of(raw: &RawValue) -> Answer {
    let result: CallResult = raw
        .payloads
        .first()
        .ok_or_else(|| "an empty result".to_owned())
        .and_then(wire::decode)
        .map_err(|e| backend::undecodable_error("", "a node's result", e))?;
    let kind = match result.kind.as_str() {
        "tolerated" => EntryKind::Tolerated,
        _ => EntryKind::Completed,
    };
    Ok((kind, result.value.to_string()))
}

// The cancellation trait is needed for `.cancel()` on the SDK's futures.
#[allow(unused_imports)]
use CancellableFuture as _;
