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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{ErrorKind, RunId, RunReport};

/// One thing that happened in a run.
///
/// Serialized with its time as milliseconds (`"at_ms": 12.5`), as every duration of an event
/// is (`duration_ms`, `delay_ms`); the run's wall-clock start is in
/// [`RunStarted`](EventKind::RunStarted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The run it happened in.
    pub run_id: RunId,
    /// When, measured from the run's start (on tokio's clock).
    #[serde(rename = "at_ms", with = "millis")]
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
        /// When the run started, on the system's clock (serialized in RFC 3339, UTC:
        /// `"2026-12-01T23:24:06.123456789Z"`). The events a store rebuilds from a journal
        /// ([`RunRecord::events`](crate::store::RunRecord::events)) give the recorded start.
        #[serde(with = "wall")]
        started_at: SystemTime,
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
        /// The kind of that error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_kind: Option<ErrorKind>,
        /// The node whose failure ended the run, when one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<Name>,
        /// The element of that node, for a mapped node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        element: Option<usize>,
        /// How long the run took.
        #[serde(rename = "duration_ms", with = "millis")]
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
        #[serde(rename = "delay_ms", with = "millis")]
        delay: Duration,
        /// Why the attempt failed.
        error: String,
        /// How it failed: [`ErrorKind::NodeFailed`] or [`ErrorKind::NodeTimedOut`].
        error_kind: ErrorKind,
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
        #[serde(rename = "duration_ms", with = "millis")]
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
        #[serde(rename = "duration_ms", with = "millis")]
        duration: Duration,
        /// Why it failed.
        error: String,
        /// How it failed: [`ErrorKind::NodeFailed`], [`ErrorKind::NodeTimedOut`],
        /// [`ErrorKind::NodePanicked`], [`ErrorKind::InvalidOptions`], ... A failure of a
        /// `continue_on_error` node is reported so too, and the run goes on:
        /// [`RunFinished`](EventKind::RunFinished) names the node whose failure ended it.
        error_kind: ErrorKind,
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
        #[serde(rename = "duration_ms", with = "millis")]
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

    /// The kind of error of a failure event (`NodeFailed`, `NodeRetrying`, a failed
    /// `RunFinished`).
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            EventKind::NodeFailed { error_kind, .. }
            | EventKind::NodeRetrying { error_kind, .. } => Some(*error_kind),
            EventKind::RunFinished { error_kind, .. } => *error_kind,
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
/// queue until the stream takes them, without bound (a consumer slower than the runs
/// grows the queue); [`bounded`] keeps at most a given number.
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
    let lost = Arc::new(AtomicU64::new(0));
    (
        EventSender(Sender::Unbounded(tx), lost.clone()),
        EventStream(Receiver::Unbounded(rx), lost),
    )
}

/// [`channel`] with room for at most `capacity` events (at least 1) waiting in the stream.
///
/// A run never waits for its observer, so when the stream is full an event is **dropped**,
/// not queued: the run goes on, and the stream counts what it missed
/// ([`EventStream::lost`]). Size it for the bursts you expect (a 1 000-element map sends
/// 2 000 events at once) or consume as fast as runs produce.
///
/// ```
/// use flow_runtime::events::bounded;
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
/// let (sender, mut events) = bounded(2);
/// twice::run(RunOptions::new().observe(sender), 21).await?;   // 4 events, nobody reading
/// assert_eq!(events.recv().await.unwrap().kind.name(), "run_started");
/// assert_eq!(events.recv().await.unwrap().kind.name(), "node_started");
/// assert!(events.recv().await.is_none());
/// assert_eq!(events.lost(), 2);
/// # Ok(())
/// # }
/// ```
pub fn bounded(capacity: usize) -> (EventSender, EventStream) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let lost = Arc::new(AtomicU64::new(0));
    (
        EventSender(Sender::Bounded(tx), lost.clone()),
        EventStream(Receiver::Bounded(rx), lost),
    )
}

#[derive(Debug, Clone)]
enum Sender {
    Unbounded(mpsc::UnboundedSender<Event>),
    Bounded(mpsc::Sender<Event>),
}

#[derive(Debug)]
enum Receiver {
    Unbounded(mpsc::UnboundedReceiver<Event>),
    Bounded(mpsc::Receiver<Event>),
}

/// The sending half of [`channel`] or [`bounded`]: an [`Observer`].
#[derive(Debug, Clone)]
pub struct EventSender(Sender, Arc<AtomicU64>);

impl Observer for EventSender {
    fn on_event(&self, event: &Event) {
        // A closed stream means nobody listens any more; the run goes on.
        match &self.0 {
            Sender::Unbounded(tx) => {
                let _ = tx.send(event.clone());
            }
            Sender::Bounded(tx) => {
                if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(event.clone()) {
                    self.1.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The receiving half of [`channel`] or [`bounded`]: the events in order, also as a
/// [`Stream`](futures_util::Stream).
#[derive(Debug)]
pub struct EventStream(Receiver, Arc<AtomicU64>);

impl EventStream {
    /// The next event, or `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Event> {
        match &mut self.0 {
            Receiver::Unbounded(rx) => rx.recv().await,
            Receiver::Bounded(rx) => rx.recv().await,
        }
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        match &mut self.0 {
            Receiver::Unbounded(rx) => rx.try_recv().ok(),
            Receiver::Bounded(rx) => rx.try_recv().ok(),
        }
    }

    /// How many events were dropped so far because a [`bounded`] stream was full (always
    /// 0 for [`channel`]).
    pub fn lost(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }
}

impl futures_util::Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        match &mut self.0 {
            Receiver::Unbounded(rx) => rx.poll_recv(cx),
            Receiver::Bounded(rx) => rx.poll_recv(cx),
        }
    }
}

/// Durations as milliseconds, a float (`12.5`), in events and reports.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e3)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1e3).map_err(serde::de::Error::custom)
    }

    /// The same for an `Option<Duration>`.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_some(&(d.as_secs_f64() * 1e3)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            match Option::<f64>::deserialize(d)? {
                Some(ms) => Duration::try_from_secs_f64(ms / 1e3)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// Wall-clock times as RFC 3339 text in UTC, to the nanosecond
/// (`2026-12-01T23:24:06.123456789Z`), so that they read back equal.
pub(crate) mod wall {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    /// The time's text.
    pub fn format(t: SystemTime) -> String {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs() as i64;
        let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Days to a civil date (H. Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
            rest / 3_600,
            rest % 3_600 / 60,
            rest % 60,
            since.subsec_nanos()
        )
    }

    /// The time a text of [`format`]'s form (seconds' fraction optional) names.
    pub fn parse(text: &str) -> Option<SystemTime> {
        let text = text.strip_suffix('Z')?;
        let (date, time) = text.split_once('T')?;
        let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        let (year, month, day) = (d.next()??, d.next()??, d.next()??);
        let (hms, frac) = match time.split_once('.') {
            Some((hms, frac)) => (hms, frac),
            None => (time, ""),
        };
        let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
        let (h, m, s) = (t.next()??, t.next()??, t.next()??);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
            return None;
        }
        let nanos = if frac.is_empty() {
            0
        } else {
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            format!("{frac:0<9}").parse::<u32>().ok()?
        };
        // A civil date to days (the inverse of `format`'s).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = if month > 2 { month - 3 } else { month + 9 };
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = u64::try_from(days * 86_400 + h * 3_600 + m * 60 + s).ok()?;
        UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
    }

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time in UTC"))
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn formats_and_parses_back() {
            assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
            let t = UNIX_EPOCH + Duration::new(1_796_167_446, 123_456_789);
            assert_eq!(format(t), "2026-12-01T23:24:06.123456789Z");
            assert_eq!(parse(&format(t)), Some(t));
            assert_eq!(
                parse("2026-12-01T23:24:06.123Z"),
                Some(UNIX_EPOCH + Duration::from_millis(1_796_167_446_123))
            );
            assert_eq!(
                parse("2024-02-29T00:00:00Z"),
                Some(UNIX_EPOCH + Duration::from_secs(1_709_164_800))
            );
            assert_eq!(parse("2024-13-01T00:00:00Z"), None);
            assert_eq!(parse("yesterday"), None);
        }
    }
}
