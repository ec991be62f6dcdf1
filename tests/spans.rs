//! `tracing` spans: one per run, one per node attempt parented to it, with the node, the
//! attempt, the element, the outcome and the duration.
//!
//! A test binary of its own: no other test's runs register `tracing` callsites while these
//! tests install and remove their subscribers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use flow_runtime::{RunOptions, node, workflow};

use std::time::Duration;
use tokio::time::sleep;

/// One span as the subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    parent: Option<usize>,
    fields: BTreeMap<String, String>,
    closed: bool,
}

impl Seen {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// Records every span, its parent (by record index), its fields and whether it closed.
#[derive(Clone, Default)]
struct Spans {
    seen: Arc<Mutex<Vec<Seen>>>,
    open: Arc<Mutex<BTreeMap<u64, usize>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent_id = match attrs.parent() {
            Some(p) => Some(p.clone()),
            None if attrs.is_contextual() => ctx.current_span().id().cloned(),
            None => None,
        };
        let open = self.open.lock().unwrap();
        let parent = parent_id.and_then(|p| open.get(&p.into_u64()).copied());
        drop(open);
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut seen = self.seen.lock().unwrap();
        seen.push(Seen {
            name: attrs.metadata().name(),
            parent,
            fields,
            closed: false,
        });
        self.open
            .lock()
            .unwrap()
            .insert(id.into_u64(), seen.len() - 1);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(&k) = self.open.lock().unwrap().get(&id.into_u64()) {
            values.record(&mut Fields(&mut self.seen.lock().unwrap()[k].fields));
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        if let Some(k) = self.open.lock().unwrap().remove(&id.into_u64()) {
            self.seen.lock().unwrap()[k].closed = true;
        }
    }
}

/// The recording subscriber, installed for one test: the tests that install one run one at a
/// time, because `tracing` recomputes its global level hint whenever a subscriber comes or
/// goes, which can race with another test's run deciding whether anyone listens.
struct Installed {
    _default: tracing::subscriber::DefaultGuard,
    _serial: std::sync::MutexGuard<'static, ()>,
}

static SERIAL: Mutex<()> = Mutex::new(());

impl Spans {
    fn install(&self) -> Installed {
        let serial = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Installed {
            _default: tracing::subscriber::set_default(
                tracing_subscriber::registry().with(self.clone()),
            ),
            _serial: serial,
        }
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub struct Left(u32);
pub struct Right(u32);
pub struct Joined(u32);
pub struct Outer(u32);
pub struct Square(u64);
pub struct Total(u64);

#[node]
async fn left(seed: &u32) -> Left {
    sleep(Duration::from_millis(10)).await;
    Left(seed + 1)
}

#[node]
async fn right(seed: &u32) -> Right {
    sleep(Duration::from_millis(20)).await;
    Right(seed + 2)
}

#[node]
async fn join(l: &Left, r: &Right) -> Joined {
    Joined(l.0 + r.0)
}

#[workflow(left, right, join)]
async fn inner(seed: u32) -> Joined;

#[node]
async fn wrap(j: &Joined) -> Outer {
    Outer(j.0 * 10)
}

#[workflow(inner, wrap)]
async fn outer(seed: u32) -> Outer;

#[node]
async fn items(n: &u64) -> Vec<u64> {
    (1..=*n).collect()
}

#[node]
async fn square(x: &u64) -> Square {
    sleep(Duration::from_millis(10 * x)).await;
    Square(x * x)
}

#[node]
async fn total(squares: &[Square]) -> Total {
    Total(squares.iter().map(|s| s.0).sum())
}

#[workflow(items, map(square, concurrency = 2), total)]
async fn squares(n: u64) -> Total;

pub struct Ping;
pub struct Pong;
pub struct Rally;

static PING: Notify = Notify::const_new();
static PONG: Notify = Notify::const_new();

// Each waits for the other's signal: the run finishes only if both spans are open at once.
#[node]
async fn ping(_x: &u32) -> Ping {
    PONG.notify_one();
    PING.notified().await;
    Ping
}

#[node]
async fn pong(_x: &u32) -> Pong {
    PING.notify_one();
    PONG.notified().await;
    Pong
}

#[node]
async fn rally(_a: &Ping, _b: &Pong) -> Rally {
    Rally
}

#[workflow(ping, pong, rally)]
async fn table(x: u32) -> Rally;

#[tokio::test]
async fn parallel_nodes_have_their_own_spans_under_the_run_span() {
    let spans = Spans::default();
    let _guard = spans.install();
    table::run(RunOptions::new().run_id("t-1"), 1)
        .await
        .unwrap();
    table(2).await.unwrap();
    let all = spans.all();
    let runs: Vec<usize> = (0..all.len())
        .filter(|&k| all[k].name == "workflow")
        .collect();
    assert_eq!(runs.len(), 2, "{all:#?}");
    let run = &all[runs[0]];
    assert_eq!(run.field("workflow"), "table");
    assert_eq!(run.field("run_id"), "t-1");
    assert_eq!(run.field("outcome"), "ok");
    assert!(
        !all[runs[1]].field("run_id").is_empty(),
        "a plain run gets a run id"
    );
    for (r, &k) in runs.iter().enumerate() {
        let nodes: Vec<&Seen> = all.iter().filter(|s| s.parent == Some(k)).collect();
        let names: Vec<&str> = nodes.iter().map(|s| s.field("node")).collect();
        assert_eq!(names, ["ping", "pong", "rally"], "run {r}");
        for s in nodes {
            assert_eq!(s.name, "node");
            assert_eq!(s.field("attempt"), "1");
            assert_eq!(s.field("outcome"), "ok");
            assert_eq!(s.field("otel.name"), s.field("node"));
            assert!(s.field("duration_ms").parse::<f64>().is_ok(), "{s:?}");
            assert!(s.closed);
        }
    }
}

pub struct Fetched;

static SHAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[node(retry(max_attempts = 3, initial = "100ms", jitter = false))]
async fn shaky(_x: &u32) -> Result<Fetched, String> {
    sleep(Duration::from_millis(10)).await;
    if SHAKY_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        Err("try again".to_string())
    } else {
        Ok(Fetched)
    }
}

#[workflow(shaky)]
async fn retried(x: u32) -> Fetched;

#[tokio::test(start_paused = true)]
async fn each_retry_is_its_own_span_with_its_attempt_and_outcome() {
    let spans = Spans::default();
    let _guard = spans.install();
    retried(1).await.unwrap();
    let all = spans.all();
    let run = all.iter().position(|s| s.name == "workflow").unwrap();
    let attempts: Vec<(&str, &str, &str, &str)> = all
        .iter()
        .filter(|s| s.parent == Some(run))
        .map(|s| {
            (
                s.field("node"),
                s.field("attempt"),
                s.field("outcome"),
                s.field("duration_ms"),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            ("shaky", "1", "failed", "10.0"),
            ("shaky", "2", "failed", "10.0"),
            ("shaky", "3", "ok", "10.0"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn map_elements_have_spans_with_their_index() {
    let spans = Spans::default();
    let _guard = spans.install();
    assert_eq!(squares(3).await.unwrap().0, 14);
    let all = spans.all();
    let run = all.iter().position(|s| s.name == "workflow").unwrap();
    let elements: Vec<(&str, &str)> = all
        .iter()
        .filter(|s| s.parent == Some(run) && s.field("node") == "square")
        .map(|s| (s.field("element"), s.field("outcome")))
        .collect();
    assert_eq!(elements, [("0", "ok"), ("1", "ok"), ("2", "ok")]);
}

#[tokio::test(start_paused = true)]
async fn a_sub_workflow_run_span_is_inside_its_node_span() {
    let spans = Spans::default();
    let _guard = spans.install();
    assert_eq!(outer(1).await.unwrap().0, 50);
    let all = spans.all();
    let outer_run = all
        .iter()
        .position(|s| s.name == "workflow" && s.field("workflow") == "outer")
        .unwrap();
    let inner_node = all
        .iter()
        .position(|s| s.parent == Some(outer_run) && s.field("node") == "inner")
        .unwrap();
    let inner_run = all
        .iter()
        .position(|s| s.name == "workflow" && s.field("workflow") == "inner")
        .unwrap();
    assert_eq!(all[inner_run].parent, Some(inner_node));
    let inner_nodes: Vec<&str> = all
        .iter()
        .filter(|s| s.parent == Some(inner_run))
        .map(|s| s.field("node"))
        .collect();
    assert_eq!(inner_nodes, ["left", "right", "join"]);
}

pub struct Lost;

#[node]
async fn lost(_x: &u32) -> Result<Lost, String> {
    Err("gone".into())
}

#[workflow(lost)]
async fn losing(x: u32) -> Lost;

#[tokio::test]
async fn a_failed_run_records_its_outcome() {
    let spans = Spans::default();
    let _guard = spans.install();
    losing(1).await.err().unwrap();
    let all = spans.all();
    let run = all.iter().find(|s| s.name == "workflow").unwrap();
    assert_eq!(run.field("outcome"), "failed");
    let node = all.iter().find(|s| s.name == "node").unwrap();
    assert_eq!(node.field("outcome"), "failed");
}
