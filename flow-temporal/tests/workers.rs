//! Workers in several processes: a worker killed with SIGKILL in the middle of a run whose
//! run another worker finishes (completed nodes not run again, the node in flight taken over
//! within seconds), two workers sharing a queue, and a deploy that reorders a workflow's
//! list under a run in flight.

mod server;

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use flow_runtime::{RunOptions, node, workflow};
use flow_temporal::Worker;
use serde::{Deserialize, Serialize};

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Where the nodes write what they do (each test's nodes their own lines): this process's
/// directory, or the one its parent gave it.
fn dir() -> PathBuf {
    DIR.get_or_init(|| {
        let dir = std::env::var("FLOW_CHILD_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                std::env::temp_dir().join(format!("flow-temporal-workers-{}", std::process::id()))
            });
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
    .clone()
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn note(what: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir().join("log"))
        .unwrap();
    writeln!(f, "{what} {} {}", std::process::id(), now_ms()).unwrap();
}

/// `(what, pid, ms)` for each line written.
fn notes(dir: &std::path::Path) -> Vec<(String, u32, u128)> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.rsplitn(3, ' ');
            let ms = parts.next()?.parse().ok()?;
            let pid = parts.next()?.parse().ok()?;
            Some((parts.next()?.to_owned(), pid, ms))
        })
        .collect()
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Job(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct A(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct B(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct C(pub u32);

#[node]
async fn step_a(j: &Job) -> A {
    note("a start");
    note("a end");
    A(j.0 + 1)
}

#[node]
async fn step_b(a: &A) -> B {
    note("b start");
    tokio::time::sleep(Duration::from_secs(4)).await;
    note("b end");
    B(a.0 * 10)
}

#[node]
async fn step_c(b: &B) -> C {
    note("c start");
    C(b.0 + 5)
}

#[workflow(step_a, step_b, step_c, durable)]
pub async fn killed(j: Job) -> C;

fn worker(client: &flow_temporal::Client, queue: &str) -> Worker {
    Worker::new(client, queue)
        .heartbeat_timeout(Duration::from_secs(2))
        .register::<killed>()
}

/// A worker process, spawned by the tests below: `FLOW_CHILD_WORKFLOWS` says which
/// workflows it registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process the tests spawn"]
async fn child_worker() {
    let Ok(queue) = std::env::var("FLOW_CHILD_QUEUE") else {
        return;
    };
    let client = server::client().await;
    let worker = match std::env::var("FLOW_CHILD_WORKFLOWS").as_deref() {
        Ok("spread") => spread_worker(&client, &queue),
        Ok("deploy_v1") => Worker::new(&client, &queue)
            .heartbeat_timeout(Duration::from_secs(2))
            .register::<deploy_v1>(),
        Ok("retried") => Worker::new(&client, &queue)
            .heartbeat_timeout(Duration::from_secs(2))
            .register::<retried>(),
        Ok("grow_v1") => Worker::new(&client, &queue)
            .heartbeat_timeout(Duration::from_secs(2))
            .register::<grow_v1>(),
        _ => worker(&client, &queue),
    };
    worker.run().await.unwrap();
}

/// A child worker process on `queue` registering `workflows`, writing to `dir`.
fn spawn_child(queue: &str, dir: &std::path::Path, workflows: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_worker", "--ignored", "--nocapture"])
        .env("FLOW_CHILD_QUEUE", queue)
        .env("FLOW_CHILD_DIR", dir)
        .env("FLOW_CHILD_WORKFLOWS", workflows)
        .env("FLOW_TEMPORAL_ADDRESS", server::address())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_for(dir: &std::path::Path, what: &str, pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !notes(dir).iter().any(|(w, p, _)| w == what && *p == pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "`{what}` never happened in {pid}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_run_is_finished_by_another_without_redoing_work() {
    let client = server::client().await;
    let queue = server::queue("killed");
    let dir = dir();
    let mut child = spawn_child(&queue, &dir, "killed");
    let child_pid = child.id();
    let handle = client
        .start::<killed>(
            &queue,
            RunOptions::new().run_id(format!("{queue}-run")),
            (Job(1),),
        )
        .await
        .unwrap();
    // Kill the worker while `step_b` runs on it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !notes(&dir)
        .iter()
        .any(|(w, pid, _)| w == "b start" && *pid == child_pid)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started step_b"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = now_ms();

    let worker = worker(&client, &queue);
    let out = server::serve(worker, Duration::from_secs(90), async {
        handle.result().await
    })
    .await;
    assert_eq!(out.unwrap(), C(25));

    let lines = notes(&dir);
    let me = std::process::id();
    let count = |what: &str, pid: u32| {
        lines
            .iter()
            .filter(|(w, p, _)| w == what && *p == pid)
            .count()
    };
    // What completed on the killed worker did not run again.
    assert_eq!(count("a start", child_pid), 1, "{lines:?}");
    assert_eq!(count("a start", me), 0, "{lines:?}");
    // The node in flight ran again here, taken over within seconds of the kill.
    assert_eq!(count("b start", child_pid), 1, "{lines:?}");
    assert_eq!(count("b end", child_pid), 0, "{lines:?}");
    assert_eq!(count("b start", me), 1, "{lines:?}");
    assert_eq!(count("c start", me), 1, "{lines:?}");
    let restarted = lines
        .iter()
        .find(|(w, p, _)| w == "b start" && *p == me)
        .unwrap()
        .2;
    assert!(
        restarted - killed_at < 10_000,
        "step_b restarted {} ms after the kill",
        restarted - killed_at
    );
}

// ---- two workers share a queue

#[node]
async fn parts(j: &Job) -> Vec<u32> {
    (0..8).map(|i| i + j.0).collect()
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Doubled(pub u32);

#[node]
async fn part(x: &u32) -> Doubled {
    note(&format!("part {x}"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    Doubled(x * 2)
}

#[node]
async fn total(v: &[Doubled]) -> C {
    C(v.iter().map(|d| d.0).sum())
}

#[workflow(parts, map(part, concurrency = 8), total, durable)]
pub async fn spread(j: Job) -> C;

fn spread_worker(client: &flow_temporal::Client, queue: &str) -> Worker {
    Worker::new(client, queue)
        .max_concurrent_nodes(2)
        .register::<spread>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_queue() {
    let client = server::client().await;
    let queue = server::queue("spread");
    let dir = dir();
    let mut child = spawn_child(&queue, &dir, "spread");
    let worker = spread_worker(&client, &queue);
    let stop = worker.shutdown_handle();
    let run = async {
        let out = client
            .execute::<spread>(&queue, RunOptions::new(), (Job(1),))
            .await;
        stop.shutdown();
        out
    };
    let (ran, out) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(90), worker.run()),
        run
    );
    child.kill().unwrap();
    child.wait().unwrap();
    ran.expect("the worker stops when asked").unwrap();
    assert_eq!(out.unwrap(), C((1..=8).map(|x| x * 2).sum()));
    let me = std::process::id();
    let child_pid = child.id();
    let lines: Vec<_> = notes(&dir)
        .into_iter()
        .filter(|(w, p, _)| w.starts_with("part ") && (*p == me || *p == child_pid))
        .collect();
    // Each element ran once, and both workers ran some (each takes two at a time).
    assert_eq!(lines.len(), 8, "{lines:?}");
    let here = lines.iter().filter(|(_, p, _)| *p == me).count();
    assert!(
        here > 0 && here < 8,
        "{here} of 8 elements ran here: {lines:?}"
    );
}

// ---- a deploy that reorders the workflow's list, under a run in flight

#[node]
async fn d_first(j: &Job) -> A {
    note("d_first");
    A(j.0)
}

#[node]
async fn d_second(j: &Job) -> B {
    note("d_second start");
    tokio::time::sleep(Duration::from_secs(3)).await;
    B(j.0 * 2)
}

#[node]
async fn d_join(a: &A, b: &B) -> C {
    note("d_join");
    C(a.0 + b.0)
}

#[workflow(d_first, d_second, d_join, name = "deploy", durable)]
pub async fn deploy_v1(j: Job) -> C;

/// The same workflow after a deploy that reordered its list.
#[workflow(d_second, d_join, d_first, name = "deploy", durable)]
pub async fn deploy_v2(j: Job) -> C;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reordered_list_replays_the_runs_in_flight() {
    let client = server::client().await;
    let queue = server::queue("deploy");
    let dir = dir();
    let mut child = spawn_child(&queue, &dir, "deploy_v1");
    let child_pid = child.id();
    let handle = client
        .start::<deploy_v1>(
            &queue,
            RunOptions::new().run_id(format!("{queue}-run")),
            (Job(7),),
        )
        .await
        .unwrap();
    wait_for(&dir, "d_second start", child_pid).await;
    wait_for(&dir, "d_first", child_pid).await;
    // Time for `d_first`'s completion to reach the server.
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    // The new version replays the run's history, and finishes it.
    let worker = Worker::new(&client, &queue)
        .heartbeat_timeout(Duration::from_secs(2))
        .register::<deploy_v2>();
    let out = server::serve(worker, Duration::from_secs(90), async {
        handle.result().await
    })
    .await;
    assert_eq!(out.unwrap(), C(7 + 14));
    // This test's processes only (the directory is shared with the other tests).
    let me = std::process::id();
    let lines: Vec<_> = notes(&dir)
        .into_iter()
        .filter(|(_, p, _)| *p == me || *p == child_pid)
        .collect();
    let count = |what: &str| lines.iter().filter(|(w, _, _)| w == what).count();
    assert_eq!(count("d_first"), 1, "{lines:?}");
    assert_eq!(count("d_join"), 1, "{lines:?}");
}

// ---- a deploy that adds nodes, under a run in flight

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Audit(pub u32);

#[node]
async fn d_audit(a: &A) -> Audit {
    note("d_audit");
    tokio::time::sleep(Duration::from_secs(1)).await;
    Audit(a.0 * 100)
}

#[node]
async fn d_join_audited(a: &A, b: &B, audit: &Audit) -> C {
    note("d_join_audited");
    C(a.0 + b.0 + audit.0)
}

#[node]
async fn g_slow(a: &A) -> B {
    note("g_slow start");
    tokio::time::sleep(Duration::from_secs(3)).await;
    B(a.0 * 2)
}

#[node]
async fn g_end(b: &B) -> C {
    note("g_end");
    C(b.0)
}

#[workflow(d_first, g_slow, g_end, name = "grow", durable)]
pub async fn grow_v1(j: Job) -> C;

/// The workflow after a deploy that added a node beside `g_slow` (scheduled before it, in
/// the canonical order) and a new final node.
#[workflow(d_first, d_audit, g_slow, d_join_audited, name = "grow", durable)]
pub async fn grow_v2(j: Job) -> C;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_adds_nodes_replays_the_runs_in_flight() {
    // The worker's warnings, to check the one about the node the deploy removed.
    let warnings = Warnings::default();
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(warnings.clone())
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .finish(),
    );
    let client = server::client().await;
    let queue = server::queue("deploy-add");
    let dir = dir();
    let mut child = spawn_child(&queue, &dir, "grow_v1");
    let child_pid = child.id();
    let handle = client
        .start::<grow_v1>(
            &queue,
            RunOptions::new().run_id(format!("{queue}-run")),
            (Job(7),),
        )
        .await
        .unwrap();
    wait_for(&dir, "g_slow start", child_pid).await;
    // Time for `d_first`'s completion to reach the server, and its task to complete.
    tokio::time::sleep(Duration::from_millis(800)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    // The new version replays the history the old one wrote (where `d_first` had
    // completed and `g_slow` was scheduled), then runs the added nodes; it stops while
    // `d_audit` runs.
    let run = |client: &flow_temporal::Client| {
        Worker::new(client, &queue)
            .heartbeat_timeout(Duration::from_secs(2))
            .register::<grow_v2>()
    };
    let worker = run(&client);
    let stop = worker.shutdown_handle();
    let me = std::process::id();
    let stop_at_audit = async {
        wait_for(&dir, "d_audit", me).await;
        stop.shutdown();
    };
    let (ran, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(90), worker.run()),
        stop_at_audit
    );
    ran.expect("the worker stops when asked").unwrap();

    // A fresh worker of the new version replays that history too (a patch marker says
    // where the added node was scheduled), and finishes the run.
    let worker = run(&client);
    let out = server::serve(worker, Duration::from_secs(90), async {
        handle.result().await
    })
    .await;
    assert_eq!(out.unwrap(), C(7 + 14 + 700));
    let lines: Vec<_> = notes(&dir)
        .into_iter()
        .filter(|(_, p, _)| *p == me || *p == child_pid)
        .collect();
    let count = |what: &str| lines.iter().filter(|(w, _, _)| w == what).count();
    assert_eq!(count("d_first"), 1, "{lines:?}");
    assert_eq!(count("d_audit"), 1, "{lines:?}");
    assert_eq!(count("d_join_audited"), 1, "{lines:?}");
    // `g_end` is gone from the new version: the worker said so, naming it.
    let text = warnings.text();
    assert!(
        text.contains(&format!(
            "run `{queue}-run` of workflow `grow` started with node `g_end`, but this version does not have it"
        )),
        "{text}"
    );
    assert!(!text.contains("node `g_slow`"), "{text}");
}

/// What a test's log subscriber wrote.
#[derive(Clone, Default)]
struct Warnings(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Warnings {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Warnings {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Warnings {
    type Writer = Warnings;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// ---- a worker lost during a node's retries: the next worker goes on from that attempt

static TRIES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Fails every attempt; in the child worker, its third attempt hangs until the child is
/// killed.
#[node(retry(max_attempts = 4, initial = "10ms"))]
async fn r_step(j: &Job) -> Result<A, std::io::Error> {
    let n = TRIES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    note("try");
    if std::env::var("FLOW_CHILD_QUEUE").is_ok() && n == 3 {
        note("hangs");
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    Err(std::io::Error::other(format!("no luck for job {}", j.0)))
}

#[workflow(r_step, durable)]
pub async fn retried(j: Job) -> A;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_lost_during_retries_does_not_reset_the_nodes_attempts() {
    let client = server::client().await;
    let queue = server::queue("retried");
    let dir = dir();
    let mut child = spawn_child(&queue, &dir, "retried");
    let child_pid = child.id();
    let handle = client
        .start::<retried>(
            &queue,
            RunOptions::new().run_id(format!("{queue}-run")),
            (Job(5),),
        )
        .await
        .unwrap();
    wait_for(&dir, "hangs", child_pid).await;
    // A heartbeat reports the third attempt (heartbeats are throttled to 0.8 of the
    // heartbeat timeout).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let worker = Worker::new(&client, &queue)
        .heartbeat_timeout(Duration::from_secs(2))
        .register::<retried>();
    let out = server::serve(worker, Duration::from_secs(90), async {
        handle.result().await
    })
    .await;
    let err = out.unwrap_err();
    assert_eq!(err.kind(), flow_runtime::ErrorKind::NodeFailed);
    assert_eq!(err.node_name(), Some("r_step"));
    // Four attempts in all: three started on the lost worker, the third and fourth here.
    assert_eq!(err.attempts(), 4);
    let me = std::process::id();
    let lines = notes(&dir);
    let count = |pid: u32| {
        lines
            .iter()
            .filter(|(w, p, _)| w == "try" && *p == pid)
            .count()
    };
    assert_eq!(count(child_pid), 3, "{lines:?}");
    assert_eq!(count(me), 2, "{lines:?}");
}
