//! Limits chosen at run time: a map's concurrency from a workflow input or from
//! `RunOptions::map_concurrency`, and limiters built at run time (`Limiters`) that nodes
//! name with `limit = "name"` / `rate_limit = "name"`.

use crate::common::*;
use flow_runtime::{
    ConcurrencyLimit, ErrorKind, Limiters, RateLimiter, RunOptions, node, workflow,
};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the calls in flight and the most there ever were.
#[derive(Default)]
pub struct Gauge {
    now: AtomicUsize,
    pub peak: AtomicUsize,
    pub calls: AtomicUsize,
}

impl Gauge {
    pub async fn hold(&self, ms: u64) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        sleep_ms(ms).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Resolute's `ParallelEach` with its concurrency from configuration.
pub mod each {
    use super::*;

    pub struct Work {
        pub items: Vec<u32>,
        pub gauge: Gauge,
    }
    pub struct Item(pub u32);
    #[node]
    async fn items(w: &Work) -> Vec<Item> {
        w.items.iter().copied().map(Item).collect()
    }
    #[node]
    async fn process(w: &Work, n: &Item) -> u32 {
        w.gauge.hold(10).await;
        n.0 * 2
    }
    #[node]
    async fn total(all: &[u32]) -> u32 {
        all.iter().sum()
    }

    #[workflow(items, map(process, concurrency = workers), total)]
    pub async fn from_input(w: &Work, workers: NonZeroUsize) -> u32;

    #[workflow(items, map(process, concurrency = workers), total)]
    pub async fn maybe_bounded(w: &Work, workers: Option<NonZeroUsize>) -> u32;

    #[workflow(items, map(process, concurrency = 8), total)]
    pub async fn literal(w: &Work) -> u32;

    pub fn work(n: u32) -> Work {
        Work {
            items: (1..=n).collect(),
            gauge: Gauge::default(),
        }
    }
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_maps_concurrency_comes_from_an_input() {
    use each::*;
    let w = work(6);
    let start = tokio::time::Instant::now();
    assert_eq!(from_input(&w, nz(2)).await.unwrap(), 42);
    assert_eq!(w.gauge.peak(), 2);
    assert_eq!(start.elapsed(), ms(30));

    let w = work(6);
    assert_eq!(maybe_bounded(&w, Some(nz(3))).await.unwrap(), 42);
    assert_eq!(w.gauge.peak(), 3);
    let w = work(6);
    assert_eq!(maybe_bounded(&w, None).await.unwrap(), 42);
    assert_eq!(w.gauge.peak(), 6, "`None`: every element at once");
}

#[tokio::test(start_paused = true)]
async fn run_options_set_a_maps_concurrency_by_node_name() {
    use each::*;
    let w = work(6);
    let out = literal::run(RunOptions::new().map_concurrency("process", nz(1)), &w)
        .await
        .unwrap();
    assert_eq!(out, 42);
    assert_eq!(w.gauge.peak(), 1);
    // It wins over an input's too.
    let w = work(6);
    from_input::run(
        RunOptions::new().map_concurrency("process", nz(3)),
        &w,
        nz(1),
    )
    .await
    .unwrap();
    assert_eq!(w.gauge.peak(), 3);

    // A node the workflow does not map is an error before anything runs.
    let w = work(6);
    let err = literal::run(RunOptions::new().map_concurrency("proces", nz(2)), &w)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOptions);
    assert_eq!(w.gauge.calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        anyhow_chain(&err),
        "workflow `literal` was given options that do not fit it: `RunOptions::map_concurrency` names node `proces`, which workflow `literal` does not map: it maps `process`"
    );
}

/// GraphFlow's `max_concurrent` from configuration: limiters built at run time, shared by
/// the runs given them.
pub mod named {
    use super::*;

    pub struct Job {
        pub db: Gauge,
        pub api_starts: std::sync::Mutex<Vec<u64>>,
        pub start: tokio::time::Instant,
    }
    pub struct Row;
    #[node]
    async fn rows(_j: &Job) -> Vec<Row> {
        (0..6).map(|_| Row).collect()
    }
    #[node(limit = "database")]
    async fn write(j: &Job, _row: &Row) -> u32 {
        j.db.hold(10).await;
        1
    }
    #[node(rate_limit = "api")]
    async fn call_api(j: &Job, _row: &Row) -> u32 {
        j.api_starts
            .lock()
            .unwrap()
            .push(j.start.elapsed().as_millis() as u64);
        1
    }
    #[node]
    async fn done(written: &[u32]) -> usize {
        written.len()
    }
    #[workflow(rows, map(write), done)]
    pub async fn store(j: &Job) -> usize;

    #[node]
    async fn called(calls: &[u32]) -> usize {
        calls.len()
    }
    #[workflow(rows, map(call_api), called)]
    pub async fn notify(j: &Job) -> usize;

    pub fn job() -> Job {
        Job {
            db: Gauge::default(),
            api_starts: std::sync::Mutex::new(Vec::new()),
            start: tokio::time::Instant::now(),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn limiters_built_at_run_time_are_shared_by_the_runs_given_them() {
    use named::*;
    let db_permits = 2; // from configuration
    let limiters = Limiters::new()
        .limit("database", ConcurrencyLimit::new(db_permits))
        .rate_limit(
            "api",
            RateLimiter::new(2, std::time::Duration::from_millis(100)),
        );
    let j = job();
    // Two runs at once, one limit of 2 between them.
    let (a, b) = tokio::join!(
        store::run(RunOptions::new().limiters(&limiters), &j),
        store::run(RunOptions::new().limiters(&limiters), &j),
    );
    assert_eq!((a.unwrap(), b.unwrap()), (6, 6));
    assert_eq!(j.db.peak(), 2);
    assert_eq!(j.db.calls.load(Ordering::SeqCst), 12);

    let j = job();
    assert_eq!(
        notify::run(RunOptions::new().limiters(&limiters), &j)
            .await
            .unwrap(),
        6
    );
    // Two at once, then one every 50 ms.
    assert_eq!(*j.api_starts.lock().unwrap(), [0, 0, 50, 100, 150, 200]);
}

#[tokio::test]
async fn a_node_whose_limiter_the_run_was_not_given_fails_naming_it() {
    use named::*;
    let j = job();
    let err = store::run(RunOptions::new().limiters(&Limiters::new()), &j)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOptions);
    assert_eq!(err.node_name(), Some("write"));
    assert!(
        anyhow_chain(&err).contains(
            "node `write` takes the limit named `database` (`limit = \"database\"`), which the run was not given"
        ),
        "{err:#}"
    );
    assert_eq!(j.db.calls.load(Ordering::SeqCst), 0);
    // Called without options, there are no limiters at all.
    let err = store(&j).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOptions);
}
