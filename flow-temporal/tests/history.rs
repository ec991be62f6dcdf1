//! Long runs on a real Temporal server: a run whose history grows long continues as new,
//! carrying what it has read, so that a 10 000-element map stays within the server's
//! history limits and no node runs twice.

mod server;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flow_runtime::{ErrorKind, RunOptions, node, workflow};
use flow_temporal::{Client, Worker};
use serde::{Deserialize, Serialize};

/// How many executions the run `id` has had (1 if it never continued as new).
fn executions(address: &str, id: &str) -> u32 {
    let out = std::process::Command::new("temporal")
        .args(["workflow", "count", "--address", address, "--query"])
        .arg(format!("WorkflowId = '{id}'"))
        .output()
        .expect("the `temporal` CLI runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .next()
        .unwrap_or_else(|| panic!("`temporal workflow count` printed {text:?}"))
}

/// A server that suggests continuing as new after 40 events: runs on it do, many times.
fn short_history() -> &'static str {
    static ADDRESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ADDRESS.get_or_init(|| {
        server::spawn(
            "short-history",
            "--dynamic-config-value limit.historyCount.suggestContinueAsNew=40",
        )
    })
}

// ---- 10 000 elements

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Size(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Total(pub u64);

static ENRICHED: AtomicU32 = AtomicU32::new(0);

#[node]
async fn elements(s: &Size) -> Vec<u32> {
    (0..s.0).collect()
}

#[node]
async fn enrich(x: &u32) -> u64 {
    ENRICHED.fetch_add(1, Ordering::SeqCst);
    u64::from(*x) * 2
}

#[node]
async fn total(xs: &[u64]) -> Total {
    Total(xs.iter().sum())
}

#[workflow(elements, map(enrich, concurrency = 100), total, durable)]
pub async fn wide(s: Size) -> Total;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_000_element_map_runs_within_the_history_limits() {
    let client = server::client().await;
    let queue = server::queue("wide");
    let worker = Worker::new(&client, &queue).register::<wide>();
    let id = format!("{queue}-run");
    let out = server::serve(worker, Duration::from_secs(600), async {
        client
            .execute::<wide>(
                &queue,
                RunOptions::new().run_id(id.clone()),
                (Size(10_000),),
            )
            .await
            .unwrap()
    })
    .await;
    assert_eq!(out, Total(10_000 * 9_999));
    // Every element ran once, in executions whose histories stayed short.
    assert_eq!(ENRICHED.load(Ordering::SeqCst), 10_000);
    assert!(executions(server::address(), &id) > 1);
}

// ---- a run that continues as new many times reads what it had read, in the same order

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log(line: impl Into<String>) {
    LOG.lock().unwrap().push(line.into());
}

fn count(prefix: &str) -> usize {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(prefix))
        .count()
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Order(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Seat(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Room(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Quote(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Note(pub String);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Level(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Report(pub String);

/// Ends after `room` (started at the same time): compensated first.
#[node(compensate = free_seat)]
async fn seat(o: &Order) -> Seat {
    tokio::time::sleep(Duration::from_millis(600)).await;
    log("seat");
    Seat(o.0)
}

async fn free_seat(s: &Seat) -> Result<(), std::io::Error> {
    log(format!("free seat {}", s.0));
    Ok(())
}

#[node(compensate = free_room)]
async fn room(o: &Order) -> Room {
    log("room");
    Room(o.0)
}

async fn free_room(r: &Room) -> Result<(), std::io::Error> {
    log(format!("free room {}", r.0));
    Ok(())
}

#[node]
async fn parts(o: &Order) -> Vec<u32> {
    (1..=o.0).collect()
}

#[node]
async fn cube(x: &u32) -> u64 {
    log("cube");
    u64::from(*x).pow(3)
}

#[node]
async fn quick(_s: &Seat) -> Result<Quote, std::io::Error> {
    log("quick");
    Ok(Quote("quick".into()))
}

#[node]
async fn lazy(_s: &Seat) -> Result<Quote, std::io::Error> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    log("lazy finished");
    Ok(Quote("lazy".into()))
}

#[node(continue_on_error)]
async fn flaky(_o: &Order) -> Result<Note, std::io::Error> {
    log("flaky");
    Err(std::io::Error::other("no note today"))
}

#[node]
async fn level(o: &Order) -> Level {
    log("level");
    Level(o.0 + 1)
}

#[workflow(level, durable)]
pub async fn levels(o: Order) -> Level;

#[node]
async fn report(
    cubes: &[u64],
    q: &Quote,
    note: Result<&Note, &flow_runtime::NodeError>,
    l: &Level,
    _r: &Room,
) -> Result<Report, std::io::Error> {
    log("report");
    if l.0 > 100 {
        return Err(std::io::Error::other("too high"));
    }
    Ok(Report(format!(
        "cubes {} quote {} note {} level {}",
        cubes.iter().sum::<u64>(),
        q.0,
        note.map_or_else(|e| format!("failed ({e})"), |n| n.0.clone()),
        l.0
    )))
}

#[workflow(
    seat,
    room,
    parts,
    map(cube, concurrency = 3),
    race(quick, lazy),
    flaky,
    levels,
    report,
    durable
)]
pub async fn booking(o: Order) -> Report;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_continues_as_new_reads_what_it_read_in_the_same_order() {
    let address = short_history();
    let client: Client = server::client_of(address).await;
    let queue = server::queue("booking");
    let worker = Worker::new(&client, &queue).register::<booking>();
    server::serve(worker, Duration::from_secs(300), async {
        let local = booking(Order(30)).await.unwrap();
        assert_eq!(
            local,
            Report("cubes 216225 quote quick note failed (node `flaky` of workflow `booking` failed) level 31".into())
        );
        LOG.lock().unwrap().clear();
        let id = format!("{queue}-ok");
        let remote = client
            .execute::<booking>(&queue, RunOptions::new().run_id(id.clone()), (Order(30),))
            .await
            .unwrap();
        assert_eq!(remote, local);
        assert!(executions(address, &id) > 3, "{}", executions(address, &id));
        // Nothing ran twice.
        assert_eq!(count("cube"), 30);
        for node in ["seat", "room", "quick", "flaky", "level", "report"] {
            assert_eq!(count(node), 1, "{node}: {:?}", LOG.lock().unwrap());
        }
        assert_eq!(count("lazy finished"), 0);

        // The last node fails after many executions: compensation in reverse completion
        // order (the seat was taken after the room), each once.
        LOG.lock().unwrap().clear();
        let id = format!("{queue}-fails");
        let err = client
            .execute::<booking>(&queue, RunOptions::new().run_id(id.clone()), (Order(100),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NodeFailed);
        assert_eq!(err.node_name(), Some("report"));
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "too high"
        );
        assert!(executions(address, &id) > 3);
        let lines = LOG.lock().unwrap().clone();
        let freed: Vec<&String> = lines.iter().filter(|l| l.starts_with("free")).collect();
        assert_eq!(freed, ["free seat 100", "free room 100"], "{lines:?}");
        assert_eq!(count("cube"), 100);
    })
    .await;
}

// ---- a run whose answers are too large to carry goes on in its execution; inputs over
// ---- the payload limit fail their node at once

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Pages(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Length(pub usize);

#[node]
async fn pages(p: &Pages) -> Vec<u32> {
    (0..p.0).collect()
}

/// 200 KB of text per page.
#[node]
async fn render(x: &u32) -> String {
    let mut page = x.to_string();
    page.extend(std::iter::repeat_n('.', 200_000 - page.len()));
    page
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PageLength(pub usize);

/// Each page's length (its input is one page; a mapped node takes `&T` of its `Vec<T>`).
#[allow(clippy::ptr_arg)]
#[node]
async fn measure(page: &String) -> PageLength {
    PageLength(page.len())
}

#[node]
async fn length(lengths: &[PageLength]) -> Length {
    Length(lengths.iter().map(|l| l.0).sum())
}

#[workflow(pages, map(render, concurrency = 2), map(measure), length, durable)]
pub async fn book(p: Pages) -> Length;

/// Every page at once.
#[node]
async fn total_length(pages: &[String]) -> Length {
    Length(pages.iter().map(String::len).sum())
}

#[workflow(pages, map(render, concurrency = 2), total_length, durable)]
pub async fn whole_book(p: Pages) -> Length;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_more_answers_than_a_payload_holds_goes_on_in_its_execution() {
    let address = short_history();
    let client: Client = server::client_of(address).await;
    let queue = server::queue("book");
    let worker = Worker::new(&client, &queue)
        .register::<book>()
        .register::<whole_book>();
    let id = format!("{queue}-run");
    let out = server::serve(worker, Duration::from_secs(120), async {
        // 16 pages of 200 KB: 3.2 MB of answers, more than one payload carries.
        let out = client
            .execute::<book>(&queue, RunOptions::new().run_id(id.clone()), (Pages(16),))
            .await;
        // 16 pages as one node's input: more than a node call takes.
        let started = std::time::Instant::now();
        let err = client
            .execute::<whole_book>(&queue, RunOptions::new(), (Pages(16),))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InputTooLarge);
        assert_eq!(err.node_name(), Some("total_length"));
        assert!(started.elapsed() < Duration::from_secs(30));
        out
    })
    .await;
    assert_eq!(out.unwrap(), Length(16 * 200_000));
}
