//! Durable workflows on a real Temporal server: the semantics are flow's.

mod server;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flow_runtime::{ErrorKind, RunOptions, node, workflow};
use flow_temporal::Worker;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Order(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Price(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Stock(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Discount(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Receipt(pub String);

static PRICED: AtomicU32 = AtomicU32::new(0);

#[node]
async fn price(o: &Order) -> Price {
    PRICED.fetch_add(1, Ordering::SeqCst);
    Price(o.0 * 10)
}

#[node]
async fn stock(o: &Order) -> Stock {
    Stock(o.0 + 1)
}

/// Only large orders get a discount.
#[node]
async fn discount(p: &Price) -> Option<Discount> {
    (p.0 >= 100).then_some(Discount(p.0 / 10))
}

#[node]
async fn receipt(p: &Price, s: &Stock, d: Option<&Discount>) -> Receipt {
    Receipt(format!(
        "price {} stock {} discount {}",
        p.0,
        s.0,
        d.map_or("none".to_owned(), |d| d.0.to_string())
    ))
}

#[workflow(price, stock, discount, receipt, durable)]
pub async fn checkout(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_runs_on_temporal_with_flows_semantics() {
    let client = server::client().await;
    let queue = server::queue("checkout");
    let worker = Worker::new(&client, &queue).register::<checkout>();
    server::serve(worker, Duration::from_secs(60), async {
        let small = client
            .execute::<checkout>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-small")),
                (Order(3),),
            )
            .await
            .unwrap();
        assert_eq!(small, Receipt("price 30 stock 4 discount none".into()));
        let large = client
            .execute::<checkout>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-large")),
                (Order(20),),
            )
            .await
            .unwrap();
        assert_eq!(large, Receipt("price 200 stock 21 discount 20".into()));
        // The same run id again: the finished run's result, without running a node.
        let before = PRICED.load(Ordering::SeqCst);
        let again = client
            .execute::<checkout>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-large")),
                (Order(20),),
            )
            .await
            .unwrap();
        assert_eq!(again, large);
        assert_eq!(PRICED.load(Ordering::SeqCst), before);
    })
    .await;
}

#[derive(Debug)]
pub struct Declined(String);
impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "card declined: {}", self.0)
    }
}
impl std::error::Error for Declined {}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Charge(pub u32);

#[node]
async fn charge(p: &Price) -> Result<Charge, Declined> {
    Err(Declined(format!("{} is too much", p.0)))
}

#[workflow(price, charge, durable)]
pub async fn pay(o: Order) -> Charge;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_node_fails_the_run_with_flows_error() {
    let client = server::client().await;
    let queue = server::queue("pay");
    let worker = Worker::new(&client, &queue).register::<pay>();
    server::serve(worker, Duration::from_secs(60), async {
        let err = client
            .execute::<pay>(&queue, RunOptions::new(), (Order(7),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NodeFailed);
        assert_eq!(err.node_name(), Some("charge"));
        assert_eq!(err.workflow(), "pay");
        assert_eq!(err.attempts(), 1);
        assert_eq!(err.to_string(), "node `charge` of workflow `pay` failed");
        let cause = std::error::Error::source(&err).expect("the node's error");
        assert_eq!(cause.to_string(), "card declined: 70 is too much");
    })
    .await;
}

// ---- every shape in one workflow: a map, a race, a sub-workflow, a tolerated failure,
// ---- and compensation when the last node fails

static LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn log(line: impl Into<String>) {
    LOG.lock().unwrap().push(line.into());
}

fn logged() -> Vec<String> {
    LOG.lock().unwrap().clone()
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Hold(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Items(pub Vec<u32>);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Quote(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Level(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Review(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Summary(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Audit(pub String);

#[node(compensate = release)]
async fn reserve(o: &Order) -> Hold {
    log(format!("reserve {}", o.0));
    Hold(o.0)
}

async fn release(h: &Hold) -> Result<(), std::io::Error> {
    log(format!("release {}", h.0));
    Ok(())
}

#[node]
async fn items(o: &Order) -> Vec<u32> {
    (1..=o.0).collect()
}

#[node]
async fn square(x: &u32) -> u64 {
    u64::from(*x) * u64::from(*x)
}

#[node]
async fn fast_quote(o: &Order) -> Result<Quote, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(Quote(format!("fast {}", o.0)))
}

#[node]
async fn slow_quote(o: &Order) -> Result<Quote, std::io::Error> {
    log("slow started");
    tokio::time::sleep(Duration::from_secs(60)).await;
    log("slow finished");
    Ok(Quote(format!("slow {}", o.0)))
}

#[node]
async fn stock_level(o: &Order) -> Level {
    Level(o.0 * 2)
}

#[workflow(stock_level, durable)]
pub async fn inventory(o: Order) -> Level;

#[node(continue_on_error)]
async fn flaky_review(_o: &Order) -> Result<Review, std::io::Error> {
    Err(std::io::Error::other("the reviewer is away"))
}

#[node]
async fn summarize(
    squares: &[u64],
    q: &Quote,
    level: &Level,
    review: Result<&Review, &flow_runtime::NodeError>,
) -> Summary {
    Summary(format!(
        "squares {:?} quote {} level {} review {}",
        squares,
        q.0,
        level.0,
        match review {
            Ok(r) => r.0.clone(),
            Err(e) => format!(
                "failed ({}: {})",
                e.node_name().unwrap_or("?"),
                std::error::Error::source(e).map_or(String::new(), |s| s.to_string())
            ),
        }
    ))
}

#[node]
async fn audit(s: &Summary, _h: &Hold) -> Result<Audit, std::io::Error> {
    log(format!("audit {}", s.0));
    if s.0.contains("level 8") {
        return Err(std::io::Error::other("the auditor refuses"));
    }
    Ok(Audit(s.0.clone()))
}

#[workflow(
    reserve,
    items,
    map(square, concurrency = 2),
    race(fast_quote, slow_quote),
    inventory,
    flaky_review,
    summarize,
    audit,
    durable
)]
pub async fn shapes(o: Order) -> Audit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_runs_on_temporal_as_in_process() {
    let client = server::client().await;
    let queue = server::queue("shapes");
    let worker = Worker::new(&client, &queue).register::<shapes>();
    server::serve(worker, Duration::from_secs(120), async {
        // In process first: what the Temporal run must equal.
        let local = shapes(Order(3)).await.unwrap();
        let started = std::time::Instant::now();
        let remote = client
            .execute::<shapes>(&queue, RunOptions::new(), (Order(3),))
            .await
            .unwrap();
        assert_eq!(remote, local);
        assert_eq!(
            remote.0,
            "squares [1, 4, 9] quote fast 3 level 6 review failed (flaky_review: the reviewer is away)"
        );
        // The race's loser was cancelled at once: the run did not wait for it.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );

        // The last node fails: the completed, compensated node is compensated, once.
        LOG.lock().unwrap().clear();
        let err = client
            .execute::<shapes>(&queue, RunOptions::new(), (Order(4),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NodeFailed);
        assert!(
            err.compensation_errors().is_empty(),
            "{:?}",
            err.compensation_errors()
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(err.node_name(), Some("audit"));
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "the auditor refuses"
        );
        let lines = logged();
        assert_eq!(
            lines.iter().filter(|l| *l == "reserve 4").count(),
            1,
            "{lines:?}"
        );
        assert_eq!(
            lines.iter().filter(|l| *l == "release 4").count(),
            1,
            "{lines:?}"
        );
        let audit_at = lines.iter().position(|l| l.starts_with("audit")).unwrap();
        let release_at = lines.iter().position(|l| l == "release 4").unwrap();
        assert!(audit_at < release_at, "{lines:?}");
        assert!(!lines.iter().any(|l| l == "slow finished"), "{lines:?}");
    })
    .await;
}

// ---- policies run on the worker, as flow counts them; errors of every kind come back as
// ---- the run in process returns them

static FLAKY: AtomicU32 = AtomicU32::new(0);

#[node(retry(max_attempts = 3, initial = "10ms"))]
async fn flaky(o: &Order) -> Result<Price, std::io::Error> {
    if FLAKY.fetch_add(1, Ordering::SeqCst) % 3 < 2 {
        return Err(std::io::Error::other("not yet"));
    }
    Ok(Price(o.0))
}

#[workflow(flaky, durable)]
pub async fn retried(o: Order) -> Price;

#[node(timeout = "100ms")]
async fn sleepy(o: &Order) -> Price {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Price(o.0)
}

#[workflow(sleepy, durable)]
pub async fn timed(o: Order) -> Price;

#[node]
async fn boom(_o: &Order) -> Price {
    panic!("the node gave up")
}

#[workflow(boom, durable)]
pub async fn panics(o: Order) -> Price;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Blob(pub String);

#[node]
async fn huge(_o: &Order) -> Blob {
    Blob("x".repeat(3 * 1024 * 1024))
}

#[workflow(huge, durable)]
pub async fn oversized(o: Order) -> Blob;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_errors_are_flows() {
    let client = server::client().await;
    let queue = server::queue("policies");
    let worker = Worker::new(&client, &queue)
        .register::<retried>()
        .register::<timed>()
        .register::<panics>()
        .register::<oversized>();
    server::serve(worker, Duration::from_secs(120), async {
        // Retries run on the worker, counted as flow counts them.
        FLAKY.store(0, Ordering::SeqCst);
        let price = client
            .execute::<retried>(&queue, RunOptions::new(), (Order(5),))
            .await
            .unwrap();
        assert_eq!(price, Price(5));
        assert_eq!(FLAKY.load(Ordering::SeqCst), 3);

        let err = client
            .execute::<timed>(&queue, RunOptions::new(), (Order(1),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NodeTimedOut);
        assert_eq!(err.node_name(), Some("sleepy"));
        assert_eq!(err.attempts(), 1);
        // The same text and cause as the run in process.
        let local = timed(Order(1)).await.unwrap_err();
        assert_eq!(err.to_string(), local.to_string());
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            std::error::Error::source(&local).unwrap().to_string()
        );

        let err = client
            .execute::<panics>(&queue, RunOptions::new(), (Order(1),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NodePanicked);
        assert_eq!(err.node_name(), Some("boom"));
        let local = panics(Order(1)).await.unwrap_err();
        assert_eq!(err.to_string(), local.to_string());
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            std::error::Error::source(&local).unwrap().to_string()
        );

        // An output over the payload limit fails its node at once, not retried.
        let started = std::time::Instant::now();
        let err = client
            .execute::<oversized>(&queue, RunOptions::new(), (Order(1),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutputTooLarge);
        assert_eq!(err.node_name(), Some("huge"));
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

// ---- cancellation: the nodes in flight are cancelled, the completed ones compensated

static CANCEL_LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

#[node(compensate = unbook)]
async fn book(o: &Order) -> Hold {
    CANCEL_LOG.lock().unwrap().push("book".into());
    Hold(o.0)
}

async fn unbook(_h: &Hold) -> Result<(), std::io::Error> {
    CANCEL_LOG.lock().unwrap().push("unbook".into());
    Ok(())
}

#[node]
async fn wait_long(_h: &Hold) -> Receipt {
    CANCEL_LOG.lock().unwrap().push("wait started".into());
    tokio::time::sleep(Duration::from_secs(60)).await;
    CANCEL_LOG.lock().unwrap().push("wait finished".into());
    Receipt("late".into())
}

#[workflow(book, wait_long, durable)]
pub async fn cancellable(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_cancels_its_nodes_and_compensates() {
    let client = server::client().await;
    let queue = server::queue("cancel");
    let worker = Worker::new(&client, &queue).register::<cancellable>();
    let stop = worker.shutdown_handle();
    let wait_started = || async {
        while !CANCEL_LOG
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "wait started")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let run = async {
        // In process first: what the Temporal run must do too.
        let token = flow_runtime::CancellationToken::new();
        let local = cancellable::run(
            RunOptions::new().cancellation_token(token.clone()),
            Order(1),
        );
        let cancel = async {
            wait_started().await;
            token.cancel();
        };
        let (local, ()) = tokio::join!(local, cancel);
        assert_eq!(local.unwrap_err().kind(), ErrorKind::Cancelled);
        let in_process = std::mem::take(&mut *CANCEL_LOG.lock().unwrap());
        assert!(!in_process.iter().any(|l| l == "wait finished"));

        let handle = client
            .start::<cancellable>(&queue, RunOptions::new(), (Order(1),))
            .await
            .unwrap();
        wait_started().await;
        let started = std::time::Instant::now();
        handle.cancel().await.unwrap();
        let err = handle.result().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert_eq!(err.to_string(), "workflow `cancellable` was cancelled");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
        // Give a compensation that should not run the time to show.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let lines = CANCEL_LOG.lock().unwrap().clone();
        assert_eq!(lines, in_process);
        stop.shutdown();
    };
    let (worker, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(120), worker.run()),
        run
    );
    worker.expect("the worker stops when asked").unwrap();
}

// ---- a workflow's max_concurrency holds per run, on Temporal too

static RUNNING: AtomicU32 = AtomicU32::new(0);
static MOST: AtomicU32 = AtomicU32::new(0);

#[node]
async fn count_items(o: &Order) -> Vec<u32> {
    (0..o.0).collect()
}

#[node]
async fn one_at_a_time(x: &u32) -> Price {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    Price(*x)
}

#[node]
async fn prices(p: &[Price]) -> Receipt {
    Receipt(format!("{} prices", p.len()))
}

#[workflow(count_items, map(one_at_a_time), prices, max_concurrency = 2, durable)]
pub async fn bounded(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_holds_per_run() {
    let client = server::client().await;
    let queue = server::queue("bounded");
    let worker = Worker::new(&client, &queue).register::<bounded>();
    server::serve(worker, Duration::from_secs(120), async {
        let out = client
            .execute::<bounded>(&queue, RunOptions::new(), (Order(6),))
            .await
            .unwrap();
        assert_eq!(out, Receipt("6 prices".into()));
        assert_eq!(MOST.load(Ordering::SeqCst), 2);
    })
    .await;
}

// ---- `limit` holds per worker process; a task queue's rate limit holds for the cluster

static ONE_DB: flow_runtime::ConcurrencyLimit = flow_runtime::ConcurrencyLimit::new(1);
static IN_DB: AtomicU32 = AtomicU32::new(0);
static MOST_IN_DB: AtomicU32 = AtomicU32::new(0);

#[node(limit = ONE_DB)]
async fn write_row(x: &u32) -> Stock {
    let now = IN_DB.fetch_add(1, Ordering::SeqCst) + 1;
    MOST_IN_DB.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    IN_DB.fetch_sub(1, Ordering::SeqCst);
    Stock(*x)
}

#[node]
async fn rows(s: &[Stock]) -> Receipt {
    Receipt(format!("{} rows", s.len()))
}

#[workflow(count_items, map(write_row), rows, durable)]
pub async fn writes(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_limit_holds_across_the_runs_of_a_worker() {
    let client = server::client().await;
    let queue = server::queue("writes");
    let worker = Worker::new(&client, &queue).register::<writes>();
    server::serve(worker, Duration::from_secs(120), async {
        let (a, b) = tokio::join!(
            client.execute::<writes>(&queue, RunOptions::new(), (Order(4),)),
            client.execute::<writes>(&queue, RunOptions::new(), (Order(4),)),
        );
        assert_eq!(a.unwrap(), Receipt("4 rows".into()));
        assert_eq!(b.unwrap(), Receipt("4 rows".into()));
        // Eight calls from two runs, one at a time in this worker process.
        assert_eq!(MOST_IN_DB.load(Ordering::SeqCst), 1);
    })
    .await;
}

static STARTS: std::sync::Mutex<Vec<std::time::Instant>> = std::sync::Mutex::new(Vec::new());

#[node]
async fn paced(x: &u32) -> Discount {
    STARTS.lock().unwrap().push(std::time::Instant::now());
    Discount(*x)
}

#[node]
async fn paced_all(d: &[Discount]) -> Receipt {
    Receipt(format!("{} paced", d.len()))
}

#[workflow(count_items, map(paced), paced_all, durable)]
pub async fn pacing(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_queue_rate_limit_paces_every_worker_of_the_queue() {
    let client = server::client().await;
    let queue = server::queue("pacing");
    let worker = Worker::new(&client, &queue)
        .max_task_queue_nodes_per_second(4.0)
        .register::<pacing>();
    server::serve(worker, Duration::from_secs(120), async {
        let out = client
            .execute::<pacing>(&queue, RunOptions::new(), (Order(12),))
            .await
            .unwrap();
        assert_eq!(out, Receipt("12 paced".into()));
    })
    .await;
    // 14 node calls (the list, 12 elements, the join) at 4 a second: the elements' starts
    // spread over seconds, where unpaced they start within a fraction of one.
    let starts = STARTS.lock().unwrap().clone();
    assert_eq!(starts.len(), 12);
    let spread = *starts.iter().max().unwrap() - *starts.iter().min().unwrap();
    assert!(spread >= Duration::from_millis(1500), "{spread:?}");
}

// ---- another namespace

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_live_in_the_clients_namespace() {
    let default = server::client().await;
    // The test servers start with namespace `flow-other`; another server gets it here.
    let _ = std::process::Command::new("temporal")
        .args([
            "operator",
            "namespace",
            "create",
            "--namespace",
            "flow-other",
        ])
        .args(["--address", server::address()])
        .output();
    let other = flow_temporal::Client::connect_with(
        flow_temporal::ConnectOptions::new(server::address()).namespace("flow-other"),
    )
    .await
    .unwrap();
    assert_eq!(other.namespace(), "flow-other");
    let queue = server::queue("other");
    let worker = Worker::new(&other, &queue).register::<checkout>();
    let id = format!("{queue}-run");
    server::serve(worker, Duration::from_secs(60), async {
        let out = other
            .execute::<checkout>(&queue, RunOptions::new().run_id(id.clone()), (Order(2),))
            .await
            .unwrap();
        assert_eq!(out, Receipt("price 20 stock 3 discount none".into()));
        // The run is the other namespace's: `default` has no run of that id.
        let err = default
            .run::<checkout>(id.clone())
            .result()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend, "{err:#}");
    })
    .await;
}

// ---- the workflow's timeout

static SLOW_RAN: AtomicU32 = AtomicU32::new(0);

#[node]
async fn slow_step(o: &Order) -> Price {
    SLOW_RAN.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    Price(o.0)
}

#[workflow(slow_step, timeout = "2s", durable)]
pub async fn hurried(o: Order) -> Price;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflows_timeout_ends_the_run_as_in_process() {
    let client = server::client().await;
    let queue = server::queue("hurried");
    let worker = Worker::new(&client, &queue).register::<hurried>();
    server::serve(worker, Duration::from_secs(60), async {
        let local = hurried(Order(1)).await.unwrap_err();
        let started = std::time::Instant::now();
        let err = client
            .execute::<hurried>(&queue, RunOptions::new(), (Order(1),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(err.kind(), local.kind());
        assert_eq!(err.to_string(), local.to_string());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // A shorter timeout in the options wins.
        let started = std::time::Instant::now();
        let err = client
            .execute::<hurried>(
                &queue,
                RunOptions::new().timeout(Duration::from_secs(1)),
                (Order(1),),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

// ---- `retry_if` is evaluated on the worker: an error it does not match is final

static PICKY: AtomicU32 = AtomicU32::new(0);

fn is_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

/// Busy twice, then refuses for good.
#[node(retry(max_attempts = 5, initial = "10ms", retry_if = is_busy))]
async fn picky(o: &Order) -> Result<Price, std::io::Error> {
    let n = PICKY.fetch_add(1, Ordering::SeqCst) + 1;
    if n <= 2 {
        return Err(std::io::Error::new(std::io::ErrorKind::WouldBlock, "busy"));
    }
    Err(std::io::Error::other(format!("order {} refused", o.0)))
}

#[workflow(picky, durable)]
pub async fn choosy(o: Order) -> Price;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_if_decides_on_the_worker() {
    let client = server::client().await;
    let queue = server::queue("choosy");
    let worker = Worker::new(&client, &queue).register::<choosy>();
    server::serve(worker, Duration::from_secs(60), async {
        let local = choosy(Order(9)).await.unwrap_err();
        PICKY.store(0, Ordering::SeqCst);
        let err = client
            .execute::<choosy>(&queue, RunOptions::new(), (Order(9),))
            .await
            .unwrap_err();
        // Two retried busy errors, then one that `retry_if` does not match: 3 attempts.
        assert_eq!(PICKY.load(Ordering::SeqCst), 3);
        assert_eq!(err.kind(), ErrorKind::NodeFailed);
        assert_eq!(err.attempts(), 3);
        assert_eq!(err.to_string(), local.to_string());
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "order 9 refused"
        );
    })
    .await;
}

// Several outputs: a router's tuple selects branches; a tolerated node's tuple reaches its
// consumers with its failure.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ToText(pub u32);
/// A unit struct, which JSON writes as `null`: `Some(ToImage)` must still arrive as `Some`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ToImage;
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TextDone(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ImageDone(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Sizes(pub u32, pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Note(pub String);

static TEXTS: AtomicU32 = AtomicU32::new(0);
static IMAGES: AtomicU32 = AtomicU32::new(0);

#[node]
async fn split(o: &Order) -> (Option<ToText>, Option<ToImage>) {
    (
        (o.0 % 2 == 1).then_some(ToText(o.0)),
        (o.0 >= 10).then_some(ToImage),
    )
}
#[node]
async fn do_text(t: &ToText) -> TextDone {
    TEXTS.fetch_add(1, Ordering::SeqCst);
    TextDone(format!("text {}", t.0))
}
#[node]
async fn do_image(_i: &ToImage) -> ImageDone {
    IMAGES.fetch_add(1, Ordering::SeqCst);
    ImageDone("image".into())
}
#[node(continue_on_error)]
async fn measure(o: &Order) -> Result<(Sizes, Note), std::io::Error> {
    if o.0 == 13 {
        return Err(std::io::Error::other("unlucky"));
    }
    Ok((Sizes(o.0, o.0 * 2), Note("measured".into())))
}
#[node]
async fn gather(
    text: Option<&TextDone>,
    image: Option<&ImageDone>,
    sizes: Result<&Sizes, &flow_runtime::NodeError>,
    note: Option<&Note>,
) -> Receipt {
    Receipt(format!(
        "{:?} {:?} {} {:?}",
        text.map(|t| &t.0),
        image.map(|i| &i.0),
        match sizes {
            Ok(s) => format!("{}x{}", s.0, s.1),
            Err(e) => format!("failed: {:?}", e.kind()),
        },
        note.map(|n| &n.0),
    ))
}

#[workflow(split, do_text, do_image, measure, gather, durable)]
pub async fn fan_out(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_outputs_route_and_tolerate_on_temporal_as_in_process() {
    let client = server::client().await;
    let queue = server::queue("fan-out");
    let worker = Worker::new(&client, &queue).register::<fan_out>();
    server::serve(worker, Duration::from_secs(60), async {
        for n in [3, 12, 13, 4] {
            let (texts, images) = (TEXTS.load(Ordering::SeqCst), IMAGES.load(Ordering::SeqCst));
            let on_temporal = client
                .execute::<fan_out>(
                    &queue,
                    RunOptions::new().run_id(format!("{queue}-{n}")),
                    (Order(n),),
                )
                .await
                .unwrap();
            assert_eq!(on_temporal, fan_out(Order(n)).await.unwrap(), "order {n}");
            // Each selected branch ran once on Temporal and once in process; the others never.
            let expect = |selected: bool| if selected { 2 } else { 0 };
            assert_eq!(TEXTS.load(Ordering::SeqCst) - texts, expect(n % 2 == 1));
            assert_eq!(IMAGES.load(Ordering::SeqCst) - images, expect(n >= 10));
        }
        let receipt = fan_out(Order(13)).await.unwrap();
        assert_eq!(
            receipt,
            Receipt("Some(\"text 13\") Some(\"image\") failed: NodeFailed None".into())
        );
    })
    .await;
}

// Ordering without data: `finish` runs after the effect-only nodes, on Temporal as in
// process.
static EFFECTS: AtomicU32 = AtomicU32::new(0);

#[node]
async fn email(_o: &Order) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    EFFECTS.fetch_add(1, Ordering::SeqCst);
}
#[node]
async fn log_audit(_o: &Order) -> Result<(), std::io::Error> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    EFFECTS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}
/// How many effects had ended when `finish` started.
static SEEN: AtomicU32 = AtomicU32::new(0);

#[node(after(email, log_audit))]
async fn finish(o: &Order) -> Receipt {
    SEEN.store(EFFECTS.load(Ordering::SeqCst), Ordering::SeqCst);
    Receipt(format!("order {}", o.0))
}

#[workflow(email, log_audit, finish, durable)]
pub async fn notify(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_edges_hold_on_temporal() {
    let client = server::client().await;
    let queue = server::queue("notify");
    let worker = Worker::new(&client, &queue).register::<notify>();
    server::serve(worker, Duration::from_secs(60), async {
        let before = EFFECTS.load(Ordering::SeqCst);
        let receipt = client
            .execute::<notify>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-1")),
                (Order(7),),
            )
            .await
            .unwrap();
        assert_eq!(receipt, Receipt("order 7".into()));
        // `finish` started once both effects had ended.
        assert_eq!(SEEN.load(Ordering::SeqCst), before + 2);
        assert_eq!(EFFECTS.load(Ordering::SeqCst), before + 2);
    })
    .await;
}

// Tolerated failures as data: a tolerant collect, a tolerant race, a conditional tolerated
// producer; each consumer runs on a worker and gets the failures as in process.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Hit(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Key(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Row(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Digest(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Fallback(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Lookup(pub String);

fn source(o: &Order, name: &str, fails_when: u32) -> Result<Hit, std::io::Error> {
    if o.0.is_multiple_of(fails_when) {
        Err(std::io::Error::other(format!("{name} is down")))
    } else {
        Ok(Hit(name.to_owned()))
    }
}
#[node(continue_on_error)]
async fn src_web(o: &Order) -> Result<Hit, std::io::Error> {
    source(o, "web", 2)
}
#[node(continue_on_error)]
async fn src_news(o: &Order) -> Result<Hit, std::io::Error> {
    source(o, "news", 3)
}
#[node]
async fn digest(hits: &[Result<Hit, flow_runtime::NodeError>]) -> Digest {
    Digest(
        hits.iter()
            .map(|h| match h {
                Ok(h) => h.0.clone(),
                Err(e) => format!("{}!", e.node_name().unwrap_or("?")),
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}
#[node]
async fn quote_a(o: &Order) -> Result<Price, std::io::Error> {
    // Fails at once for 6, where `quote_b` wins later.
    if o.0.is_multiple_of(5) || o.0 == 6 {
        Err(std::io::Error::other("a"))
    } else {
        Ok(Price(o.0))
    }
}
#[node]
async fn quote_b(o: &Order) -> Result<Price, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    if o.0.is_multiple_of(5) {
        Err(std::io::Error::other("b"))
    } else {
        Ok(Price(o.0))
    }
}
#[node]
async fn fallback(p: Result<&Price, &flow_runtime::NodeError>) -> Fallback {
    Fallback(match p {
        Ok(p) => p.0.to_string(),
        Err(e) => format!("{:?}", e.kind()),
    })
}
#[node]
async fn pick_key(o: &Order) -> Option<Key> {
    (!o.0.is_multiple_of(7)).then_some(Key(o.0))
}
#[node(continue_on_error)]
async fn load_row(k: &Key) -> Result<Row, std::io::Error> {
    if k.0.is_multiple_of(4) {
        Err(std::io::Error::other("no row"))
    } else {
        Ok(Row(k.0))
    }
}
#[node]
async fn lookup(row: Option<Result<&Row, &flow_runtime::NodeError>>) -> Lookup {
    Lookup(match row {
        None => "skipped".into(),
        Some(Err(e)) => format!("{:?}", e.kind()),
        Some(Ok(r)) => r.0.to_string(),
    })
}
#[node]
async fn tolerated_report(d: &Digest, f: &Fallback, l: &Lookup) -> Receipt {
    Receipt(format!("{} | {} | {}", d.0, f.0, l.0))
}

#[workflow(
    src_web,
    src_news,
    digest,
    race(quote_a, quote_b, continue_on_error),
    fallback,
    pick_key,
    load_row,
    lookup,
    tolerated_report,
    durable
)]
pub async fn tolerated(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tolerated_failures_are_data_on_temporal_as_in_process() {
    let client = server::client().await;
    let queue = server::queue("tolerated");
    let worker = Worker::new(&client, &queue).register::<tolerated>();
    server::serve(worker, Duration::from_secs(60), async {
        for n in [1, 6, 35, 28] {
            let on_temporal = client
                .execute::<tolerated>(
                    &queue,
                    RunOptions::new().run_id(format!("{queue}-{n}")),
                    (Order(n),),
                )
                .await
                .unwrap();
            assert_eq!(on_temporal, tolerated(Order(n)).await.unwrap(), "order {n}");
        }
        assert_eq!(
            tolerated(Order(6)).await.unwrap(),
            Receipt("src_web! src_news! | 6 | 6".into())
        );
        assert_eq!(
            tolerated(Order(35)).await.unwrap(),
            Receipt("web news | RaceFailed | skipped".into())
        );
        assert_eq!(
            tolerated(Order(28)).await.unwrap(),
            Receipt("src_web! news | 28 | skipped".into())
        );
        assert_eq!(
            tolerated(Order(4)).await.unwrap(),
            Receipt("src_web! news | 4 | NodeFailed".into())
        );
    })
    .await;
}

// Workflow-wide defaults on a worker: a default retry policy and a default
// `continue_on_error`.
static SHAKY: AtomicU32 = AtomicU32::new(0);

#[node]
async fn shaky(o: &Order) -> Result<Price, std::io::Error> {
    // Fails every other attempt: the default retry policy gets it through.
    if SHAKY.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
        return Err(std::io::Error::other("shaky"));
    }
    Ok(Price(o.0))
}
#[node]
async fn optional_extra(o: &Order) -> Result<Stock, std::io::Error> {
    if o.0 > 100 {
        return Err(std::io::Error::other("too big"));
    }
    Ok(Stock(1))
}
#[node]
async fn defaulted_receipt(p: &Price, s: Option<&Stock>) -> Receipt {
    Receipt(format!("{} {:?}", p.0, s.map(|s| s.0)))
}

#[workflow(
    shaky,
    optional_extra,
    defaulted_receipt,
    durable,
    defaults(retry(max_attempts = 2, initial = "10ms"), continue_on_error)
)]
pub async fn with_defaults(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_defaults_apply_on_temporal() {
    let client = server::client().await;
    let queue = server::queue("defaults");
    let worker = Worker::new(&client, &queue).register::<with_defaults>();
    server::serve(worker, Duration::from_secs(60), async {
        for n in [5, 500] {
            let before = SHAKY.load(Ordering::SeqCst);
            let receipt = client
                .execute::<with_defaults>(
                    &queue,
                    RunOptions::new().run_id(format!("{queue}-{n}")),
                    (Order(n),),
                )
                .await
                .unwrap();
            let expected = if n > 100 {
                "None".to_owned()
            } else {
                "Some(1)".to_owned()
            };
            assert_eq!(receipt, Receipt(format!("{n} {expected}")));
            // `shaky` failed once and was retried by the default policy.
            assert_eq!(SHAKY.load(Ordering::SeqCst) - before, 2);
        }
    })
    .await;
}

// Limits chosen at run time on Temporal: a map's concurrency from an input (recorded with
// the run, so replay agrees), and a worker's named limiters.
static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);
static PEAK: AtomicU32 = AtomicU32::new(0);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Part(pub u32);

#[node]
async fn split_parts(o: &Order) -> Vec<Part> {
    (0..o.0).map(Part).collect()
}
#[node(limit = "db")]
async fn save_part(p: &Part) -> Price {
    let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    Price(p.0)
}
#[node]
async fn sum_parts(all: &[Price]) -> Receipt {
    Receipt(all.iter().map(|p| p.0).sum::<u32>().to_string())
}

#[workflow(split_parts, map(save_part, concurrency = workers), sum_parts, durable)]
pub async fn save_all(o: Order, workers: std::num::NonZeroUsize) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_chosen_at_run_time_hold_on_temporal() {
    let client = server::client().await;
    let queue = server::queue("limits");
    let worker = Worker::new(&client, &queue)
        .register::<save_all>()
        .limiters(
            flow_runtime::Limiters::new().limit("db", flow_runtime::ConcurrencyLimit::new(3)),
        );
    server::serve(worker, Duration::from_secs(60), async {
        let four = std::num::NonZeroUsize::new(4).unwrap();
        let receipt = client
            .execute::<save_all>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-1")),
                (Order(8), four),
            )
            .await
            .unwrap();
        assert_eq!(receipt, Receipt("28".into()));
        // The input allows 4 at once; the worker's limiter 3.
        assert_eq!(PEAK.load(Ordering::SeqCst), 3);
        PEAK.store(0, Ordering::SeqCst);
        let two = std::num::NonZeroUsize::new(2).unwrap();
        client
            .execute::<save_all>(
                &queue,
                RunOptions::new().run_id(format!("{queue}-2")),
                (Order(6), two),
            )
            .await
            .unwrap();
        assert_eq!(PEAK.load(Ordering::SeqCst), 2);
    })
    .await;
}

// A sub-workflow returning a tuple with an `Option` element: its child run on Temporal
// writes `Some` of a unit value so that the parent reads `Some`.
#[node]
async fn pair_of(o: &Order) -> (Price, Option<ToImage>) {
    (Price(o.0), (o.0 > 1).then_some(ToImage))
}
#[workflow(pair_of, durable)]
pub async fn pair_child(o: &Order) -> (Price, Option<ToImage>);

#[node]
async fn pair_receipt(p: &Price, image: Option<&ToImage>) -> Receipt {
    Receipt(format!("{} {}", p.0, image.is_some()))
}
#[workflow(pair_child, pair_receipt, durable)]
pub async fn pair_parent(o: Order) -> Receipt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_workflows_tuple_output_reads_back_whole_on_temporal() {
    let client = server::client().await;
    let queue = server::queue("pairs");
    let worker = Worker::new(&client, &queue).register::<pair_parent>();
    server::serve(worker, Duration::from_secs(60), async {
        for (n, expected) in [(5, "5 true"), (1, "1 false")] {
            let receipt = client
                .execute::<pair_parent>(
                    &queue,
                    RunOptions::new().run_id(format!("{queue}-{n}")),
                    (Order(n),),
                )
                .await
                .unwrap();
            assert_eq!(receipt, Receipt(expected.into()));
        }
    })
    .await;
}
