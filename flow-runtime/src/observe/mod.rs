//! What a run reports while it runs: its `tracing` spans (one per run, one per node attempt)
//! and the events of its observer. With no subscriber and no observer, a run pays one level
//! check and carries one null pointer.

pub mod events;
pub(crate) mod report;

use std::fmt::Display;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tracing::Span;
use tracing::field::{Empty, display};

use crate::events::{Event, EventKind, RunOutcome};
use crate::run::Watcher;
use crate::{Error, ErrorKind, NodeInfo, RunId};

/// Where a run reports: its span and its observer, boxed, when a subscriber or an observer
/// may listen (decided once, when the run starts).
pub struct Track {
    listen: Option<Box<Listen>>,
}

struct Listen {
    span: Span,
    observe: Option<Observe>,
}

/// A run's observer, with what every event carries.
struct Observe {
    workflow: &'static str,
    watcher: Watcher,
    start: Instant,
    run_id: RunId,
    finished: AtomicBool,
}

/// Where a run reports, by its gate: a [`Track`], or [`Quiet`] under a gate whose runs
/// never report (the plain function picks that gate only when nobody listens).
pub trait Reporting: Send + Sync + Sized {
    /// The run's span (parented to the current span) and, with an observer, `RunStarted`.
    /// `id` gives the run id when something needs it.
    fn new(workflow: &'static str, watcher: Option<Watcher>, id: &OnceLock<RunId>) -> Self;

    /// Where the run reports, if it may.
    fn track(&self) -> Option<&Track>;
}

/// A run that never reports and holds nothing: its workflow's name comes from its body
/// (see `WorkflowName`), where an error needs it.
pub struct Quiet;

impl Reporting for Track {
    #[inline(always)]
    fn new(workflow: &'static str, watcher: Option<Watcher>, id: &OnceLock<RunId>) -> Self {
        let listen = (watcher.is_some() || tracing::level_enabled!(tracing::Level::INFO))
            .then(|| Listen::new(workflow, watcher, id));
        Track { listen }
    }

    #[inline(always)]
    fn track(&self) -> Option<&Track> {
        Some(self)
    }
}

impl Track {
    /// The run's span, when it may have one.
    pub(crate) fn span(&self) -> Option<&Span> {
        self.listen.as_deref().map(|l| &l.span)
    }

    fn observe(&self) -> Option<&Observe> {
        self.listen.as_deref().and_then(|l| l.observe.as_ref())
    }
}

impl Listen {
    #[cold]
    #[inline(never)]
    fn new(workflow: &'static str, watcher: Option<Watcher>, id: &OnceLock<RunId>) -> Box<Self> {
        let span = tracing::info_span!(
            target: "flow_runtime",
            "workflow",
            otel.name = workflow,
            workflow,
            run_id = Empty,
            outcome = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
            exception.message = Empty,
        );
        if !span.is_disabled() {
            span.record("run_id", display(id.get_or_init(RunId::next)));
        }
        let observe = watcher.map(|watcher| {
            let observe = Observe {
                workflow,
                watcher,
                start: Instant::now(),
                run_id: id.get_or_init(RunId::next).clone(),
                finished: AtomicBool::new(false),
            };
            observe.emit(EventKind::RunStarted {
                workflow: workflow.into(),
                started_at: std::time::SystemTime::now(),
            });
            observe
        });
        Box::new(Listen { span, observe })
    }

    #[cold]
    #[inline(never)]
    fn finished(&self, error: Option<&Error>) {
        if !self.span.is_disabled() {
            match error {
                None => {
                    self.span.record("outcome", "ok");
                    self.span.record("otel.status_code", "ok");
                }
                Some(e) => {
                    self.span.record("outcome", "failed");
                    record_error(&self.span, e);
                }
            }
        }
        if let Some(observe) = &self.observe {
            match error {
                None => observe.finish(RunOutcome::Succeeded, None),
                Some(e) => observe.finish(RunOutcome::Failed, Some(e)),
            }
        }
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        if let Some(observe) = &self.observe {
            observe.finish(RunOutcome::Dropped, None);
        }
    }
}

impl Track {
    /// Records how the run ended: on its span, and as `RunFinished`.
    #[inline(always)]
    pub(crate) fn finish<T>(&self, result: &Result<T, Error>) {
        if let Some(listen) = self.listen.as_deref() {
            listen.finished(result.as_ref().err());
        }
    }

    /// Reports that `node` was skipped.
    #[inline]
    pub(crate) fn skipped(&self, node: &'static NodeInfo) {
        if let Some(observe) = self.observe() {
            observe.skipped(node);
        }
    }

    /// The watch of one node (one element of a mapped node), which reports `NodeStarted`
    /// now; `None` without an observer.
    #[inline]
    pub(crate) fn watch(
        &self,
        node: &'static NodeInfo,
        element: Option<usize>,
    ) -> Option<Watch<'_>> {
        let observe = self.observe()?;
        observe.emit(EventKind::NodeStarted {
            node: node.name().into(),
            element,
        });
        Some(Watch {
            observe,
            node,
            element,
            start: Instant::now(),
            attempts: 1,
            done: false,
        })
    }

    /// Whether the run reports anything beyond its span.
    #[inline(always)]
    pub(crate) fn observed(&self) -> bool {
        self.observe().is_some()
    }

    /// Whether a node should look for a subscriber or an observer when it starts.
    #[inline(always)]
    pub(crate) fn listening(&self) -> bool {
        self.listen.is_some()
    }
}

impl Observe {
    #[cold]
    #[inline(never)]
    fn skipped(&self, node: &'static NodeInfo) {
        self.emit(EventKind::NodeSkipped {
            node: node.name().into(),
        });
    }

    fn emit(&self, kind: EventKind) {
        self.watcher.0.on_event(&Event {
            run_id: self.run_id.clone(),
            at: self.start.elapsed(),
            kind,
        });
    }

    fn finish(&self, outcome: RunOutcome, error: Option<&Error>) {
        if self.finished.swap(true, Ordering::Relaxed) {
            return;
        }
        self.emit(EventKind::RunFinished {
            workflow: self.workflow.into(),
            outcome,
            error: error.map(|e| e.to_string()),
            error_kind: error.map(Error::kind),
            node: error.and_then(Error::node).map(Into::into),
            element: error.and_then(Error::element),
            duration: self.start.elapsed(),
        });
    }
}

/// The events of one node (or element), from `NodeStarted` to its one terminal event; a
/// watch dropped before the end reports `NodeCancelled` (or `NodeFailed` after a panic).
pub(crate) struct Watch<'r> {
    observe: &'r Observe,
    node: &'static NodeInfo,
    element: Option<usize>,
    start: Instant,
    attempts: u32,
    done: bool,
}

impl Watch<'_> {
    /// Attempt `attempt` failed with `error`; the next starts after `delay`.
    pub(crate) fn retrying(
        &mut self,
        attempt: u32,
        delay: Duration,
        error: String,
        error_kind: ErrorKind,
    ) {
        self.observe.emit(EventKind::NodeRetrying {
            node: self.node.name().into(),
            element: self.element,
            attempt,
            delay,
            error,
            error_kind,
        });
    }

    /// Attempt `attempt` started (it has its permits and its rate-limit start).
    pub(crate) fn started(&mut self, attempt: u32) {
        self.attempts = attempt;
    }

    /// The node returned its output.
    pub(crate) fn finished(mut self) {
        self.done = true;
        self.observe.emit(EventKind::NodeFinished {
            node: self.node.name().into(),
            element: self.element,
            attempts: self.attempts,
            duration: self.start.elapsed(),
        });
    }

    /// The node failed for good.
    pub(crate) fn failed(self, error: &Error) {
        self.failed_with(error_text(error), error.kind());
    }

    fn failed_with(mut self, error: String, error_kind: ErrorKind) {
        self.done = true;
        self.observe.emit(EventKind::NodeFailed {
            node: self.node.name().into(),
            element: self.element,
            attempts: self.attempts,
            duration: self.start.elapsed(),
            error,
            error_kind,
        });
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.observe.emit(EventKind::NodeCancelled {
                node: self.node.name().into(),
                element: self.element,
                attempts: self.attempts,
                duration: self.start.elapsed(),
            });
        }
    }
}

/// The span of one node attempt, parented to the run's span. Closed with its outcome and
/// duration; dropped unclosed, it records `cancelled`.
pub(crate) struct AttemptSpan {
    span: Span,
    start: Instant,
    open: bool,
}

impl AttemptSpan {
    /// The span of attempt `attempt` of `node`; `None` when no subscriber wants it.
    #[inline]
    pub(crate) fn open(
        track: &Track,
        node: &'static NodeInfo,
        element: Option<usize>,
        attempt: u32,
    ) -> Option<Self> {
        let parent = track.span()?;
        let span = tracing::info_span!(
            target: "flow_runtime",
            parent: parent,
            "node",
            otel.name = node.name(),
            node = node.name(),
            attempt = i64::from(attempt),
            element = Empty,
            outcome = Empty,
            duration_ms = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
            exception.message = Empty,
        );
        if span.is_disabled() {
            return None;
        }
        if let Some(element) = element {
            // Numbers as numbers: OpenTelemetry has no unsigned integers.
            span.record("element", i64::try_from(element).unwrap_or(i64::MAX));
        }
        Some(AttemptSpan {
            span,
            start: Instant::now(),
            open: true,
        })
    }

    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Records the attempt's outcome (`ok`, `failed`, `timed_out`, `panicked`) and duration,
    /// and, for an attempt that did not succeed, the span's error status and message.
    pub(crate) fn close(mut self, outcome: &'static str, error: Option<&dyn Display>) {
        self.record(outcome, error);
    }

    fn record(&mut self, outcome: &'static str, error: Option<&dyn Display>) {
        self.open = false;
        self.span.record("outcome", outcome);
        self.span
            .record("duration_ms", self.start.elapsed().as_secs_f64() * 1e3);
        match error {
            None => {
                self.span.record("otel.status_code", "ok");
            }
            Some(e) => record_error(&self.span, e),
        }
    }
}

/// Marks `span` failed with `error`: the OpenTelemetry status `error` with the message as
/// its description, and the message as `exception.message` (the fields
/// `tracing-opentelemetry` maps to a span's status and the semantic conventions).
fn record_error(span: &Span, error: &dyn Display) {
    let message = error.to_string();
    span.record("otel.status_code", "error");
    span.record("otel.status_description", message.as_str());
    span.record("exception.message", message.as_str());
}

impl Drop for AttemptSpan {
    fn drop(&mut self) {
        if self.open {
            // Stopped from outside (a sibling failed, a race was lost, the run ended): not
            // an error of this attempt, so the status stays unset.
            self.open = false;
            self.span.record("outcome", "cancelled");
            self.span
                .record("duration_ms", self.start.elapsed().as_secs_f64() * 1e3);
        }
    }
}

/// What a node without policies reports, from its first poll: its one attempt's span and
/// its watch. Boxed, and only when there is something to report.
pub(crate) struct Seen<'r> {
    pub(crate) span: Option<AttemptSpan>,
    pub(crate) watch: Option<Watch<'r>>,
    /// Set when a panic unwinds through the node's poll.
    pub(crate) panicked: AtomicBool,
}

impl<'r> Seen<'r> {
    /// What to report about `node`'s start, or `None` when nothing listens.
    #[cold]
    #[inline(never)]
    pub(crate) fn begin(
        track: &'r Track,
        node: &'static NodeInfo,
        element: Option<usize>,
    ) -> Option<Box<Self>> {
        let span = AttemptSpan::open(track, node, element, 1);
        if span.is_none() && !track.observed() {
            return None;
        }
        Some(Box::new(Seen {
            span,
            watch: track.watch(node, element),
            panicked: AtomicBool::new(false),
        }))
    }

    /// The node returned; `failure` is its error if it failed.
    #[allow(clippy::boxed_local)] // Taken as it is stored: the box ends here.
    pub(crate) fn end(mut self: Box<Self>, failure: Option<&Error>) {
        if let Some(span) = self.span.take() {
            match failure {
                Some(e) => span.close("failed", Some(&error_text(e))),
                None => span.close("ok", None),
            }
        }
        if let Some(watch) = self.watch.take() {
            match failure {
                Some(e) => watch.failed(e),
                None => watch.finished(),
            }
        }
    }
}

impl Drop for Seen<'_> {
    fn drop(&mut self) {
        if *self.panicked.get_mut() {
            if let Some(span) = self.span.take() {
                span.close("panicked", Some(&"panicked"));
            }
            if let Some(watch) = self.watch.take() {
                watch.failed_with("panicked".to_string(), ErrorKind::NodePanicked);
            }
        }
    }
}

/// The text of a node's failure for an event: the cause, without the workflow and node the
/// event already names.
pub(crate) fn error_text(error: &Error) -> String {
    match std::error::Error::source(error) {
        Some(source) => source.to_string(),
        None => error.to_string(),
    }
}
