//! Watching a run as it happens: typed, serializable [`Event`]s handed to an [`Observer`].
//!
//! Give an observer to a run with [`RunOptions::observe`](crate::RunOptions::observe). The
//! run then reports, in the order they happen:
//!
//! - [`RunStarted`](EventKind::RunStarted) first and [`RunFinished`](EventKind::RunFinished)
//!   last, after every node's last event (also when the run is dropped before it ends);
//! - per node (per element, for a mapped node): [`NodeStarted`](EventKind::NodeStarted), then
//!   one [`NodeRetrying`](EventKind::NodeRetrying) per failed attempt that is retried, then
//!   exactly one of [`NodeFinished`](EventKind::NodeFinished),
//!   [`NodeFailed`](EventKind::NodeFailed) or [`NodeCancelled`](EventKind::NodeCancelled);
//! - [`NodeSkipped`](EventKind::NodeSkipped) alone for a node that never runs because a value
//!   it needs was not produced (an `Option` node returned `None` upstream).
//!
//! A node that never started because the run ended first has no events. Events of different
//! nodes interleave as the nodes do. Times are measured on tokio's clock from the run's start,
//! so they follow `tokio::time::pause()` in tests.
//!
//! Three observers come with the crate: any `Fn(&Event) + Send + Sync` closure, a
//! [`Recorder`] that keeps every event (and builds a [`RunReport`]), and
//! [`channel`], a stream of events for another task to consume.
//!
//! ```
//! use flow_runtime::events::{EventKind, Recorder};
//! use flow_runtime::{node, workflow, RunOptions};
//!
//! pub struct Doubled(u32);
//!
//! #[node]
//! async fn double(x: &u32) -> Doubled { Doubled(x * 2) }
//!
//! #[workflow(double)]
//! async fn twice(x: u32) -> Doubled;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), flow_runtime::Error> {
//! let recorder = Recorder::new();
//! twice::run(RunOptions::new().observe(recorder.clone()), 21).await?;
//! let kinds: Vec<&str> = recorder.events().iter().map(|e| e.kind.name()).collect();
//! assert_eq!(kinds, ["run_started", "node_started", "node_finished", "run_finished"]);
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{RunId, RunReport};

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The run it happened in.
    pub run_id: RunId,
    /// When, measured from the run's start (on tokio's clock).
    pub at: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// A name from the program (a workflow's or node's): borrowed when emitted, owned when
/// deserialized.
pub type Name = Cow<'static, str>;

/// What happened, with the details of each kind.
///
/// Serialized with a `type` tag in snake case: `{"type": "node_finished", "node": "fetch", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The run started.
    RunStarted {
        /// The workflow's name.
        workflow: Name,
    },
    /// The run ended: every node's last event came before this one.
    RunFinished {
        /// The workflow's name.
        workflow: Name,
        /// How the run ended.
        outcome: RunOutcome,
        /// The error the run returned, when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// How long the run took.
        duration: Duration,
    },
    /// A node's first attempt started (after it got its permits).
    NodeStarted {
        /// The node's name.
        node: Name,
        /// The element's index, for a mapped node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        element: Option<usize>,
    },
    /// A node's attempt failed and the node will try again after `delay`.
    NodeRetrying {
        /// The node's name.
        node: Name,
        /// The element's index, for a mapped node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        element: Option<usize>,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The backoff before the next attempt.
        delay: Duration,
        /// Why the attempt failed.
        error: String,
    },
    /// A node returned its output.
    NodeFinished {
        /// The node's name.
        node: Name,
        /// The element's index, for a mapped node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        element: Option<usize>,
        /// How many attempts it took.
        attempts: u32,
        /// From the start of the first attempt to the end of the last.
        duration: Duration,
    },
    /// A node failed for good: an error, a timeout or a panic, after its last attempt.
    NodeFailed {
        /// The node's name.
        node: Name,
        /// The element's index, for a mapped node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        element: Option<usize>,
        /// How many attempts it made.
        attempts: u32,
        /// From the start of the first attempt to the end of the last.
        duration: Duration,
        /// Why it failed.
        error: String,
    },
    /// A node never ran: a value it needs was not produced.
    NodeSkipped {
        /// The node's name.
        node: Name,
    },
    /// A node that had started was stopped before it ended: a sibling failed, it lost a
    /// race, the run timed out or was cancelled or dropped.
    NodeCancelled {
        /// The node's name.
        node: Name,
        /// The element's index, for a mapped node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        element: Option<usize>,
        /// The attempts it had started.
        attempts: u32,
        /// From the start of the first attempt until it was stopped.
        duration: Duration,
    },
}

impl EventKind {
    /// The kind's name as serialized: `run_started`, `node_finished`, ...
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RunStarted { .. } => "run_started",
            EventKind::RunFinished { .. } => "run_finished",
            EventKind::NodeStarted { .. } => "node_started",
            EventKind::NodeRetrying { .. } => "node_retrying",
            EventKind::NodeFinished { .. } => "node_finished",
            EventKind::NodeFailed { .. } => "node_failed",
            EventKind::NodeSkipped { .. } => "node_skipped",
            EventKind::NodeCancelled { .. } => "node_cancelled",
        }
    }

    /// The node the event is about, if it is about a node.
    pub fn node(&self) -> Option<&str> {
        match self {
            EventKind::NodeStarted { node, .. }
            | EventKind::NodeRetrying { node, .. }
            | EventKind::NodeFinished { node, .. }
            | EventKind::NodeFailed { node, .. }
            | EventKind::NodeSkipped { node }
            | EventKind::NodeCancelled { node, .. } => Some(node),
            EventKind::RunStarted { .. } | EventKind::RunFinished { .. } => None,
        }
    }

    /// The element's index, for an event about an element of a mapped node.
    pub fn element(&self) -> Option<usize> {
        match self {
            EventKind::NodeStarted { element, .. }
            | EventKind::NodeRetrying { element, .. }
            | EventKind::NodeFinished { element, .. }
            | EventKind::NodeFailed { element, .. }
            | EventKind::NodeCancelled { element, .. } => *element,
            _ => None,
        }
    }

    /// Whether this is a node's last event (finished, failed, skipped or cancelled).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EventKind::NodeFinished { .. }
                | EventKind::NodeFailed { .. }
                | EventKind::NodeSkipped { .. }
                | EventKind::NodeCancelled { .. }
        )
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunOutcome {
    /// The workflow returned its output.
    Succeeded,
    /// The workflow returned an error (a node failed, timed out or panicked, the run timed
    /// out or was cancelled).
    Failed,
    /// The run was dropped before it ended.
    Dropped,
}

/// Receives a run's events as they happen.
///
/// It is called from inside the run's poll, so it should be quick: record, send, count.
/// Any `Fn(&Event) + Send + Sync + 'static` closure is an observer.
pub trait Observer: Send + Sync + 'static {
    /// Called once per event, in the order the events happen.
    fn on_event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync + 'static> Observer for F {
    fn on_event(&self, event: &Event) {
        self(event)
    }
}

impl<O: Observer + ?Sized> Observer for Arc<O> {
    fn on_event(&self, event: &Event) {
        (**self).on_event(event)
    }
}

/// An observer that keeps every event, for tests and reports. Clones share the events.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events recorded so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// Moves the events recorded so far out, leaving the recorder empty.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.lock())
    }

    /// The report of the events recorded so far (see [`RunReport::from_events`]).
    pub fn report(&self) -> RunReport {
        RunReport::from_events(self.lock().iter())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Observer for Recorder {
    fn on_event(&self, event: &Event) {
        self.lock().push(event.clone());
    }
}

/// An observer that sends every event into an [`EventStream`], and the stream.
///
/// The stream ends once every run given the sender has ended and the sender (and any
/// [`RunOptions`](crate::RunOptions) holding it) is dropped. Sending never waits: events
/// queue until the stream takes them.
///
/// ```
/// use flow_runtime::events::{channel, EventKind};
/// use flow_runtime::{node, workflow, RunOptions};
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
/// let (sender, mut events) = channel();
/// let printer = tokio::spawn(async move {
///     let mut lines = Vec::new();
///     while let Some(event) = events.recv().await {
///         lines.push(serde_json::to_string(&event.kind).unwrap());
///     }
///     lines
/// });
/// twice::run(RunOptions::new().observe(sender), 21).await?;
/// let lines = printer.await.unwrap();
/// assert_eq!(lines[1], r#"{"type":"node_started","node":"double"}"#);
/// # Ok(())
/// # }
/// ```
pub fn channel() -> (EventSender, EventStream) {
    let (tx, rx) = mpsc::unbounded_channel();
    (EventSender(tx), EventStream(rx))
}

/// The sending half of [`channel`]: an [`Observer`].
#[derive(Debug, Clone)]
pub struct EventSender(mpsc::UnboundedSender<Event>);

impl Observer for EventSender {
    fn on_event(&self, event: &Event) {
        // A closed stream means nobody listens any more; the run goes on.
        let _ = self.0.send(event.clone());
    }
}

/// The receiving half of [`channel`]: the events in order, also as a
/// [`Stream`](futures_util::Stream).
#[derive(Debug)]
pub struct EventStream(mpsc::UnboundedReceiver<Event>);

impl EventStream {
    /// The next event, or `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }
}

impl futures_util::Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.0.poll_recv(cx)
    }
}
