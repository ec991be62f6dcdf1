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
    ChildWorkflowCancellationType, ChildWorkflowOptions, ContinueAsNewOptions, ParentClosePolicy,
    WorkflowCancellationToken, WorkflowContext, WorkflowContextView, WorkflowTermination,
};

use crate::wire::{self, CallHeader, CallResult, FAILURE_TYPE, Read, ReadAnswer, RunHeader};

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
    warn_of_changes::<W>(ctx.workflow_id(), &header.nodes);
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
    let mut body = W::run_driven(inputs.clone(), options);
    let state = Rc::new(Temporal::<W> {
        ctx: ctx.clone(),
        scheduling: scheduling(ctx.task_queue()),
        started_with: (!header.nodes.is_empty())
            .then(|| header.nodes.iter().map(|(name, _)| name.clone()).collect()),
        limits: header.flow >= 2,
        extra: inputs.iter().map(String::len).sum::<usize>() + 4096,
        state: RefCell::new(State::carrying(header.reads)),
    });
    let driver: Rc<dyn Driver> = state.clone();
    let cancelled = ctx.cancellation_token();
    let result = std::future::poll_fn(|cx| {
        loop {
            if cancelled.is_cancelled() && !token.is_cancelled() {
                token.cancel();
            }
            if let Poll::Ready(result) = backend::drive(&driver, || body.as_mut().poll(cx)) {
                return Poll::Ready(Some(result));
            }
            if !state.progress(cx) {
                match state.continues() {
                    Next::Continue => return Poll::Ready(None),
                    // Too much to carry: scheduling resumes in this execution.
                    Next::Stay => continue,
                    // Polled again on the next activation: an activity's or a child's
                    // result, or the workflow's cancellation.
                    Next::Wait => return Poll::Pending,
                }
            }
        }
    })
    .await;
    let Some(result) = result else {
        // The history is long: the run goes on in a new execution that starts with what
        // this one read (its answers replayed in their order, no node run again).
        drop(body);
        // This execution's history is this version's: the next one starts with its nodes.
        let reads = state.carry();
        let mut payloads = vec![wire::encode(&RunHeader {
            flow: header.flow,
            nodes: wire::nodes(W::graph()),
            reads,
        })];
        payloads.extend(inputs.iter().map(|i| wire::payload(i)));
        return match ctx.continue_as_new(RawValue::new(payloads), ContinueAsNewOptions::default()) {
            Ok(never) => match never {},
            Err(termination) => Err(termination),
        };
    };
    state.cancel_all();
    match result {
        Ok(json) => Ok(RawValue::new(vec![wire::payload(&json)])),
        Err(e) if e.kind() == ErrorKind::Cancelled && cancelled.is_cancelled() => {
            Err(WorkflowTermination::cancelled())
        }
        Err(e) => Err(terminate(&e)),
    }
}

/// Warns (each time a worker loads the run) of the nodes the run started with that this version of
/// `W` no longer has, or whose output type changed: a run that had called one cannot be
/// replayed by this version.
fn warn_of_changes<W: DurableWorkflow>(run: &str, started_with: &[(String, Option<String>)]) {
    let now = wire::nodes(W::graph());
    for (name, output) in started_with {
        let change = match now.iter().find(|(n, _)| n == name) {
            None => "this version does not have it".to_owned(),
            Some((_, o)) if o != output => format!(
                "its output is now `{}`, not `{}`",
                o.as_deref().unwrap_or("()"),
                output.as_deref().unwrap_or("()")
            ),
            Some(_) => continue,
        };
        tracing::warn!(
            workflow = W::NAME,
            run_id = run,
            node = name.as_str(),
            "run `{run}` of workflow `{}` started with node `{name}`, but {change}: if the run \
             had called it, this version cannot replay it (Temporal reports a nondeterminism \
             error naming the node) and a worker of the version it started with must finish it",
            W::NAME
        );
    }
}

/// A node call in flight: an activity, or a child workflow.
struct InFlight {
    future: LocalBoxFuture<Answer>,
    cancel: Box<dyn Fn()>,
}

/// How many node calls of one run are scheduled at once, at most (the server allows 2000
/// pending activities per run): the others wait for a place, in canonical order.
const MAX_IN_FLIGHT: usize = 1000;

/// The history length at which a run continues as new even if the server does not suggest
/// it (the server fails a run at 51 200 events).
const MAX_HISTORY: u32 = 40_000;

/// The largest list of answers a run carries into a new execution (the server's payload
/// limit is 2 MB): a run that has read more goes on in its execution.
const MAX_CARRIED: usize = 2 * 1024 * 1024 - 64 * 1024;

/// A call's place in its run: a node's key, its map element, and whether it compensates.
type Place = (String, Option<usize>, bool);

#[derive(Default)]
struct State {
    next: Ticket,
    /// Calls asked for and not yet scheduled.
    asked: Vec<(Ticket, Call)>,
    running: BTreeMap<Ticket, InFlight>,
    answers: HashMap<Ticket, Answer>,
    wakers: HashMap<Ticket, Waker>,
    /// The place of each call asked for and not yet read.
    places: HashMap<Ticket, Place>,
    /// The answers read, in the order they were read.
    reads: Vec<Read>,
    /// The stamp of the latest answer read.
    stamp: u32,
    /// The stamp of the answer read last.
    last_stamp: u32,
    /// The answers a previous execution read and this one has not asked for yet: by place,
    /// their index in `carried`.
    unasked: HashMap<Place, usize>,
    carried: Vec<Option<Read>>,
    /// Calls asked again whose answers were carried, by the answers' index.
    replaying: BTreeMap<usize, Ticket>,
    /// Carried answers given and not yet read: their index in `carried`.
    given: HashMap<Ticket, usize>,
    /// Calls of added nodes that their patch marker let through.
    admitted: std::collections::HashSet<Ticket>,
    /// The history is long: nothing new is scheduled, and once what runs is read the run
    /// continues as new.
    draining: bool,
    /// What this execution read is too large to carry: it goes on in this execution.
    stays: bool,
}

impl State {
    /// The state of an execution that starts with `reads`, what the previous ones read.
    fn carrying(reads: Vec<Read>) -> Self {
        let stamp = reads.iter().map(|r| r.stamp).max().unwrap_or(0);
        let unasked = reads
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.key.clone(), r.element, r.compensate), i))
            .collect();
        State {
            stamp,
            unasked,
            carried: reads.into_iter().map(Some).collect(),
            ..State::default()
        }
    }
}

/// The driver of one run of `W` in its workflow function.
struct Temporal<W> {
    ctx: WorkflowContext<FlowWorkflow<W>>,
    scheduling: Scheduling,
    /// The nodes of the workflow's version the run started with (`None` when unknown).
    started_with: Option<std::collections::HashSet<String>>,
    /// Whether the run was started by a version that bounds its calls in flight and
    /// continues as new (one started by an earlier version replays as it ran).
    limits: bool,
    /// What a continued execution's input holds besides the answers, in bytes (about).
    extra: usize,
    state: RefCell<State>,
}

/// What a run whose scheduling has stopped does next.
enum Next {
    /// Continues as new.
    Continue,
    /// Stays in this execution, and schedules again.
    Stay,
    /// Waits for an answer.
    Wait,
}

impl<W: DurableWorkflow> Driver for Temporal<W> {
    fn request(&self, call: Call) -> Ticket {
        let mut state = self.state.borrow_mut();
        state.next += 1;
        let t = state.next;
        let place = (
            call.key.clone(),
            call.element,
            matches!(call.kind, CallKind::Compensate(_)),
        );
        if let Some(i) = state.unasked.remove(&place) {
            // Read by a previous execution: answered from what it read.
            state.replaying.insert(i, t);
        } else {
            state.asked.push((t, call));
        }
        state.places.insert(t, place);
        t
    }

    fn poll(&self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<Answer> {
        let mut state = self.state.borrow_mut();
        match state.answers.remove(&ticket) {
            Some(answer) => {
                let carried = state
                    .given
                    .remove(&ticket)
                    .and_then(|i| state.carried.get_mut(i).and_then(Option::take));
                let stamp = match carried {
                    Some(read) => read.stamp,
                    None => {
                        state.stamp += 1;
                        state.stamp
                    }
                };
                state.last_stamp = stamp;
                if let Some((key, element, compensate)) = state.places.remove(&ticket) {
                    state.reads.push(Read {
                        key,
                        element,
                        compensate,
                        stamp,
                        answer: read_answer(&answer),
                    });
                }
                Poll::Ready(answer)
            }
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
        state.admitted.remove(&ticket);
        let place = state.places.remove(&ticket);
        let replaying = state
            .replaying
            .iter()
            .find_map(|(i, t)| (*t == ticket).then_some(*i));
        if let Some(i) = replaying {
            state.replaying.remove(&i);
        }
        if let (Some(i), Some(place)) = (replaying.or(state.given.remove(&ticket)), place) {
            // Not read: a later call at this place is answered with it.
            state.unasked.insert(place, i);
        }
        if let Some(call) = state.running.remove(&ticket) {
            (call.cancel)();
        }
    }

    fn last_stamp(&self) -> Option<u32> {
        Some(self.state.borrow().last_stamp)
    }
}

/// What a run carries of `answer`.
fn read_answer(answer: &Answer) -> ReadAnswer {
    let raw = |json: &str| {
        serde_json::value::RawValue::from_string(json.to_owned()).unwrap_or_else(|_| {
            serde_json::value::RawValue::from_string("null".to_owned()).expect("JSON")
        })
    };
    match answer {
        Ok((EntryKind::Tolerated, json)) => ReadAnswer::Tolerated(raw(json)),
        Ok((_, json)) => ReadAnswer::Completed(raw(json)),
        Err(e) => ReadAnswer::Failed(backend::Failure::of(e).details),
    }
}

impl<W: DurableWorkflow> Temporal<W> {
    /// Schedules what was asked (in canonical order), polls what runs: whether a call was
    /// answered or scheduled, so that the body is polled again.
    fn progress(&self, cx: &mut Context<'_>) -> bool {
        if self.replay_one() {
            return true;
        }
        let asked = self.take_asked();
        let scheduled = !asked.is_empty();
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
        for (ticket, answer) in answered {
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
        // Inputs over the server's payload limit would fail the workflow task, again and
        // again: the node fails at once instead.
        let size: usize = args.iter().map(String::len).sum::<usize>() + 512;
        if size > crate::worker::DEFAULT_MAX_OUTPUT {
            let error = backend::input_too_large_error(
                workflow,
                node,
                element,
                size - 512,
                crate::worker::DEFAULT_MAX_OUTPUT - 512,
            );
            return InFlight {
                future: Box::pin(std::future::ready(Err(error))),
                cancel: Box::new(|| {}),
            };
        }
        if node.traits().is_workflow() && !compensate {
            let mut payloads = vec![wire::encode(&RunHeader {
                flow: wire::FLOW,
                nodes: flow_runtime::registry::workflow(node.name())
                    .map(wire::nodes)
                    .unwrap_or_default(),
                reads: Vec::new(),
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
                Ok((
                    EntryKind::Completed,
                    value.unwrap_or_else(|| "null".to_owned()),
                ))
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
            .and_then(|raw| answer_of(&raw))
        };
        InFlight {
            future: Box::pin(future),
            cancel: Box::new(move || token.cancel()),
        }
    }

    /// Gives the first carried answer asked for again, in the order the previous
    /// executions read them (one at a time, so the body reads them in that order too):
    /// whether there was one.
    fn replay_one(&self) -> bool {
        let mut state = self.state.borrow_mut();
        let (ticket, answer) = loop {
            let Some((i, ticket)) = state.replaying.pop_first() else {
                return false;
            };
            let Some(read) = state.carried.get(i).and_then(Option::as_ref) else {
                continue;
            };
            let answer = match &read.answer {
                ReadAnswer::Completed(json) => Ok((EntryKind::Completed, json.get().to_owned())),
                ReadAnswer::Tolerated(json) => Ok((EntryKind::Tolerated, json.get().to_owned())),
                ReadAnswer::Failed(details) => {
                    Err(restore(W::graph(), details).unwrap_or_else(|| {
                        backend::undecodable_error(
                            W::NAME,
                            "a carried failure",
                            format!("`{details}` is not a flow error"),
                        )
                    }))
                }
            };
            // Taken from `carried` when read (a call cancelled before puts it back).
            state.given.insert(ticket, i);
            break (ticket, answer);
        };
        state.answers.insert(ticket, answer);
        let waker = state.wakers.remove(&ticket);
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// The calls to schedule now, in canonical order (node key, element): none while the
    /// run drains to continue as new, and no more than keep `MAX_IN_FLIGHT` running.
    fn take_asked(&self) -> Vec<(Ticket, Call)> {
        let mut state = self.state.borrow_mut();
        if state.asked.is_empty() {
            return Vec::new();
        }
        if self.ctx.cancellation_token().is_cancelled() {
            // A cancelled run ends in this execution (a new one would not know).
            state.draining = false;
        } else if self.limits
            && !state.draining
            && !state.stays
            && (self.ctx.continue_as_new_suggested() || self.ctx.history_length() >= MAX_HISTORY)
        {
            // Room for what is still to be read, too.
            if self.carried_size(&state) * 5 / 4 + self.extra > MAX_CARRIED {
                state.stays = true;
            } else {
                state.draining = true;
            }
        }
        if state.draining {
            return Vec::new();
        }
        let room = if self.limits {
            MAX_IN_FLIGHT.saturating_sub(state.running.len())
        } else {
            usize::MAX
        };
        let mut asked = std::mem::take(&mut state.asked);
        asked.sort_by(|(_, a), (_, b)| (&a.key, a.element).cmp(&(&b.key, b.element)));
        if let Some(known) = &self.started_with {
            // A node added by a deploy after the run started: the run's history (written by
            // the version it started with) has no call of it, so it is scheduled only at a
            // point the history does not cover yet, and a patch marker records that point
            // for the next replay.
            let at = self.ctx.history_length();
            let (added, rest): (Vec<_>, Vec<_>) = asked.into_iter().partition(|(t, call)| {
                !known.contains(call.node.name()) && !state.admitted.contains(t)
            });
            asked = rest;
            for (ticket, call) in added {
                let marker = format!("flow.added:{}@{at}", call.key);
                if self.ctx.patched(&marker) {
                    state.admitted.insert(ticket);
                    asked.push((ticket, call));
                } else {
                    state.asked.push((ticket, call));
                }
            }
            asked.sort_by(|(_, a), (_, b)| (&a.key, a.element).cmp(&(&b.key, b.element)));
        }
        if asked.len() > room {
            let mut rest = asked.split_off(room);
            rest.append(&mut state.asked);
            state.asked = rest;
        }
        asked
    }

    /// Whether the run continues as new now: it drains, and nothing runs or waits to be
    /// read. A run whose answers turn out too large to carry stays in this execution.
    fn continues(&self) -> Next {
        let mut state = self.state.borrow_mut();
        if !state.draining
            || !state.running.is_empty()
            || !state.answers.is_empty()
            || !state.replaying.is_empty()
        {
            return Next::Wait;
        }
        if self.carried_size(&state) + self.extra > MAX_CARRIED {
            state.stays = true;
            state.draining = false;
            return Next::Stay;
        }
        Next::Continue
    }

    /// The size of the answers a continued execution would carry, in bytes of JSON.
    fn carried_size(&self, state: &State) -> usize {
        let reads: Vec<&Read> = state
            .reads
            .iter()
            .chain(state.carried.iter().flatten())
            .collect();
        serde_json::to_vec(&reads).map_or(usize::MAX, |v| v.len())
    }

    /// What the next execution starts with: what this one read, then what earlier ones
    /// read that this one did not ask for again (in their order).
    fn carry(&self) -> Vec<Read> {
        let mut state = self.state.borrow_mut();
        let mut reads = std::mem::take(&mut state.reads);
        reads.extend(state.carried.drain(..).flatten());
        reads
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
    Ok((kind, result.value.get().to_owned()))
}

// The cancellation trait is needed for `.cancel()` on the SDK's futures.
#[allow(unused_imports)]
use CancellableFuture as _;
